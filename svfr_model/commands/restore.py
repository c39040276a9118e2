"""``python -m svfr_model restore INPUT OUTPUT --models DIR [--tasks bfr,colorization,inpainting] [--mask M]``

Streams the video (``restore_file``): a face detection and tracking pass, each face track restored from
crops read chunk by chunk, then one pass that pastes every track back and encodes OUTPUT; memory does not
grow with the video's length. OUTPUT keeps the input's frame count, timestamps (also a variable frame
rate), rotation and audio; it is written to a temporary name in its folder and renamed at the end, so an
interrupted run leaves no partial output. ``--in-memory`` reads the whole clip first (the same frames; for
short clips). ``--no-crop`` skips the face step for clips that already are square face crops: they are
resized to the model size (512) and written at that size.
"""
from __future__ import annotations

import argparse
import signal
import sys
from pathlib import Path

import numpy as np
import torch

from ..errors import InputError
from ..diffusion.presets import PRESET_NAMES
from ..restore.file import resize_square
from ..restore.images import read_image as _read_image
from ..restore.images import read_mask as _read_mask
from ..diffusion.speed import COMPILE_MODES
from ..faces.color import COLOR_MODES
from ..faces.options import MODES
from ..faces.reid import REID_CHOICES
from ..precision import PRECISIONS, VAE_PRECISIONS


# Flags that set up the worker (the model set, its precision and device), not one video's result; the rest
# of ``add_restore_options`` is per video (``batch`` manifests may set those per row).
MODEL_FLAGS = ("models", "dtype", "vae_dtype", "device", "compile")
IF_NO_FACE = ("error", "pass-through")  # faces.options.NO_FACE_CHOICES, spelt as a flag value


