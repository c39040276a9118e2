"""Public API: ``restore_video`` = SVFR's two-pass self-referred refinement (infer.py), memory-bounded.

Pass 1 restores the first min(window, N) frames with no identity and no reference; its last frame becomes
the reference (VAE latent in channels 8-11, ArcFace tokens in cross-attention); pass 2 restores every frame.
A user ``reference`` image or ``id_tokens`` replace what pass 1 would provide (pass 1 is then skipped).

Frames in and out use ComfyUI's IMAGE layout: float (N, H, W, 3) in 0..1. Preprocessing follows infer.py:
uint8 quantisation, PIL-style luma for the colorization bit, mask pixels painted white for the inpainting bit,
then ``(u8 / 255 - 0.5) / 0.5``. It happens chunk by chunk, so only the caller's frame buffers and the
output scale with the video length.

``restore_stream`` is the same algorithm for callers that never hold the whole clip: it pulls frame chunks
from a ``source(start, stop)`` (pass 1 reads the first window, pass 2 every frame once, in order) and hands
restored chunks to a ``sink(start, frames)``; only the latents (4 x H/8 x W/8 floats per frame) are kept
for the whole video. ``restore_video`` is ``restore_stream`` over an in-memory clip.
"""
from __future__ import annotations

import math
import warnings
from dataclasses import dataclass
from typing import Any, Callable, Optional

import numpy as np
import torch

from .errors import Cancelled, InputError, NoFaceError, WeightsError
from .models import SVFRModels
from .sampler import PassConfig, count_unet_calls, place_for, run_pass
from .scheduler import make_schedule
from .tasks import COLORIZATION, INPAINTING, parse_tasks
from .vae import ENCODE_CHUNK
from .value_checks import check_unit_values

MODEL_SIZE = 512  # the resolution SVFR was trained at


@dataclass
class RestoreResult:
    frames: Optional[torch.Tensor]  # (N, H, W, 3) float32 in 0..1 (None from restore_stream: the sink got them)
    reference: torch.Tensor         # (H, W, 3) float32 in 0..1: the reference frame used
    id_tokens: torch.Tensor         # (49, 1024) float32: identity tokens used in pass 2
    latents: Optional[torch.Tensor] = None  # (N, 4, h, w) pass-2 latents, only from restore_stream(sink=None)


FrameChunks = Callable[[int, int], Any]    # (start, stop) -> (stop - start, H, W, 3) float 0..1 or uint8
FrameSink = Callable[[int, torch.Tensor], None]  # (start, (m, H, W, 3) float32 0..1)


# ---------------------------------------------------------------- input checks and preprocessing

def _as_tensor(x, name: str) -> torch.Tensor:
    if isinstance(x, torch.Tensor):
        return x.detach()
    if isinstance(x, np.ndarray):
        return torch.from_numpy(np.ascontiguousarray(x))
    raise InputError(f"{name} must be a torch tensor or numpy array, got {type(x).__name__}")


def check_frames(frames, name: str = "frames") -> torch.Tensor:
    """Validate (N, H, W, 3) float in 0..1 (uint8 also accepted) and return it on the CPU."""
    x = _as_tensor(frames, name)
    if x.ndim == 3 and x.shape[-1] in (3,) and name == "reference":
        x = x.unsqueeze(0)
    if x.ndim != 4:
        raise InputError(f"{name} must have shape (N, H, W, 3) (ComfyUI IMAGE layout), got {tuple(x.shape)}")
    if x.shape[0] == 0:
        raise InputError(f"{name} is empty (0 frames): give at least one frame")
    if x.shape[-1] != 3:
        raise InputError(f"{name} must have 3 colour channels (RGB) in the last axis, got {x.shape[-1]} "
                         f"(shape {tuple(x.shape)}); convert grayscale/RGBA images to RGB first")
    h, w = int(x.shape[1]), int(x.shape[2])
    if h % 8 or w % 8:
        raise InputError(
            f"{name} are {w}x{h}; width and height must be multiples of 8 (the VAE downsamples by 8). "
            f"Resize or crop the frames, e.g. to 512x512 (SVFR's training size), or use the face crop step.")
    if x.dtype == torch.uint8:
        return x.cpu()
    if not torch.is_floating_point(x):
        raise InputError(f"{name} must be float in 0..1 or uint8, got dtype {x.dtype}")
    check_unit_values(x, name, "frames")  # NaN/inf, or 0..255 values that would be clamped to white
    return x.cpu()


