"""Public API: ``restore_video`` = SVFR's two-pass self-referred refinement (infer.py), memory-bounded.

Pass 1 restores the first min(window, N) frames with no identity and no reference; its last frame becomes
the reference (VAE latent in channels 8-11, ArcFace tokens in cross-attention); pass 2 restores every frame.
A user ``reference`` image or ``id_tokens`` replace what pass 1 would provide (pass 1 is then skipped).

Frames in and out use ComfyUI's IMAGE layout (``frames.py`` checks and preprocesses them chunk by chunk).
Every sampling, memory and placement setting is one ``SamplingOptions`` (``options.py``); flat keywords
(``seed=``, ``window=``...) are still accepted and build one.

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

from ..errors import Cancelled, InputError, SVFRWarning, WeightsError
from ..networks.vae import ENCODE_CHUNK, encode_mean
from .frames import LQFrames, _as_tensor, check_frames, check_mask, pil_gray_rgb, to_uint8, u8_to_model  # noqa: F401
from .identity import identity_tokens
from .latents import decode, encode_lq
from .offload import place_for
from .options import SamplingOptions, check_int
from .sampler import PassConfig, PassTrace, PreviewHook, denoise  # noqa: F401 - PassTrace: run_pass's trace
from .scheduler import make_schedule
from .tasks import INPAINTING
from .windows import count_unet_calls

MODEL_SIZE = 512  # the resolution SVFR was trained at

Progress = Callable[[int, int, Any], None]  # (done, total, preview image or None)
Cancel = Callable[[], Any]                  # True (or raising) stops the run


@dataclass
class RestoreResult:
    frames: Optional[torch.Tensor]  # (N, H, W, 3) float32 in 0..1 (None from restore_stream: the sink got them)
    reference: torch.Tensor         # (H, W, 3) float32 in 0..1: the reference frame used
    id_tokens: torch.Tensor         # (49, 1024) float32: identity tokens used in pass 2
    latents: Optional[torch.Tensor] = None  # (N, 4, h, w) pass-2 latents, only from restore_stream(sink=None)


@dataclass
class PassResult:
    latents: torch.Tensor  # (F, 4, h, w) float32 CPU: final latents before / scaling_factor


FrameChunks = Callable[[int, int], Any]    # (start, stop) -> (stop - start, H, W, 3) float 0..1 or uint8
FrameSink = Callable[[int, torch.Tensor], None]  # (start, (m, H, W, 3) float32 0..1)


def sampling_options(options: Optional[SamplingOptions], flat: dict) -> SamplingOptions:
    """``options``, or the flat keywords (``seed=``, ``window=``...) made into one; not both."""
    if options is None:
        return SamplingOptions.build(**flat)
    if not isinstance(options, SamplingOptions):
        raise InputError(f"options must be a SamplingOptions, got {type(options).__name__}")
    if flat:
        raise InputError(f"give the sampling options either as SamplingOptions or as keywords, not both "
                         f"({', '.join(sorted(flat))})")
    return options


# ---------------------------------------------------------------- one pass

@torch.no_grad()
def run_pass(models, lq, num_frames: int, *, task_bits, config: PassConfig, generator: torch.Generator,
             ref_frame: torch.Tensor | None = None, id_tokens: torch.Tensor | None = None, sink=None,
             decode_chunks: Optional[list[int]] = None, before_call: Callable[[], None] | None = None,
             after_call: Callable[[torch.Tensor], None] | None = None,
             after_decode: Callable[[torch.Tensor], None] | None = None,
             trace: PassTrace | None = None, preview: PreviewHook | None = None) -> PassResult:
    """One official pipeline call: encode, denoise, decode (frames go to ``sink``; none if it is None).

    ``lq(start, stop)``: (n, 3, H, W) float32 in [-1, 1]. ``ref_frame``: (3, H, W) float in about [-1, 1]
    (pass 2's reference; its VAE latent mode() is used unscaled). ``id_tokens``: (49, 1024) for the
    conditional half. Draws from ``generator`` in the official order: noise-aug noise (F, 3, H, W), then
    initial noise (1, F, 4, h, w).
    """
    dtype = next(models.unet.parameters()).dtype
    if config.offload:  # the compute device, wherever the offload left the weights
        device = torch.device(models.device)
        place_for(models, "vae", device)
    else:
        device = next(models.unet.parameters()).device
    init, cond = encode_lq(models.vae, lq, num_frames, config.noise_aug, generator, trace, config.encode_chunk)
    ref_latent = None
    if ref_frame is not None:
        ref_latent = encode_mean(models.vae, ref_frame.unsqueeze(0).float())[0].cpu()
        if trace is not None:
            trace.ref_latent = ref_latent.clone()
    if config.offload:
        place_for(models, "unet", device)
    latents = denoise(models.unet, init_latents=init, lq_latents=cond, ref_latent=ref_latent,
                      id_tokens=id_tokens, task_bits=task_bits, config=config, generator=generator,
                      device=device, dtype=dtype, before_call=before_call, after_call=after_call, trace=trace,
                      preview=preview)
    del init, cond
    if sink is not None:
        if config.offload:
            place_for(models, "vae", device)
        decode(models.vae, latents, config.decode_chunk, sink, chunks=decode_chunks, after_chunk=after_decode,
               before_chunk=before_call)
    return PassResult(latents=latents)


def pass_config(opts: SamplingOptions, schedule, window: int, overlap: int) -> PassConfig:
    return PassConfig(schedule=schedule, window=window, overlap=overlap, guidance_min=opts.guidance_min,
                      guidance_max=opts.guidance_max, noise_aug=opts.noise_aug, decode_chunk=opts.decode_chunk,
                      skip_uncond_when_equal=opts.skip_equal_uncond, encode_chunk=opts.encode_chunk,
                      cfg_sequential=opts.cfg_sequential, offload=opts.offload)


def pass1_overlap(n1: int, overlap: int) -> int:
    """Official pass 1 uses window = N1 and the same overlap; N1 <= overlap crashes there (range step <= 0).
    We clamp the overlap to N1 - 1 (N1 = 1: one single-frame window per step), leaving N1 > overlap as is."""
    return min(overlap, n1 - 1)


# ---------------------------------------------------------------- the entry points

def restore_video(models, frames, options: Optional[SamplingOptions] = None, *, mask=None, reference=None,
                  id_tokens=None, reference_landmarks=None, detector=None, progress: Optional[Progress] = None,
                  cancel: Optional[Cancel] = None, preview: Optional[PreviewHook] = None,
                  **sampling) -> RestoreResult:
    """Restore a face video with SVFR. See docs/engine.md for every parameter.

    frames: (N, H, W, 3) float 0..1 or uint8, in memory; the result holds all restored frames. Long videos:
    :func:`restore_stream` (same frames, bit for bit, without holding the clip).
    options: a ``SamplingOptions``, or its fields as keywords (tasks, seed, steps, window, ...).
    progress(done, total, preview): total = all UNet calls of both passes + decode chunks; preview is None
    for UNet calls and the last decoded frame (H, W, 3) in 0..1 for decode chunks.
    cancel(): called before every UNet call and decode chunk; it may raise, or return True to stop
    (then ``Cancelled`` is raised).
    preview(x0): live previews while denoising; every few UNet calls it gets the current window's predicted
    clean latents (window, 4, h, w) float32 CPU (``svfr_model.diffusion.preview.latents_to_rgb`` turns them
    into pixels).
    """
    opts = sampling_options(options, sampling)
    x = check_frames(frames)
    n, h, w = int(x.shape[0]), int(x.shape[1]), int(x.shape[2])
    out = torch.empty((n, h, w, 3), dtype=torch.float32)

    def write(start: int, chunk: torch.Tensor) -> None:
        out[start:start + chunk.shape[0]] = chunk

    result = _restore(models, LQFrames(x, None, None), n, (h, w), write, opts, mask=mask, reference=reference,
                      id_tokens=id_tokens, reference_landmarks=reference_landmarks, detector=detector,
                      progress=progress, cancel=cancel, preview=preview)
    result.frames = out
    return result


def restore_stream(models, source: FrameChunks, num_frames: int, options: Optional[SamplingOptions] = None, *,
                   sink: Optional[FrameSink] = None, mask=None, reference=None, id_tokens=None,
                   reference_landmarks=None, detector=None, progress: Optional[Progress] = None,
                   cancel: Optional[Cancel] = None, preview: Optional[PreviewHook] = None,
                   **sampling) -> RestoreResult:
    """``restore_video`` for a clip read chunk by chunk: the caller never holds the whole clip.

    source(start, stop): frames [start, stop) as (stop - start, H, W, 3) float 0..1 or uint8; called for the
    first window (pass 1), then for every frame once in order (pass 2 encode), and once more for the pass-1
    reference frame only if no face is found in its restored version.
    sink(start, frames): the restored frames (m, H, W, 3) float32 0..1, in order, ``decode_chunk`` at a time.
    With ``sink=None`` nothing is decoded: ``result.latents`` holds the pass-2 latents for
    :func:`decode_restored` (e.g. to decode several face tracks in step while pasting them back).
    mask: as in ``restore_video`` (one or N masks), or a callable (start, stop) -> the chunk's masks.
    Every other argument is ``restore_video``'s. ``result.frames`` is None.
    """
    opts = sampling_options(options, sampling)
    num_frames = check_int("num_frames", num_frames, 1)
    if not callable(source):
        raise InputError(f"source must be a callable (start, stop) -> frames, got {type(source).__name__}; "
                         "for frames in memory use restore_video")
    first = check_frames(source(0, 1), "frames 0..0")  # the frame size, checked before any model work
    size = (int(first.shape[1]), int(first.shape[2]))
    return _restore(models, LQFrames(source, None, None, size), num_frames, size, sink, opts, mask=mask,
                    reference=reference, id_tokens=id_tokens, reference_landmarks=reference_landmarks,
                    detector=detector, progress=progress, cancel=cancel, preview=preview)


@torch.no_grad()
def decode_restored(models, latents: torch.Tensor, start: int, stop: int, decode_chunk: int = 16) -> torch.Tensor:
    """Frames [start, stop) of ``restore_stream(sink=None)`` latents, (m, H, W, 3) float32 0..1.

    The VAE decoder mixes frames within a decode chunk, so chunks are decoded at the same boundaries as the
    sink path (multiples of ``decode_chunk``): the frames are the ones the sink would have received.
    Out of device memory: as ``latents.decode``, the chunk is retried with half the frames (warned).
    """
    got: dict[int, torch.Tensor] = {}
    first = (start // decode_chunk) * decode_chunk
    decode(models.vae, latents, decode_chunk, lambda at, frames: got.__setitem__(at, frames),
           chunks=list(range(first, stop, decode_chunk)))
    frames = torch.cat([got[at] for at in sorted(got)])
    frames = (frames * 0.5 + 0.5).clamp(0, 1).permute(0, 2, 3, 1)
    return frames[start - first:stop - first]


# ---------------------------------------------------------------- the two passes

@dataclass
class _Inputs:
    """What one restore conditions on besides its frames, checked."""
    paint: Any
    reference: Optional[torch.Tensor]   # (1, H, W, 3) user reference image, or None (pass 1 makes one)
    tokens: Optional[torch.Tensor]      # (49, D) given identity tokens, or None (ArcFace makes them)


def check_inputs(models, opts: SamplingOptions, n: int, size: tuple[int, int], *, mask, reference,
                 id_tokens) -> _Inputs:
    """Validate the conditioning inputs against the frames and the models, before any model work."""
    h, w = size
    paint = None
    if mask is not None:
        paint = mask if callable(mask) else check_mask(mask, n, h, w)
        if not opts.tasks[INPAINTING]:
            warnings.warn(SVFRWarning("a {mask} was given but the inpainting task is off: the mask is ignored"),
                          stacklevel=4)
    elif opts.tasks[INPAINTING]:
        warnings.warn(SVFRWarning("inpainting task without a {mask}: nothing is painted (as in the official code)",
                                  "give a {mask} marking the region to fill"), stacklevel=4)
    if models.unet.config.block_out_channels[0] == 320 and (h, w) != (MODEL_SIZE, MODEL_SIZE):
        warnings.warn(SVFRWarning(f"frames are {w}x{h}; SVFR was trained at {MODEL_SIZE}x{MODEL_SIZE} and other "
                                  f"sizes may degrade results", f"{{size={MODEL_SIZE}}} is the model's size"),
                      stacklevel=4)
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
        dim = models.unet.config.cross_attention_dim
        if tuple(tokens.shape) != (49, dim) or not torch.isfinite(tokens).all():
            raise InputError(f"id_tokens must be finite with shape (49, {dim}), got {tuple(tokens.shape)}")
    if tokens is None and models.arcface is None:
        # fail before pass 1 rather than after it: the identity tokens will need ArcFace
        raise WeightsError(
            "identity tokens are needed but ArcFace is not loaded: put insightface_glint360k.pth at "
            f"{models.arcface_path} (from the SVFR release), or pass id_tokens=... directly")
    return _Inputs(paint, ref_img, tokens)


class _Progress:
    """Counts UNet calls and decode chunks of both passes for ``progress(done, total, preview)``; checks
    ``cancel()`` before each."""

    def __init__(self, total: int, progress: Optional[Progress], cancel: Optional[Cancel]):
        self.total, self.done, self.progress, self.cancel = total, 0, progress, cancel

    def before(self) -> None:
        if self.cancel is not None and self.cancel():
            raise Cancelled("cancelled by the caller")

    def tick(self, preview=None) -> None:
        self.done += 1
        if self.progress is not None:
            self.progress(self.done, self.total, preview)

    def tick_frames(self, chunk: torch.Tensor) -> None:
        self.tick((chunk[-1].permute(1, 2, 0) * 0.5 + 0.5).clamp(0, 1))


def _restore(models, lq: LQFrames, n: int, size, sink, opts: SamplingOptions, **kwargs) -> RestoreResult:
    """``_restore_passes``; with ``offload`` the weights end where the caller had them (both on the device)."""
    try:
        return _restore_passes(models, lq, n, size, sink, opts, **kwargs)
    finally:
        if opts.offload:  # the phases moved the UNet and the VAE on and off the device
            place_for(models, "all", models.device)


def _restore_passes(models, lq: LQFrames, n: int, size: tuple[int, int], sink: Optional[FrameSink],
                    opts: SamplingOptions, *, mask, reference, id_tokens, reference_landmarks, detector,
                    progress, cancel, preview) -> RestoreResult:
    """The two passes over ``lq``'s frames; restored frames go to ``sink`` (None: latents are returned)."""
    given = check_inputs(models, opts, n, size, mask=mask, reference=reference, id_tokens=id_tokens)
    if opts.device is not None or opts.dtype is not None or opts.vae_dtype is not None:
        models.to(device=opts.device, dtype=opts.dtype, vae_dtype=opts.vae_dtype)  # "auto" resolved for the device

    bits = opts.tasks
    lq.bits, lq.mask = bits, given.paint
    gen = torch.Generator().manual_seed(opts.seed)
    run_pass1 = given.reference is None
    n1 = min(opts.window, n)
    ov1 = pass1_overlap(n1, opts.overlap)
    sched2 = make_schedule(models.scheduler_config, opts.steps, opts.i2i_strength)
    sched1 = (make_schedule(models.scheduler_config, opts.pass1_steps, opts.i2i_strength, "pass1_steps")
              if run_pass1 else None)
    total = count_unet_calls(n, opts.window, opts.overlap, sched2.num_steps)
    if sink is not None:
        total += math.ceil(n / opts.decode_chunk)
    if run_pass1:
        total += count_unet_calls(n1, n1, ov1, sched1.num_steps) + 1
    counter = _Progress(total, progress, cancel)
    hooks = dict(before_call=counter.before, after_call=lambda _: counter.tick(), after_decode=counter.tick_frames,
                 preview=preview)

    if run_pass1:
        ref_model, ref_u8, fallback = _pass1_reference(models, lq, n1, ov1, sched1, bits, opts, gen, hooks)
        what = "the pass-1 reference frame"
    else:
        ref_u8_t = to_uint8(given.reference[0])
        ref_model = u8_to_model(ref_u8_t[None])[0]
        ref_u8, fallback, what = ref_u8_t.numpy(), None, "the reference image"
    tokens = given.tokens
    if tokens is None:
        tokens = identity_tokens(models, ref_u8, landmarks=reference_landmarks, detector=detector,
                                 crop=opts.arcface_crop, what=what, fallback_u8=fallback)

    def write(start: int, chunk: torch.Tensor) -> None:
        sink(start, (chunk * 0.5 + 0.5).clamp(0, 1).permute(0, 2, 3, 1))

    result = run_pass(models, lq, n, task_bits=bits, config=pass_config(opts, sched2, opts.window, opts.overlap),
                      generator=gen, ref_frame=ref_model, id_tokens=tokens, sink=write if sink is not None else None,
                      **hooks)
    reference_out = (ref_model * 0.5 + 0.5).clamp(0, 1).permute(1, 2, 0).contiguous()
    return RestoreResult(frames=None, reference=reference_out, id_tokens=tokens,
                         latents=result.latents if sink is None else None)


def _pass1_reference(models, lq: LQFrames, n1: int, ov1: int, schedule, bits, opts: SamplingOptions, gen, hooks):
    """Pass 1 over the first window: its last restored frame, as model input (3, H, W) and as uint8 (H, W, 3),
    and a way to read that frame's LQ input again (its face geometry, if none is found in the restored one)."""
    holder: dict[str, torch.Tensor] = {}
    last = n1 - 1

    def keep_last(start: int, chunk: torch.Tensor) -> None:
        if start <= last < start + chunk.shape[0]:
            holder["ref"] = chunk[last - start].clone()

    run_pass(models, lq, n1, task_bits=bits, config=pass_config(opts, schedule, n1, ov1), generator=gen,
             sink=keep_last, decode_chunks=[(last // opts.decode_chunk) * opts.decode_chunk], **hooks)
    ref_model = holder["ref"]                     # (3, H, W) float, unclamped (official)
    ref_u8 = ((ref_model * 0.5 + 0.5).clamp(0, 1) * 255).permute(1, 2, 0).numpy().astype(np.uint8)
    return ref_model, ref_u8, (lambda: lq.u8(last, last + 1)[0].numpy())  # read again only if needed


__all__ = ["RestoreResult", "restore_video", "restore_stream", "decode_restored", "check_frames", "check_mask",
           "LQFrames", "pil_gray_rgb", "identity_tokens", "ENCODE_CHUNK", "run_pass", "PassConfig", "PassTrace",
           "SamplingOptions"]