def register(subparsers) -> None:
    p = subparsers.add_parser(
        "restore", help="restore faces in a video (BFR, colorization, inpainting)",
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("input", type=Path, help="input video")
    p.add_argument("output", type=Path, help="output video (.mp4)")
    add_restore_options(p)
    p.add_argument("--in-memory", action="store_true",
                   help="read the whole video into memory first (same result; needs RAM for every frame)")
    p.add_argument("--quiet", action="store_true")
    p.set_defaults(func=run)


def _no_face_choice(value: str) -> str:
    return value.strip().lower().replace(" ", "-").replace("_", "-")


def add_restore_options(p: argparse.ArgumentParser, *, model_flags: bool = True) -> None:
    """Every option of one restore (models, tasks, sampling, memory, faces, output): ``restore`` and
    ``batch`` share them. ``model_flags=False``: only the per-video ones (not ``MODEL_FLAGS``)."""
    if model_flags:
        p.add_argument("--models", type=Path, required=True,
                       help="SVFR models folder (official layout: face_restoration/ + stable-video-diffusion-img2vid-xt/)")
    p.add_argument("--tasks", default="bfr", help="comma-separated: bfr, colorization, inpainting (default bfr)")
    p.add_argument("--mask", type=Path, help="inpainting mask image (white = fill), in the INPUT frame's pixels")
    p.add_argument("--reference", type=Path, help="reference face photo (skips pass 1); any size: its face is detected and framed like the crops")
    p.add_argument("--seed", type=int, default=77)
    p.add_argument("--steps", type=int, default=30, help="pass-2 steps (official 30)")
    p.add_argument("--pass1-steps", type=int, default=50, help="pass-1 steps (official 50)")
    p.add_argument("--guidance-min", type=float, default=2.0)
    p.add_argument("--guidance-max", type=float, default=2.0)
    p.add_argument("--window", type=int, default=16)
    p.add_argument("--overlap", type=int, default=3)
    p.add_argument("--noise-aug", type=float, default=0.0)
    p.add_argument("--i2i-strength", type=float, default=1.0)
    p.add_argument("--decode-chunk", type=int, default=None,
                   help="frames per VAE decode (part of the result; default: the preset's, 8 for default)")
    p.add_argument("--encode-chunk", type=int, default=None,
                   help="frames per VAE encode (memory only; default: the preset's)")
    p.add_argument("--preset", default="default", choices=PRESET_NAMES,
                   help="memory preset: default (10 GB cards: decode chunk 8), low_vram (6 GB: sequential CFG, "
                        "decode chunk 6, UNet/VAE offload), high_vram (24 GB: the official computation), auto "
                        "(the fastest that fits the GPU's free memory); see docs/performance.md")
    if model_flags:
        p.add_argument("--dtype", default="auto", choices=PRECISIONS,
                       help="UNet precision (auto: fp16 on CUDA, fp32 on CPU)")
        p.add_argument("--vae-dtype", default="auto", choices=VAE_PRECISIONS,
                       help="VAE decoder precision (auto: fp16 on CUDA as the official run, fp32 on CPU); "
                            "the encoder always runs in fp32")
        p.add_argument("--device", default="auto", help="torch device: auto (CUDA when present), cpu, cuda, cuda:N")
        p.add_argument("--compile", default="off", choices=COMPILE_MODES,
                       help="torch.compile the UNet: regional (its repeated blocks) or full; off by default")
    p.add_argument("--size", type=int, default=512, help="model input size (512 for the real model)")
    p.add_argument("--no-crop", action="store_true", help="input is already a square face clip")
    p.add_argument("--faces", default="largest", help="largest | all | index of the face track (0 = largest)")
    p.add_argument("--crop-mode", default="tracked", choices=MODES)
    p.add_argument("--reid", default="auto", choices=REID_CHOICES,
                   help="a face back after leaving the frame joins its earlier track (one reference and identity "
                        "per person): by ArcFace when the models have it (auto), by appearance, or off "
                        "(only where it left)")
    p.add_argument("--if-no-face", default="error", type=_no_face_choice, choices=IF_NO_FACE,
                   help="a video without a usable face: error (default), or pass-through (written unchanged)")
    p.add_argument("--color-match", default="none", choices=COLOR_MODES)
    p.add_argument("--max-frames", type=int, default=None, help="only the first N frames")
    p.add_argument("--lossless", action="store_true",
                   help="write lossless RGB H.264 (exact pixels; for tests and intermediate files, not players)")


class _Progress:
    def __init__(self, quiet: bool, label: str):
        self.quiet, self.label, self.last = quiet, label, -1

    def __call__(self, done, total, preview=None):
        if total is None:  # a streamed pass before the frame count is known
            if not self.quiet and done % 100 == 0:
                print(f"\r{self.label}: {done} frames", end="", file=sys.stderr, flush=True)
            return
        pct = int(100 * done / max(total, 1))
        if not self.quiet and pct != self.last:
            self.last = pct
            print(f"\r{self.label}: {pct:3d}% ({done}/{total})", end="" if done < total else "\n",
                  file=sys.stderr, flush=True)


class Terminated(BaseException):
    """SIGTERM as an exception, so the output's temporary file is removed on the way out."""


def _raise_on_sigterm(signum, frame) -> None:
    raise Terminated(f"terminated by signal {signum}")


def run(args: argparse.Namespace) -> int:
    from ..weights.models import load_svfr_models

    if args.max_frames is not None and args.max_frames < 1:
        raise InputError(f"--max-frames must be >= 1, got {args.max_frames}")
    say = (lambda *a: None) if args.quiet else (lambda *a: print(*a, file=sys.stderr))
    options = options_from_args(args)  # every option checked before the models load
    models = load_svfr_models(args.models, dtype=args.dtype, device=args.device, vae_dtype=args.vae_dtype)
    if args.preset == "auto":  # sized for the loaded models and the device's free memory
        options = options_from_args(args, models)
    if args.compile != "off":
        from ..diffusion.speed import compile_unet

        compile_unet(models.unet, args.compile)
    if not args.in_memory:
        previous = signal.signal(signal.SIGTERM, _raise_on_sigterm)
        try:
            return _run_streaming(args, models, options, say)
        except Terminated:
            say("terminated: no output written")
            return 143
        finally:
            signal.signal(signal.SIGTERM, previous)
    return _run_in_memory(args, models, options, say)


def flat_options(args: argparse.Namespace) -> dict:
    """The flags as ``RestoreOptions.build`` keywords (decode/encode chunk None: the preset's)."""
    return dict(
        tasks=args.tasks, seed=args.seed, steps=args.steps, pass1_steps=args.pass1_steps,
        guidance_min=args.guidance_min, guidance_max=args.guidance_max, window=args.window, overlap=args.overlap,
        noise_aug=args.noise_aug, i2i_strength=args.i2i_strength, decode_chunk=args.decode_chunk,
        encode_chunk=args.encode_chunk, faces=args.faces, mode=args.crop_mode, size=args.size, reid=args.reid,
        allow_no_face=getattr(args, "if_no_face", "error") == "pass-through", color_match=args.color_match)


def options_from_args(args: argparse.Namespace, models=None):
    """The one ``RestoreOptions`` of this run, from the flags (a flag left out: the preset's or the default).
    ``models``: the loaded set, which the ``auto`` preset is sized for (without it: ``default``)."""
    from ..restore.options import options_for_preset

    return options_for_preset(flat_options(args), args.preset, models)


def _run_streaming(args: argparse.Namespace, models, options, say) -> int:
    from ..restore.file import restore_file

    mask = _read_mask(args.mask) if args.mask is not None else None
    reference = _read_image(args.reference) if args.reference is not None else None
    detector = None
    if not args.no_crop:
        from ..faces.detect import load_detector

        detector = load_detector("retinaface")
    path = restore_file(models, args.input, args.output, options, detector=detector, mask=mask, reference=reference,
                        max_frames=args.max_frames, no_crop=args.no_crop, lossless=args.lossless, say=say,
                        progress_for=lambda label: _Progress(args.quiet, label))
    say(f"wrote {path}")
    return 0


def _run_in_memory(args: argparse.Namespace, models, options, say) -> int:
    from ..restore.tracks import restore_tracks

    from ..video import read_video, write_video

    video = read_video(args.input, max_frames=args.max_frames)
    frames_u8 = video.frames
    n, h, w = frames_u8.shape[:3]
    say(f"read {n} frames {w}x{h} at {float(video.fps):.3f} fps from {args.input}")
    mask = _read_mask(args.mask) if args.mask is not None else None
    if mask is not None and mask.shape != (h, w):
        raise InputError(f"mask {args.mask} is {mask.shape[1]}x{mask.shape[0]} but the video is {w}x{h}: "
                         "draw the mask on a frame of the input video")
    reference = _read_image(args.reference) if args.reference is not None else None
    size = options.faces.size

    detector = None

    def get_detector():
        nonlocal detector
        if detector is None:
            from ..faces.detect import load_detector

            detector = load_detector("retinaface")
        return detector

    if args.no_crop:
        if h != w:
            raise InputError(f"--no-crop needs square face clips, but {args.input} is {w}x{h}: drop --no-crop to "
                             "detect and crop the face, or crop the video to a square around the face first")
        if h != size:
            say(f"note: resizing frames {w}x{h} -> {size}x{size} (the model size); the output is "
                f"written at {size}x{size}")
            frames_u8 = np.stack([resize_square(f, size, "bicubic") for f in frames_u8])
            mask = resize_square(mask, size, "nearest") if mask is not None else None
        frames = torch.from_numpy(frames_u8).float().div_(255.0)
        result, = restore_tracks(models, [frames], None, options.sampling,
                                 references=[reference] if reference is not None else None,
                                 masks=[torch.from_numpy(mask) if mask is not None else None],
                                 reference_mode=options.faces.mode,
                                 progress_for_track=lambda k: _Progress(args.quiet, "restore"))
        out = result.frames
    else:
        from ..faces import crop_faces, paste_faces, warp_mask_to_crops
        from ..faces.reid import describers_for

        frames = frames_u8  # uint8: cropped and pasted as the streaming path does, without a float copy
        crops = crop_faces(frames, get_detector(), mode=options.faces.mode, faces=options.faces.faces, size=size,
                           allow_no_face=options.faces.allow_no_face,
                           reid=describers_for(options.faces.reid, models.arcface),
                           progress=_Progress(args.quiet, "faces"))
        say(f"{len(crops.crops)} face track(s)" + (f"; skipped: {crops.record.skipped}" if crops.record.skipped else ""))
        masks = warp_mask_to_crops(torch.from_numpy(mask), crops.record) if mask is not None else None
        n_tracks = len(crops.crops)
        results = restore_tracks(
            models, crops.crops, crops.record, options.sampling,
            references=[reference] if reference is not None else None, masks=masks, detector=get_detector(),
            progress_for_track=lambda k: _Progress(args.quiet, f"restore face {k + 1}/{n_tracks}"))
        restored = [r.frames for r in results]
        out = paste_faces(frames, restored, crops.record, color_match=options.paste.color_match,
                          **options.paste.widths(size))
    path = write_video(args.output, out, video.fps, audio_from=args.input, lossless=args.lossless)
    say(f"wrote {path}")
    return 0