def to_uint8(x: torch.Tensor) -> torch.Tensor:
    """float 0..1 -> uint8 by rounding (exact for images that came from uint8); uint8 passes through."""
    if x.dtype == torch.uint8:
        return x
    return (x.float() * 255.0).round_().clamp_(0, 255).to(torch.uint8)


def pil_gray_rgb(u8: torch.Tensor) -> torch.Tensor:
    """PIL ``convert("L").convert("RGB")``: L = (19595 R + 38470 G + 7471 B + 0x8000) >> 16."""
    c = u8.to(torch.int64)
    lum = (c[..., 0] * 19595 + c[..., 1] * 38470 + c[..., 2] * 7471 + 0x8000) >> 16
    return lum.to(torch.uint8).unsqueeze(-1).expand(*lum.shape, 3).contiguous()


def check_mask(mask, num_frames: int, height: int, width: int) -> torch.Tensor:
    """(H, W) or (N, H, W) (also (N, H, W, 1)) float 0..1 -> bool paint mask; >= 0.5 means paint white."""
    m = _as_tensor(mask, "mask")
    if m.ndim == 4 and m.shape[-1] == 1:
        m = m[..., 0]
    if m.ndim == 2:
        m = m.unsqueeze(0)
    if m.ndim != 3:
        raise InputError(f"mask must be (H, W) or (N, H, W), got shape {tuple(m.shape)}")
    if tuple(m.shape[1:]) != (height, width):
        raise InputError(f"mask is {m.shape[2]}x{m.shape[1]} but the frames are {width}x{height}: the mask must "
                         f"be in the same (crop) coordinates and size as the frames")
    if m.shape[0] not in (1, num_frames):
        raise InputError(f"mask has {m.shape[0]} frames but the video has {num_frames}: give one mask for all "
                         f"frames or exactly one per frame")
    if m.dtype == torch.uint8:
        return (m >= 128).cpu()
    check_unit_values(m, "mask", "masks")
    return (m.float() >= 0.5).cpu()


class LQFrames:
    """Preprocessed LQ frames on demand: ``lq(start, stop)`` -> (n, 3, H, W) float32 in [-1, 1].

    ``frames``: an (N, H, W, 3) tensor, or a ``source(start, stop)`` callable returning that chunk (each chunk
    is checked like ``frames``). ``mask``: a bool (1 or N, H, W) tensor, or a callable giving the chunk's masks
    (checked by ``check_mask``).
    """

    def __init__(self, frames, bits, mask, size: Optional[tuple[int, int]] = None):
        self.frames, self.bits, self.mask = frames, bits, mask
        self.size = size if size is not None or callable(frames) else tuple(frames.shape[1:3])

    def _chunk(self, start: int, stop: int) -> torch.Tensor:
        if not callable(self.frames):
            return self.frames[start:stop]
        chunk = check_frames(self.frames(start, stop), f"frames {start}..{stop - 1}")
        if chunk.shape[0] != stop - start or (self.size is not None and tuple(chunk.shape[1:3]) != self.size):
            raise InputError(f"the frame source returned {tuple(chunk.shape)} for frames {start}..{stop - 1}; "
                             f"expected {stop - start} frames of {self.size}: every chunk must match the video")
        return chunk

    def _mask(self, start: int, stop: int) -> torch.Tensor:
        if not callable(self.mask):
            return self.mask if self.mask.shape[0] == 1 else self.mask[start:stop]
        h, w = self.size
        return check_mask(self.mask(start, stop), stop - start, h, w)

    def u8(self, start: int, stop: int) -> torch.Tensor:
        u8 = to_uint8(self._chunk(start, stop))
        if self.bits[COLORIZATION]:
            u8 = pil_gray_rgb(u8)
        if self.bits[INPAINTING] and self.mask is not None:
            m = self._mask(start, stop)
            u8 = u8.clone()
            u8[m.expand(u8.shape[0], -1, -1)] = 255
        return u8

    def __call__(self, start: int, stop: int) -> torch.Tensor:
        return u8_to_model(self.u8(start, stop))


