"""``crop`` and ``paste`` commands: face crops as videos + a JSON record, and composing them back.

    python -m svfr_model crop VIDEO --out DIR [--detector retinaface|yoloface|insightface]
                                              [--mode official|tracked] [--faces largest|all|N]
    python -m svfr_model paste VIDEO DIR --out OUTPUT.mp4

``crop`` writes DIR/track_00.mp4, track_01.mp4 ... (one size x size video per face track, at the
source fps) and DIR/crops.json (the crop record: per track the frames, the frame->crop transform
of every frame, landmarks, which frames were interpolated; plus the skipped faces). Restore the
track videos with any tool keeping their frame count, then ``paste`` puts them back into VIDEO
(the source audio is copied). Without restoring, crop + paste is the identity round trip.
"""
from __future__ import annotations

import json
import sys
from pathlib import Path

from ..errors import InputError
from ..faces.options import MODES
from ..faces.reid import REID_WITHOUT_MODEL

RECORD_NAME = "crops.json"
CHUNK = 32  # frames per chunk when cropping / pasting (bounds memory for long videos)


def register(subparsers) -> None:
    p = subparsers.add_parser("crop", help="detect, track and crop faces to 512x512 videos + a JSON record",
                              description=__doc__, formatter_class=_Formatter)
    p.add_argument("video", help="input video file")
    p.add_argument("--out", required=True, help="output folder (created if missing)")
    p.add_argument("--detector", default="retinaface", choices=["retinaface", "yoloface", "insightface"],
                   help="face detector (default: the embedded RetinaFace, works offline)")
    p.add_argument("--detector-path", default=None,
                   help="weights for yoloface (yoloface_v5m.pt) or insightface (SCRFD .onnx or pack folder)")
    p.add_argument("--mode", default="tracked", choices=MODES,
                   help="tracked: per-frame framing, smoothed; official: SVFR's static union box")
    p.add_argument("--faces", default="largest", help="largest, all, or a face index (0 = largest)")
    p.add_argument("--size", type=int, default=512, help="crop size in pixels")
    p.add_argument("--detect-every", type=int, default=1, help="detect on every k-th frame only")
    p.add_argument("--max-side", type=int, default=640, help="detect on frames downscaled to this side (0 = full)")
    p.add_argument("--smoothing", type=float, default=2.0, help="temporal smoothing sigma in frames (0 = off)")
    p.add_argument("--rotate", action="store_true", help="roll-align faces (default: upright crops)")
    p.add_argument("--min-face", type=float, default=16, help="skip faces smaller than this (pixels)")
    p.add_argument("--max-gap", type=int, default=12, help="interpolate at most this many face-less frames")
    p.add_argument("--reid", default="appearance", choices=REID_WITHOUT_MODEL,
                   help="a face back after leaving the frame joins its earlier track by appearance, or off (only "
                        "where it left)")
    p.add_argument("--allow-no-face", action="store_true", help="no face: write an empty record instead of failing")
    p.add_argument("--lossless", action="store_true",
                   help="write lossless RGB crop videos (.mkv, libx264rgb) instead of H.264 yuv420p .mp4")
    p.set_defaults(func=run_crop)

    q = subparsers.add_parser("paste", help="compose (restored) face crop videos back into the original video",
                              description=__doc__, formatter_class=_Formatter)
    q.add_argument("video", help="the original video that was cropped")
    q.add_argument("crops_dir", metavar="DIR", help="folder written by `crop` (crops.json + track videos)")
    q.add_argument("--out", required=True, help="output video file (.mp4)")
    q.add_argument("--feather", type=float, default=32, help="blend ramp width in crop pixels")
    q.add_argument("--erode", type=float, default=24, help="untouched crop border in crop pixels")
    q.add_argument("--color-match", default="none", choices=["none", "lab", "wavelet"],
                   help="match the restored face's colour to the original")
    q.add_argument("--mask-shape", default="square", choices=["square", "ellipse"], help="blend mask shape")
    q.add_argument("--crf", type=int, default=18, help="H.264 quality (lower = better)")
    q.add_argument("--lossless", action="store_true", help="write lossless RGB (libx264rgb) output")
    q.set_defaults(func=run_paste)


class _Formatter(__import__("argparse").RawDescriptionHelpFormatter):
    pass


def _parse_faces(value: str):
    return int(value) if value.strip().isdigit() else value


