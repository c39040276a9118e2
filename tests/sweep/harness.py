"""Run one sweep case through the real node classes (in-process, tiny models) and classify how it ended.

A node runs as ComfyUI runs it: ``validate_inputs`` first (with the inputs its signature names), then
``execute`` with every widget value; its output then feeds the node a user connects next (``FOLLOW``), so a
widget whose effect shows only downstream (a loader's precision, the task, a mask's space) is exercised.
Each run ends ``ok``, ``refused`` (an ``InputError``-family error or a validation message naming one of the
node's inputs, quoted) or ``FAILED`` (anything else: a bare torch/numpy/PyAV/ComfyUI exception, or a refusal
that names no input). Inputs come from the clip: IMAGE frames as ComfyUI's own Load Video gives them.
"""
from __future__ import annotations

import inspect
import os
import time
from contextlib import contextmanager
from dataclasses import dataclass, field

import torch

from .clips import reference_with_alpha
from .space import CHEAP, Case, cut_after

BFR, INPAINT = [1.0, 0.0, 0.0], [1.0, 0.0, 1.0]
# Nodes the sweep does not run, and why (the docs table lists them).
NOT_RUN = {"SVFRDownloadModels": "downloads from the network (its refusals: tests/nodes/test_model_download.py)"}


@dataclass
class Outcome:
    case: Case
    stage: str                 # "validate", "run", or the follow-up node's id
    kind: str                  # "ok", "refused", "FAILED", "skipped"
    message: str = ""
    seconds: float = 0.0
    notices: list = field(default_factory=list)
    cut: int | None = None     # cancelled on purpose at this cancel check (space.cut_after)


def names_an_input(message: str, node_class) -> bool:
    ids = [i.id for i in node_class.define_schema().inputs]
    return any(f"'{i}'" in message for i in ids)


def _refusal(exc: BaseException) -> bool:
    from svfr_model.errors import InputError, WeightsError

    return isinstance(exc, (InputError, WeightsError))