def u8_to_model(u8: torch.Tensor) -> torch.Tensor:
    """(n, H, W, 3) uint8 -> (n, 3, H, W) float32 in [-1, 1], as infer.py (division in float64)."""
    x = (u8.to(torch.float64) / 255.0).to(torch.float32)
    return ((x - 0.5) / 0.5).permute(0, 3, 1, 2).contiguous()


def _check_int(name: str, value, low: int) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or int(value) < low:
        raise InputError(f"{name} must be an integer >= {low}, got {value!r}")
    return int(value)


def _check_float(name: str, value, low: float, high: float, low_open: bool = False) -> float:
    try:
        v = float(value)
    except (TypeError, ValueError):
        raise InputError(f"{name} must be a number, got {value!r}") from None
    if not math.isfinite(v) or v < low or v > high or (low_open and v == low):
        interval = f"({low}, {high}]" if low_open else f"[{low}, {high}]"
        raise InputError(f"{name} must be in {interval}, got {value!r}")
    return v


def _pass1_overlap(n1: int, overlap: int) -> int:
    """Official pass 1 uses window = N1 and the same overlap; N1 <= overlap crashes there (range step <= 0).
    We clamp the overlap to N1 - 1 (N1 = 1: one single-frame window per step), leaving N1 > overlap as is."""
    return min(overlap, n1 - 1)


# ---------------------------------------------------------------- identity

def _largest_face_landmarks(detections) -> Optional[np.ndarray]:
    if detections is None or len(detections) == 0:
        return None
    boxes = np.asarray(detections.boxes, dtype=np.float64)
    areas = (boxes[:, 2] - boxes[:, 0]) * (boxes[:, 3] - boxes[:, 1])
    return np.asarray(detections.landmarks, dtype=np.float64)[int(np.argmax(areas))]


def identity_tokens(models: SVFRModels, ref_u8: np.ndarray, *, landmarks=None, detector=None,
                    crop: str = "official", what: str = "the reference frame",
                    fallback_u8: Optional[np.ndarray] = None) -> torch.Tensor:
    """ArcFace tokens (49, 1024) of a reference image (H, W, 3) uint8 via H2's IdentityEncoder.

    Landmarks: given, else the largest face the detector finds in ``ref_u8``. ``fallback_u8``: an image
    with the same face geometry (the LQ input frame the pass-1 reference was restored from) whose
    landmarks are used when none is found in the reference itself (official code crashes there).
    """
    from .identity import IdentityEncoder

    if models.arcface is None:
        raise WeightsError(
            f"identity tokens are needed for {what} but ArcFace is not loaded: put insightface_glint360k.pth at "
            f"{models.arcface_path} (from the SVFR release), or pass id_tokens=... directly")
    if landmarks is None:
        if detector is None:
            from .faces.detect import load_detector

            detector = load_detector("retinaface")
        landmarks = _largest_face_landmarks(detector.detect(ref_u8))
        if landmarks is None and fallback_u8 is not None:
            if callable(fallback_u8):  # a streamed clip reads that frame again only now
                fallback_u8 = fallback_u8()
            landmarks = _largest_face_landmarks(detector.detect(fallback_u8))
            if landmarks is not None:
                warnings.warn(f"no face found in {what}; using the landmarks of the input frame it was restored "
                              "from (same geometry)", stacklevel=3)
        if landmarks is None:
            raise NoFaceError(
                f"no face found in {what} ({ref_u8.shape[1]}x{ref_u8.shape[0]}): SVFR needs a face for its identity "
                "tokens. Pass a reference image with a clear face (reference=...), its 5 landmarks "
                "(reference_landmarks=...), or id_tokens=...")
    lm = np.asarray(landmarks, dtype=np.float64)
    if lm.shape != (5, 2) or not np.isfinite(lm).all():
        raise InputError(f"reference_landmarks must be 5 (x, y) points, shape (5, 2), got {lm.shape}")
    encoder = IdentityEncoder(models.arcface, models.id_projector)
    return encoder.tokens_from_image(ref_u8, lm, crop=crop).float().cpu()


# ---------------------------------------------------------------- the entry point

