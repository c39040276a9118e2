"""Execute every example workflow's API twin in the real ComfyUI and check the video it writes.

The input is a 16:9 clip with two real faces (tests/e2e/example_inputs.py). Checked on the decoded
output: frame count, size, fps, an audio track as long as the video, the face region(s) changed and
everything outside the face boxes did not (up to H.264 re-encoding). Also: no face -> frames pass
through; a missing model file -> a node error naming it; /interrupt during the sampler -> the prompt
stops (execution_interrupted) and the next prompt succeeds.
"""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from e2e import example_inputs as ex
from e2e.hosts import require_vhs

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

REPO = Path(__file__).resolve().parents[2]
WORKFLOWS = REPO / "workflows"
API_DIR = WORKFLOWS / "api"
TWINS = sorted(p.name[: -len(".api.json")] for p in API_DIR.glob("*.api.json"))
NEEDS_VHS = {"svfr_vhs"}  # VideoHelperSuite 1.7.9, from shared/hosts (see tests/e2e/hosts.py)
VIDEO_SAVERS = ("SaveVideo", "VHS_VideoCombine")
RUN_TIMEOUT = 600
# mean absolute difference (0..1 scale) tolerated for "unchanged" pixels after an H.264 round trip,
# and required for "restored" face regions (the tiny random model repaints faces completely)
UNCHANGED_MAX = 0.02
CHANGED_MIN = 0.05
# the node whose `faces` widget picks the faces: Face Crop (modular graph) or the streaming Restore Video
FACE_CHOOSERS = ("SVFRFaceCrop", "SVFRVideoRestore")
BORDER = 48  # pixels around each face clip excluded from the background check (crop boxes reach past the clip)

_results: dict[tuple[str, str], object] = {}  # (host, workflow) -> result


def twin(name: str, host=None) -> dict:
    """The API twin as shipped; on a host with its own crop size (hosts.py), the face crops at that size."""
    wf = json.loads((API_DIR / f"{name}.api.json").read_text())
    if host is not None and host.crop_size:
        for node in wf.values():
            if node["class_type"] in FACE_CHOOSERS:
                node["inputs"]["crop_size"] = host.crop_size
    return wf


def node_of(workflow: dict, class_type: str) -> str:
    return next(k for k, v in workflow.items() if v["class_type"] == class_type)


def decode(path: Path) -> tuple[np.ndarray, float, float | None, float]:
    """frames (N,H,W,3) float 0..1, fps, audio duration (s) or None, video duration (s)."""
    import av

    with av.open(str(path)) as c:
        vs = c.streams.video[0]
        fps = float(vs.average_rate)
        frames = np.stack([f.to_ndarray(format="rgb24") for f in c.decode(video=0)]).astype(np.float32) / 255
    audio_s = None
    with av.open(str(path)) as c:
        if c.streams.audio:
            a = c.streams.audio[0]
            samples = sum(fr.samples for fr in c.decode(audio=0))
            audio_s = samples / a.rate
    return frames, fps, audio_s, len(frames) / fps


def saved_video(result, workflow: dict, output_dir: Path) -> Path:
    node = next(k for k, v in workflow.items() if v["class_type"] in VIDEO_SAVERS)
    # VHS_VideoCombine also lists the first frame it saves as a PNG (save_metadata): the video is the .mp4
    files = [f for f in result.files(node) if f["filename"].endswith(".mp4")]
    assert len(files) == 1, f"{workflow[node]['class_type']} wrote {result.files(node)}"
    return output_dir / files[0]["subfolder"] / files[0]["filename"]


def run(client, name: str, workflow: dict, server_log):
    result = client.run(workflow, timeout=RUN_TIMEOUT)
    assert result.status == "success", f"{name}: {json.dumps(result.messages, default=str)[:3000]}\n{server_log()}"
    return result


def region_diffs(out: np.ndarray, ref: np.ndarray, boxes) -> tuple[list[float], float]:
    """Mean abs difference inside each box, and outside all boxes (minus a border)."""
    inside = [float(np.abs(out[:, y0:y1, x0:x1] - ref[:, y0:y1, x0:x1]).mean()) for x0, y0, x1, y1 in boxes]
    mask = np.ones(out.shape[1:3], bool)
    for x0, y0, x1, y1 in boxes:
        mask[max(0, y0 - BORDER):y1 + BORDER, max(0, x0 - BORDER):x1 + BORDER] = False
    outside = float(np.abs(out[:, mask] - ref[:, mask]).mean())
    return inside, outside


@pytest.fixture(scope="module")
def source(example_files):
    return decode(example_files["video"])


