"""onnxruntime session creation shared by the ONNX detectors (RetinaFace, SCRFD)."""
from __future__ import annotations

import os

from ...errors import WeightsError


def default_threads() -> int:
    """Intra-op threads: env SVFR_DETECT_THREADS, else all cores up to 4 (detectors are small)."""
    env = os.environ.get("SVFR_DETECT_THREADS")
    if env:
        try:
            return max(1, int(env))
        except ValueError:
            pass
    return max(1, min(4, os.cpu_count() or 1))


def providers_for(device: str) -> list[str]:
    import onnxruntime as ort

    available = ort.get_available_providers()
    dev = str(device).lower()
    if dev.startswith("cuda") and "CUDAExecutionProvider" in available:
        return ["CUDAExecutionProvider", "CPUExecutionProvider"]
    # No GPU provider installed (onnxruntime, not onnxruntime-gpu): the small detectors run fine on CPU.
    return ["CPUExecutionProvider"]


def make_session(model, source: str, device: str = "cpu", threads: int | None = None):
    """An InferenceSession for ``model`` (bytes or a file path). ``source`` names it in errors."""
    try:
        import onnxruntime as ort
    except ImportError as e:  # pragma: no cover - a runtime requirement
        raise WeightsError("onnxruntime is not installed; it runs the face detectors. "
                           "Install it with `pip install onnxruntime`.") from e
    so = ort.SessionOptions()
    so.intra_op_num_threads = int(threads) if threads else default_threads()
    so.inter_op_num_threads = 1
    so.log_severity_level = 3  # errors only: ORT warns about unused initializers in exported models
    try:
        return ort.InferenceSession(model if isinstance(model, bytes) else str(model), so,
                                    providers=providers_for(device))
    except Exception as e:  # ORT raises its own Fail/InvalidProtobuf types
        raise WeightsError(f"could not load the ONNX face detector from {source}: {e}. "
                           "The file is damaged or not an ONNX model; download it again.") from e