def restore_video(models: SVFRModels, frames, *, mask=None, **kwargs) -> RestoreResult:
    """Restore a face video with SVFR. See docs/engine.md for every parameter.

    frames: (N, H, W, 3) float 0..1 or uint8, in memory; the result holds all restored frames. Long videos:
    :func:`restore_stream` (same frames, bit for bit, without holding the clip).
    progress(done, total, preview): total = all UNet calls of both passes + decode chunks; preview is None
    for UNet calls and the last decoded frame (H, W, 3) in 0..1 for decode chunks.
    cancel(): called before every UNet call and decode chunk; it may raise, or return True to stop
    (then ``Cancelled`` is raised).
    preview(x0): live previews while denoising; every few UNet calls it gets the current window's predicted
    clean latents (window, 4, h, w) float32 CPU (``svfr_model.preview.latents_to_rgb`` turns them into pixels).
    """
    x = check_frames(frames)
    n, h, w = int(x.shape[0]), int(x.shape[1]), int(x.shape[2])
    out = torch.empty((n, h, w, 3), dtype=torch.float32)

    def write(start: int, chunk: torch.Tensor) -> None:
        out[start:start + chunk.shape[0]] = chunk

    result = _restore(models, LQFrames(x, None, None), n, (h, w), write, mask=mask, **kwargs)
    result.frames = out
    return result


def restore_stream(models: SVFRModels, source: FrameChunks, num_frames: int, *, sink: Optional[FrameSink] = None,
                   mask=None, **kwargs) -> RestoreResult:
    """``restore_video`` for a clip read chunk by chunk: the caller never holds the whole clip.

    source(start, stop): frames [start, stop) as (stop - start, H, W, 3) float 0..1 or uint8; called for the
    first window (pass 1), then for every frame once in order (pass 2 encode), and once more for the pass-1
    reference frame only if no face is found in its restored version.
    sink(start, frames): the restored frames (m, H, W, 3) float32 0..1, in order, ``decode_chunk`` at a time.
    With ``sink=None`` nothing is decoded: ``result.latents`` holds the pass-2 latents for
    :func:`decode_restored` (e.g. to decode several face tracks in step while pasting them back).
    mask: as in ``restore_video`` (one or N masks), or a callable (start, stop) -> the chunk's masks.
    Every other keyword is ``restore_video``'s. ``result.frames`` is None.
    """
    num_frames = _check_int("num_frames", num_frames, 1)
    if not callable(source):
        raise InputError(f"source must be a callable (start, stop) -> frames, got {type(source).__name__}; "
                         "for frames in memory use restore_video")
    first = check_frames(source(0, 1), "frames 0..0")  # the frame size, checked before any model work
    size = (int(first.shape[1]), int(first.shape[2]))
    return _restore(models, LQFrames(source, None, None, size), num_frames, size, sink, mask=mask, **kwargs)