class Harness:
    def __init__(self, node_classes, model, detector, clips: dict, tmp):
        self.nodes, self.model, self.detector, self.clips, self.tmp = node_classes, model, detector, clips, tmp
        self._frames, self._crops = {}, {}

    # ---------------------------------------------------------------- inputs from a clip

    def frames(self, clip: str) -> torch.Tensor:
        """The clip as core Load Video -> Get Video Components gives it (ComfyUI's decoder)."""
        from comfy_api.latest import InputImpl

        if clip not in self._frames:
            self._frames[clip] = InputImpl.VideoFromFile(str(self.clips[clip].path)).get_components().images
        return self._frames[clip]

    def video(self, clip: str):
        from comfy_api.latest import InputImpl

        return InputImpl.VideoFromFile(str(self.clips[clip].path))

    def crops(self, clip: str):
        """Face Crop at its base values on the clip: (crops, record), or the refusal that stopped it."""
        if clip not in self._crops:
            try:
                crops, record, _ = self.nodes["SVFRFaceCrop"].execute(
                    images=self.frames(clip), detector=self.detector, mode="tracked", faces="all", index=0,
                    crop_size=CHEAP["crop_size"], if_no_face="error").result
                self._crops[clip] = (crops, record)
            except Exception as exc:  # noqa: BLE001 - reported by the Face Crop case of this clip
                self._crops[clip] = exc
        return self._crops[clip]

    def frame_mask(self, clip: str) -> torch.Tensor:
        """A mask drawn on the frames: the middle third (1 = fill)."""
        _, h, w, _ = self.frames(clip).shape
        mask = torch.zeros((1, h, w))
        mask[:, h // 3:2 * h // 3, w // 3:2 * w // 3] = 1.0
        return mask

    # ---------------------------------------------------------------- running

    def run(self, case: Case, extra: dict | None = None) -> list[Outcome]:
        """The case's node (validation, then execute), then the node fed by its output."""
        build = getattr(self, "_" + case.node_id)
        try:
            sockets, follow = build(case, **(extra or {}))
        except _Upstream as up:
            return [Outcome(case, "run", "skipped", f"upstream Face Crop: {up}")]
        node = self.nodes[case.node_id]
        done = [self._validate(case, node)]
        if done[0].kind != "ok":
            return done
        first, out = self._execute(case, node, {**sockets, **case.widgets}, "run")
        done = [first]
        if first.kind == "ok" and follow is not None:
            follow_id, kwargs = follow(out)
            nxt, result = self._execute(case, self.nodes[follow_id], kwargs, follow_id)
            done.append(nxt)
            self._cleanup(result)
        self._cleanup(out)
        return done

    def _validate(self, case: Case, node) -> Outcome:
        from comfy_api.internal import first_real_override

        fn = first_real_override(node, "validate_inputs")
        if fn is None:
            return Outcome(case, "validate", "ok")
        names = inspect.getfullargspec(fn).args
        ok = fn(**{k: v for k, v in case.widgets.items() if k in names})
        if ok is True:
            return Outcome(case, "validate", "ok")
        text = str(ok)
        return Outcome(case, "validate", "refused" if names_an_input(text, node) else "FAILED", text)

    def _execute(self, case: Case, node, kwargs: dict, stage: str):
        import comfy.model_management as mm

        start = time.perf_counter()
        cut = cut_after(kwargs) if stage == "run" else None
        try:
            with _cancel_after(cut):
                out = node.execute(**kwargs)
        except mm.InterruptProcessingException:
            if cut is None:
                raise
            return Outcome(case, stage, "ok", f"cancelled (as by Cancel) at cancel check {cut}, before a UNet call",
                           time.perf_counter() - start, cut=cut), None
        except Exception as exc:  # noqa: BLE001 - classified: a refusal naming an input, or a failure
            text = f"{type(exc).__name__}: {exc}"
            kind = "refused" if _refusal(exc) and names_an_input(str(exc), node) else "FAILED"
            return Outcome(case, stage, kind, text, time.perf_counter() - start), None
        if cut is not None:  # it was to be cancelled: a run that ends first had fewer steps than it says
            text = f"not cancelled after {cut} cancel checks: the run ended with fewer UNet calls than its steps"
            return Outcome(case, stage, "FAILED", text, time.perf_counter() - start), out
        ui = out.ui if isinstance(getattr(out, "ui", None), dict) else {}
        return Outcome(case, stage, "ok", "", time.perf_counter() - start, list(ui.get("svfr_notices", []))), out

    @staticmethod
    def _cleanup(out) -> None:
        """Restore Video writes into ComfyUI's temp folder: remove each output once classified."""
        for value in (getattr(out, "result", None) or ()):
            source = getattr(value, "get_stream_source", lambda: None)()
            if isinstance(source, str) and os.path.basename(source).startswith("svfr_restored_"):
                os.remove(source)

    # ---------------------------------------------------------------- per node: sockets and the follow-up

    def _upstream(self, clip: str):
        got = self.crops(clip)
        if isinstance(got, Exception):
            raise _Upstream(f"{type(got).__name__}: {got}")
        return got

    def _sampler_kwargs(self, clip: str, **changes) -> dict:
        crops, record = self._upstream(clip)
        return {"model": self.model, "crops": crops, "task": torch.tensor(BFR), "faces": record,
                "seed": 77, "guidance_min": 2.0, "guidance_max": 2.0, "noise_aug": 0.0, "i2i_strength": 1.0,
                "decode_chunk": 16, **{k: v for k, v in CHEAP.items() if k != "crop_size"}, **changes}

    def _SVFRModelLoader(self, case: Case):
        return {}, lambda out: ("SVFRSampler", self._sampler_kwargs(case.clip, model=out.result[0]))

    def _SVFRFaceDetectorLoader(self, case: Case):
        return {}, lambda out: ("SVFRFaceCrop", dict(images=self.frames(case.clip), detector=out.result[0],
                                                     mode="tracked", faces="all", index=0, crop_size=64,
                                                     if_no_face="error"))

    def _SVFRFaceCrop(self, case: Case):
        frames = self.frames(case.clip)

        def paste(out):
            crops, record, _ = out.result
            return "SVFRPasteBack", dict(images=frames, restored=crops, faces=record, feather=32,
                                         color_match="lab", erode=24)
        return {"images": frames, "detector": self.detector}, paste

    def _SVFRTaskVector(self, case: Case):
        return {}, lambda out: ("SVFRSampler", self._sampler_kwargs(case.clip, task=out.result[0]))

    def _SVFRInpaintMask(self, case: Case):
        _, record = self._upstream(case.clip)
        return ({"mask": self.frame_mask(case.clip), "faces": record},
                lambda out: ("SVFRSampler", self._sampler_kwargs(case.clip, task=torch.tensor(INPAINT),
                                                                 mask=out.result[0])))

    def _SVFRSampler(self, case: Case, reference=None):
        kwargs = self._sampler_kwargs(case.clip)
        sockets = {k: kwargs[k] for k in ("model", "crops", "task", "faces")}
        if reference is not None:
            sockets["reference"] = reference
        return sockets, None

    def _SVFRPasteBack(self, case: Case):
        crops, record = self._upstream(case.clip)
        return {"images": self.frames(case.clip), "restored": crops, "faces": record}, None

    def _SVFRVideoRestore(self, case: Case, reference=None):
        sockets = {"model": self.model, "detector": self.detector, "task": torch.tensor(BFR),
                   "video": self.video(case.clip)}
        if reference is not None:
            sockets["reference"] = reference
        return sockets, None


@contextmanager
def _cancel_after(checks: int | None):
    """Press ComfyUI's Cancel at the ``checks``-th cancel check of the engine (None: never)."""
    import comfy.model_management as mm

    if checks is None:
        yield
        return
    real, seen = mm.throw_exception_if_processing_interrupted, [0]

    def counting():
        seen[0] += 1
        if seen[0] >= checks:
            mm.interrupt_current_processing(True)
        return real()
    mm.throw_exception_if_processing_interrupted = counting
    try:
        yield
    finally:
        mm.throw_exception_if_processing_interrupted = real
        mm.interrupt_current_processing(False)


class _Upstream(Exception):
    """The clip's base Face Crop was refused: the case cannot run (its own Face Crop case reports why)."""


def alpha_reference() -> torch.Tensor:
    return torch.from_numpy(reference_with_alpha())


__all__ = ["NOT_RUN", "Outcome", "Harness", "names_an_input", "alpha_reference"]