def run_crop(args) -> int:
    from ..faces.detect import load_detector
    from ..faces.crop import extract_crops
    from ..faces.plan import detect_faces, plan_from_detections
    from ..video import VideoWriter, iter_video, probe_video

    out_dir = Path(args.out)
    _, fps, _ = probe_video(args.video)
    detector = load_detector(args.detector, args.detector_path)
    faces = _parse_faces(args.faces)

    def progress(done, _total):
        if sys.stderr.isatty():
            print(f"\rdetecting faces: {done} frames searched", end="", file=sys.stderr)

    # Two passes over the file (detect, then crop) so memory stays bounded by one chunk of frames.
    found = detect_faces(iter_video(args.video, chunk=CHUNK), detector, mode=args.mode,
                         detect_every=args.detect_every, max_side=args.max_side or None, progress=progress,
                         reid=args.reid)
    if sys.stderr.isatty():
        print(file=sys.stderr)
    record = plan_from_detections(found, mode=args.mode, faces=faces, size=args.size,
                                  detect_every=args.detect_every, smoothing=args.smoothing, rotate=args.rotate,
                                  min_face=args.min_face, max_gap=args.max_gap, allow_no_face=args.allow_no_face)
    out_dir.mkdir(parents=True, exist_ok=True)
    suffix = ".mkv" if args.lossless else ".mp4"
    names = [f"track_{i:02d}{suffix}" for i in range(len(record.tracks))]
    writers = [VideoWriter(out_dir / name, fps, lossless=args.lossless) for name in names]
    try:
        start = 0
        for chunk in iter_video(args.video, chunk=CHUNK):
            crops = extract_crops(chunk, record, start, start + len(chunk), offset=start)
            for w, crop in zip(writers, crops):
                if len(crop):
                    w.write(crop)
            start += len(chunk)
        for w in writers:
            w.close()
    except BaseException:
        for w in writers:
            w.abort()
        raise
    meta = json.loads(record.to_json())
    meta.update({"source": str(Path(args.video).resolve()), "fps": str(fps), "track_files": names})
    tmp = out_dir / (RECORD_NAME + ".partial")  # written whole: a reader never sees half a record
    tmp.write_text(json.dumps(meta))
    tmp.replace(out_dir / RECORD_NAME)
    for i, t in enumerate(record.tracks):
        print(f"track {i}: {len(t.frame_indices)} frames ({int(t.interpolated.sum())} interpolated) "
              f"-> {out_dir / names[i]}")
    for s in record.skipped:
        print(f"skipped: {s}")
    print(f"record -> {out_dir / RECORD_NAME}")
    return 0


def run_paste(args) -> int:
    from ..faces.paste_back import paste_faces
    from ..faces.records import FaceCropRecord, record_slice
    from ..video import VideoWriter, iter_video, probe_video

    crops_dir = Path(args.crops_dir)
    rec_path = crops_dir / RECORD_NAME
    if not rec_path.is_file():
        raise InputError(f"{str(rec_path)!r} not found; DIR must be the folder written by "
                         "`python -m svfr_model crop VIDEO --out DIR`")
    text = rec_path.read_text()
    record = FaceCropRecord.from_json(text)
    names = json.loads(text).get("track_files") or []
    if len(names) != len(record.tracks):
        raise InputError(f"{rec_path} lists {len(names)} track videos for {len(record.tracks)} tracks; "
                         "re-run `crop`")
    _, fps, (h, w) = probe_video(args.video)
    if (h, w) != tuple(record.frame_size):
        raise InputError(f"{args.video} is {w}x{h} but the crops were made from a "
                         f"{record.frame_size[1]}x{record.frame_size[0]} video; pass the video that was cropped")
    track_iters = []
    for name, t in zip(names, record.tracks):
        path = crops_dir / name
        if not path.is_file():
            raise InputError(f"track video {str(path)!r} is missing (listed in {rec_path})")
        track_iters.append(_FrameQueue(iter_video(path), str(path), len(t.frame_indices)))
    done = 0
    with VideoWriter(args.out, fps, audio_from=args.video, crf=args.crf, lossless=args.lossless) as writer:
        for chunk in iter_video(args.video, chunk=CHUNK):
            if done + len(chunk) > record.n_frames:
                raise InputError(f"{args.video} has more frames than the {record.n_frames} that were cropped; "
                                 "pass the video that was cropped")
            sub, slices = record_slice(record, done, done + len(chunk))
            restored = [q.take(s.stop - s.start) for q, s in zip(track_iters, slices)]
            writer.write(paste_faces(chunk, restored, sub, feather=args.feather, erode=args.erode,
                                     color_match=args.color_match, mask_shape=args.mask_shape))
            done += len(chunk)
            if sys.stderr.isatty():
                print(f"\rpasting: {done}/{record.n_frames}", end="", file=sys.stderr)
    if sys.stderr.isatty():
        print(file=sys.stderr)
    if done != record.n_frames:
        Path(args.out).unlink(missing_ok=True)
        raise InputError(f"{args.video} has {done} frames but {record.n_frames} were cropped; "
                         "pass the video that was cropped")
    for q in track_iters:
        q.check_exhausted()
    print(f"wrote {args.out}")
    return 0


class _FrameQueue:
    """Takes exact frame counts from a chunked video iterator (a track's crop video)."""

    def __init__(self, it, name: str, expected: int):
        self.it, self.name, self.expected = it, name, expected
        self.buf = None
        self.taken = 0

    def take(self, m: int):
        import numpy as np

        parts, need = [], m
        while need > 0:
            if self.buf is None or len(self.buf) == 0:
                self.buf = next(self.it, None)
                if self.buf is None:
                    raise InputError(f"track video {self.name} has {self.taken} frames but the record needs "
                                     f"{self.expected}; the restored crop video must keep every frame")
            part, self.buf = self.buf[:need], self.buf[need:]
            parts.append(part)
            need -= len(part)
            self.taken += len(part)
        if not parts:
            return np.zeros((0, 1, 1, 3), np.uint8)
        return np.concatenate(parts)

    def check_exhausted(self) -> None:
        extra = (0 if self.buf is None else len(self.buf)) + sum(len(c) for c in self.it)
        if extra:
            raise InputError(f"track video {self.name} has {self.taken + extra} frames but the record needs "
                             f"{self.expected}")
