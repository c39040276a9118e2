"""SVFRDownloadModels: fetch the SVFR model files models/svfr is missing, from the page, once the user
accepts their licences (off by default). Bytes on ComfyUI's progress bar; Cancel stops it (the part stays
out of place, the next run resumes). The work is svfr_model.weights.download, as for the command line."""
from __future__ import annotations

from pathlib import Path, PurePath

from comfy_api.v0_0_2 import io

from . import host
from .types import CATEGORY
from .wording import speaks_widgets

DETECTORS = {"retinaface (embedded)": "retinaface", "yoloface": "yoloface"}


def _licences() -> str:
    from svfr_model.weights.sources import load_sources

    table = load_sources()
    return "; ".join(f"{lic.name} ({lic.url})" for lic in table.licences.values())


def destination(folder: str) -> Path:
    """``folder`` under the first models/svfr path ('.' = that folder itself); never outside it."""
    from svfr_model.errors import InputError

    folder = (folder or ".").strip()
    rel = PurePath(folder)
    if rel.is_absolute() or ".." in rel.parts or rel.drive:
        raise InputError(f"folder {folder!r} must be a sub-folder name of models/svfr (or '.'), not a path")
    return Path(host.svfr_paths()[0]) / rel


class SVFRDownloadModels(io.ComfyNode):
    @classmethod
    def define_schema(cls) -> io.Schema:
        return io.Schema(
            node_id="SVFRDownloadModels",
            display_name="SVFR Download Models",
            category=CATEGORY,
            is_output_node=True,
            description=(
                "Fetches the SVFR model files missing from models/svfr (UNet 3 GB, id_linear, ArcFace, SVD-xt VAE "
                "+ configs; yoloface on request) from Hugging Face, resumably, each file checked (size, "
                "SHA-256, keys) before it is put in place. Runs only with accept_licence on. HF_TOKEN, "
                "HF_ENDPOINT, HF_HUB_OFFLINE and proxies of the ComfyUI process apply. Then press 'r' so "
                "SVFR Model Loader lists the folder."
            ),
            inputs=[
                io.Boolean.Input(
                    "accept_licence", default=False, label_on="accepted", label_off="not accepted",
                    tooltip="Turn on to accept the licences of the files and download them: " + _licences()
                            + ". Nothing is downloaded while this is off.",
                ),
                io.String.Input(
                    "folder", default=host.ROOT_CHOICE,
                    tooltip="Where under models/svfr: '.' = models/svfr itself (what the loader's '.' reads), "
                            "or a sub-folder name. Files already there (any layout, .safetensors twins) are kept.",
                ),
                io.Combo.Input(
                    "detector", options=list(DETECTORS), default="retinaface (embedded)",
                    tooltip="yoloface also fetches face_align/yoloface_v5m.pt (SVFR's own detector); "
                            "the embedded RetinaFace needs no file.",
                ),
                io.Boolean.Input(
                    "svd_vae", default=True,
                    tooltip="Fetch the SVD-xt VAE (196 MB). Off when you connect the VAE of ComfyUI's "
                            "svd_xt.safetensors to SVFR Model Loader instead.",
                ),
                io.Boolean.Input(
                    "safetensors", default=False, optional=True,
                    tooltip="Also write .safetensors twins of the SVFR .pth files (the loader prefers them; "
                            "needs their size again on disk).",
                ),
            ],
            outputs=[io.String.Output("report", display_name="report",
                                      tooltip="What was fetched and what was already there.")],
        )

    @classmethod
    def fingerprint_inputs(cls, accept_licence: bool, folder: str = host.ROOT_CHOICE,
                           detector: str = "retinaface (embedded)", svd_vae: bool = True,
                           safetensors: bool = False):
        """Runs again whenever the folder's files changed (a cached 'done' must not hide a deleted file)."""
        from svfr_model.weights.download import plan_download

        try:
            plan = plan_download(destination(folder), detector=DETECTORS.get(detector, "retinaface"), vae=svd_vae)
        except Exception:  # an invalid folder: let execute() word the error
            return None
        return (accept_licence, safetensors, tuple(str(p.found) for p in plan.files))

    @classmethod
    @speaks_widgets
    def execute(cls, accept_licence: bool, folder: str = host.ROOT_CHOICE, detector: str = "retinaface (embedded)",
                svd_vae: bool = True, safetensors: bool = False) -> io.NodeOutput:
        import comfy.utils
        from svfr_model.commands.download import write_safetensors_twins
        from svfr_model.errors import InputError
        from svfr_model.weights.download import download_models

        if detector not in DETECTORS:
            raise InputError(f"detector {detector!r}: one of {', '.join(DETECTORS)}")
        bar = comfy.utils.ProgressBar(1)
        lines: list[str] = []

        def say(msg: str) -> None:
            lines.append(msg)
            print(f"[SVFR download] {msg}")

        report = download_models(
            destination(folder), accept_licence=bool(accept_licence), detector=DETECTORS[detector], vae=svd_vae,
            safetensors=safetensors, progress=lambda done, total: bar.update_absolute(done, max(total, 1)),
            cancel=host.cancel_check, say=say,
        )
        if safetensors:
            write_safetensors_twins(report.pth_weights, say=say)
        text = report.summary()
        if report.fetched:
            text += "\nPress 'r' (refresh) so SVFR Model Loader lists the new files."
        return io.NodeOutput(text)