@torch.no_grad()
def decode_restored(models: SVFRModels, latents: torch.Tensor, start: int, stop: int,
                    decode_chunk: int = 16) -> torch.Tensor:
    """Frames [start, stop) of ``restore_stream(sink=None)`` latents, (m, H, W, 3) float32 0..1.

    The VAE decoder mixes frames within a decode chunk, so chunks are decoded at the same boundaries as the
    sink path (multiples of ``decode_chunk``): the frames are the ones the sink would have received.
    Out of device memory: as ``sampler.decode``, the chunk is retried with half the frames (warned).
    """
    from .sampler import decode

    got: dict[int, torch.Tensor] = {}
    first = (start // decode_chunk) * decode_chunk
    decode(models.vae, latents, decode_chunk, lambda at, frames: got.__setitem__(at, frames),
           chunks=list(range(first, stop, decode_chunk)))
    frames = torch.cat([got[at] for at in sorted(got)])
    frames = (frames * 0.5 + 0.5).clamp(0, 1).permute(0, 2, 3, 1)
    return frames[start - first:stop - first]


def _restore(models: SVFRModels, *args, offload: bool = False, **kwargs) -> RestoreResult:
    """``_restore_passes``; with ``offload`` the weights end where the caller had them (both on the device)."""
    try:
        return _restore_passes(models, *args, offload=offload, **kwargs)
    finally:
        if offload:  # the phases moved the UNet and the VAE on and off the device
            place_for(models, "all", models.device)


def _restore_passes(models: SVFRModels, lq: LQFrames, n: int, size: tuple[int, int], sink: Optional[FrameSink], *,
             tasks=("bfr",), mask=None, reference=None, id_tokens=None,
             reference_landmarks=None, detector=None, seed: int = 77, steps: int = 30,
             pass1_steps: int = 50, guidance_min: float = 2.0, guidance_max: float = 2.0, window: int = 16,
             overlap: int = 3, noise_aug: float = 0.0, i2i_strength: float = 1.0, decode_chunk: int = 16,
             dtype=None, device=None, arcface_crop: str = "official",
             progress: Optional[Callable[[int, int, Any], None]] = None,
             cancel: Optional[Callable[[], Any]] = None,
             skip_equal_uncond: bool = True, encode_chunk: int = ENCODE_CHUNK, vae_dtype=None,
             cfg_sequential: bool = False, offload: bool = False,
             preview: Optional[Callable[[torch.Tensor], None]] = None) -> RestoreResult:
    """The two passes over ``lq``'s frames; restored frames go to ``sink`` (None: latents are returned)."""
    h, w = size
    bits = parse_tasks(tasks)
    seed = _check_int("seed", seed, 0)
    steps = _check_int("steps", steps, 1)
    pass1_steps = _check_int("pass1_steps", pass1_steps, 1)
    window = _check_int("window", window, 1)
    overlap = _check_int("overlap", overlap, 0)
    if overlap >= window:
        raise InputError(f"overlap ({overlap}) must be smaller than window ({window})")
    decode_chunk = _check_int("decode_chunk", decode_chunk, 1)
    encode_chunk = _check_int("encode_chunk", encode_chunk, 1)
    guidance_min = _check_float("guidance_min", guidance_min, 0.0, 100.0)
    guidance_max = _check_float("guidance_max", guidance_max, 0.0, 100.0)
    noise_aug = _check_float("noise_aug", noise_aug, 0.0, 10.0)
    i2i_strength = _check_float("i2i_strength", i2i_strength, 0.0, 1.0, low_open=True)
    if arcface_crop not in ("official", "corrected"):
        raise InputError(f"arcface_crop must be 'official' or 'corrected', got {arcface_crop!r}")

    paint = None
    if mask is not None:
        paint = mask if callable(mask) else check_mask(mask, n, h, w)
        if not bits[INPAINTING]:
            warnings.warn("a mask was given but the inpainting task is off: the mask is ignored", stacklevel=3)
    elif bits[INPAINTING]:
        warnings.warn("inpainting task without a mask: nothing is painted (as in the official code); "
                      "pass mask=... to mark the region to fill", stacklevel=3)
    if models.unet.config.block_out_channels[0] == 320 and (h, w) != (MODEL_SIZE, MODEL_SIZE):
        warnings.warn(f"frames are {w}x{h}; SVFR was trained at {MODEL_SIZE}x{MODEL_SIZE} and other sizes may "
                      "degrade results", stacklevel=3)

    ref_img = None
    if reference is not None:
        ref_img = check_frames(reference, "reference")
        if ref_img.shape[0] != 1 or tuple(ref_img.shape[1:3]) != (h, w):
            raise InputError(f"reference must be one (H, W, 3) image of the frames' size {w}x{h}, got shape "
                             f"{tuple(ref_img.shape)}; resize/crop it like the frames")
    tokens = None
    if id_tokens is not None:
        tokens = _as_tensor(id_tokens, "id_tokens").float()
        if tokens.ndim == 3 and tokens.shape[0] == 1:
            tokens = tokens[0]
        if tuple(tokens.shape) != (49, models.unet.config.cross_attention_dim) or not torch.isfinite(tokens).all():
            raise InputError(f"id_tokens must be finite with shape (49, {models.unet.config.cross_attention_dim}), "
                             f"got {tuple(tokens.shape)}")

    if tokens is None and models.arcface is None:
        # fail before pass 1 rather than after it: the identity tokens will need ArcFace
        raise WeightsError(
            "identity tokens are needed but ArcFace is not loaded: put insightface_glint360k.pth at "
            f"{models.arcface_path} (from the SVFR release), or pass id_tokens=... directly")

    if device is not None or dtype is not None or vae_dtype is not None:
        models.to(device=device, dtype=dtype, vae_dtype=vae_dtype)  # "auto" values resolved for the device

    lq.bits, lq.mask = bits, paint
    gen = torch.Generator().manual_seed(seed)
    run_pass1 = ref_img is None
    n1 = min(window, n)
    ov1 = _pass1_overlap(n1, overlap)
    sched2 = make_schedule(models.scheduler_config, steps, i2i_strength)
    sched1 = make_schedule(models.scheduler_config, pass1_steps, i2i_strength) if run_pass1 else None
    total = count_unet_calls(n, window, overlap, sched2.num_steps)
    if sink is not None:
        total += math.ceil(n / decode_chunk)
    if run_pass1:
        total += count_unet_calls(n1, n1, ov1, sched1.num_steps) + 1
    done = 0

    def before() -> None:
        if cancel is not None and cancel():
            raise Cancelled("cancelled by the caller")

    def tick(preview=None) -> None:
        nonlocal done
        done += 1
        if progress is not None:
            progress(done, total, preview)

    def tick_frames(chunk: torch.Tensor) -> None:
        tick((chunk[-1].permute(1, 2, 0) * 0.5 + 0.5).clamp(0, 1))

    common = dict(guidance_min=guidance_min, guidance_max=guidance_max, noise_aug=noise_aug,
                  decode_chunk=decode_chunk, skip_uncond_when_equal=skip_equal_uncond, encode_chunk=encode_chunk,
                  cfg_sequential=bool(cfg_sequential), offload=bool(offload))

    if run_pass1:
        ref_holder: dict[str, torch.Tensor] = {}
        last = n1 - 1

        def keep_last(start: int, chunk: torch.Tensor) -> None:
            if start <= last < start + chunk.shape[0]:
                ref_holder["ref"] = chunk[last - start].clone()

        run_pass(models, lq, n1, task_bits=bits,
                 config=PassConfig(schedule=sched1, window=n1, overlap=ov1, **common), generator=gen,
                 sink=keep_last, decode_chunks=[(last // decode_chunk) * decode_chunk],
                 before_call=before, after_call=lambda _: tick(), after_decode=tick_frames, preview=preview)
        ref_model = ref_holder["ref"]                     # (3, H, W) float, unclamped (official)
        ref_u8 = ((ref_model * 0.5 + 0.5).clamp(0, 1) * 255).permute(1, 2, 0).numpy().astype(np.uint8)
        what = "the pass-1 reference frame"
        fallback = lambda: lq.u8(last, last + 1)[0].numpy()  # noqa: E731 - read again only if needed
    else:
        ref_u8_t = to_uint8(ref_img[0])
        ref_model = u8_to_model(ref_u8_t[None])[0]
        ref_u8 = ref_u8_t.numpy()
        what = "the reference image"
        fallback = None
    if tokens is None:
        tokens = identity_tokens(models, ref_u8, landmarks=reference_landmarks, detector=detector,
                                 crop=arcface_crop, what=what, fallback_u8=fallback)

    def write(start: int, chunk: torch.Tensor) -> None:
        sink(start, (chunk * 0.5 + 0.5).clamp(0, 1).permute(0, 2, 3, 1))

    result = run_pass(models, lq, n, task_bits=bits,
                      config=PassConfig(schedule=sched2, window=window, overlap=overlap, **common),
                      generator=gen, ref_frame=ref_model, id_tokens=tokens, sink=write if sink is not None else None,
                      before_call=before, after_call=lambda _: tick(), after_decode=tick_frames, preview=preview)
    reference_out = (ref_model * 0.5 + 0.5).clamp(0, 1).permute(1, 2, 0).contiguous()
    return RestoreResult(frames=None, reference=reference_out, id_tokens=tokens,
                         latents=result.latents if sink is None else None)


__all__ = ["RestoreResult", "restore_video", "restore_stream", "decode_restored", "check_frames", "check_mask",
           "LQFrames", "pil_gray_rgb", "identity_tokens", "ENCODE_CHUNK"]