def check_video(path: Path, source, scale: float = 1.0):
    frames, fps, audio_s, dur = decode(path)
    src_frames, src_fps, src_audio, _ = source
    assert frames.shape == (len(src_frames), round(ex.CANVAS_H * scale), round(ex.CANVAS_W * scale), 3)
    assert fps == pytest.approx(src_fps)
    assert src_audio is not None and audio_s is not None, "the audio track was dropped"
    assert audio_s == pytest.approx(dur, abs=0.1)
    if scale != 1.0:  # compare at the source size
        import torch

        t = torch.from_numpy(frames).permute(0, 3, 1, 2)
        frames = torch.nn.functional.interpolate(t, size=src_frames.shape[1:3], mode="area").permute(0, 2, 3, 1).numpy()
    return frames


def test_interrupt_during_sampler_then_next_prompt_succeeds(host, client, server_log):
    """POST /interrupt while the sampler runs: history says execution_interrupted at the sampler;
    the same prompt queued again then runs to the end (its result is reused by the BFR test)."""
    wf = twin("svfr_bfr_video", host)
    sampler = node_of(wf, "SVFRSampler")
    ws = client.listen()
    try:
        prompt_id = client.queue_prompt(wf)
        ws.wait_for(lambda m: m.get("type") == "progress" and m["data"].get("node") == sampler
                    and m["data"].get("prompt_id") == prompt_id, timeout=RUN_TIMEOUT)
        client.interrupt()
    finally:
        ws.close()
    interrupted = client.wait(prompt_id, timeout=RUN_TIMEOUT)
    assert interrupted.status == "error"
    info = interrupted.event("execution_interrupted")
    assert info is not None, interrupted.messages
    assert info["node_type"] == "SVFRSampler" and info["node_id"] == sampler
    assert interrupted.event("execution_success") is None
    again = run(client, "svfr_bfr_video", wf, server_log)
    assert again.event("execution_interrupted") is None
    _results[host.name, "svfr_bfr_video"] = again


@pytest.mark.parametrize("name", TWINS)
def test_workflow_runs_and_restores_only_faces(name, host, client, server_dirs, source, server_log):
    if name in NEEDS_VHS:
        require_vhs(host)
    wf = twin(name, host)
    result = _results.get((host.name, name)) or run(client, name, wf, server_log)
    scale = float(np.prod([v["inputs"]["scale_by"] for v in wf.values() if v["class_type"] == "ImageScaleBy"]))
    frames = check_video(saved_video(result, wf, server_dirs["output"]), source, scale=scale)
    faces = next(v["inputs"]["faces"] for v in wf.values() if v["class_type"] in FACE_CHOOSERS)
    boxes = ex.FACE_BOXES if faces == "all" else ex.FACE_BOXES[:1]  # the left face is the largest
    inside, outside = region_diffs(frames, source[0], ex.FACE_BOXES)
    assert outside < UNCHANGED_MAX, f"background changed by {outside:.4f}"
    for box, diff in zip(ex.FACE_BOXES, inside):
        if box in boxes:
            assert diff > CHANGED_MIN, f"face box {box} not restored (diff {diff:.4f})"
        else:
            assert diff < UNCHANGED_MAX, f"face box {box} changed although faces={faces} (diff {diff:.4f})"


def test_video_without_face_passes_through(host, client, server_dirs, example_files, server_log):
    wf = twin("svfr_bfr_video", host)
    wf[node_of(wf, "LoadVideo")]["inputs"]["file"] = ex.NOFACE_NAME
    wf[node_of(wf, "SaveVideo")]["inputs"]["filename_prefix"] = "svfr/noface"
    result = run(client, "noface", wf, server_log)
    source = decode(example_files["noface"])
    frames = check_video(saved_video(result, wf, server_dirs["output"]), source)
    assert float(np.abs(frames - source[0]).mean()) < UNCHANGED_MAX


def test_missing_model_file_is_a_node_error_naming_the_file(host, client, server_log):
    wf = twin("svfr_bfr_video", host)
    wf[node_of(wf, "SVFRModelLoader")]["inputs"]["model_folder"] = "missing_arcface"
    result = client.run(wf, timeout=RUN_TIMEOUT)
    assert result.status == "error"
    err = result.event("execution_error")
    assert err is not None, result.messages
    assert err["node_type"] == "SVFRModelLoader"
    assert "insightface_glint360k" in err["exception_message"], err["exception_message"]
    assert "missing_arcface" in err["exception_message"]  # says where it looked
    assert err["exception_type"].endswith("WeightsError")
