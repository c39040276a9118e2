"""One person, one track: re-join a face's track pieces after it left the frame or was hidden.

Linking (``track.link_detections``) follows a face while it is seen, and across at most ``max_gap`` missing
frames. A longer absence ends the piece. Here every ended piece is compared with every later piece by how
the face looked where one ends and the other begins: the *describers* turn each detected face into a
vector while pass 1 still has its pixels, and a piece's end (start) is the mean of its last (first)
``WINDOW`` vectors. Two pieces join when that similarity passes the describer's threshold, a lower one
where the face came back at the place it left (the motion cue), and never when the two overlap in time.

Describers: ``AppearanceDescriber`` (always available, no model: colour of hair, face and neck, and the
gradient layout of the aligned face) and, when the model set has it, ArcFace (``ArcFaceDescriber``: SVFR's own
IResNet-100),
which knows people rather than looks, and is preferred for a pair when both pieces have its vectors.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol, Sequence

import cv2
import numpy as np
import torch

from ..errors import InputError
from .align import ARCFACE_TEMPLATE_112, align_for_arcface, estimate_similarity
from .track import RawTrack, box_iou, link_detections

WINDOW = 8  # vectors averaged at each end of a piece: one frame can be blurred, turned or half hidden
IN_PLACE_IOU = 0.3  # a face back where it left (box overlap with its last box) gets the in-place threshold


class FaceDescriber(Protocol):
    """Turns the faces of one frame into unit vectors whose dot product says "same person"."""

    name: str
    every: int  # describe every n-th searched frame (1: all); a costly model samples
    join: float  # similarity from which two pieces anywhere in the frame are one person
    join_in_place: float  # the same, for a face that came back where it left
    switch_below: float  # frame by frame: below this against the track's recent mean is someone else (0: off)

    def __call__(self, image_u8: np.ndarray, landmarks: np.ndarray) -> np.ndarray:
        """(H, W, 3) uint8 RGB and (K, 5, 2) landmarks -> (K, D) float unit vectors."""
        ...


def _aligned(image: np.ndarray, lm: np.ndarray, scale: float, size: int) -> np.ndarray:
    """The face warped onto the ArcFace template shrunk by ``scale`` about its centre, in a size² image."""
    tpl = ((ARCFACE_TEMPLATE_112 - 56.0) * scale + 56.0) * (size / 112.0)
    M = estimate_similarity(lm, tpl)
    return cv2.warpAffine(image, M, (size, size), flags=cv2.INTER_AREA, borderMode=cv2.BORDER_REPLICATE)


def _unit(v: np.ndarray) -> np.ndarray:
    return v / max(float(np.linalg.norm(v)), 1e-12)


def _hog(gray: np.ndarray, cell: int = 8, bins: int = 9) -> np.ndarray:
    """Histogram of oriented gradients: unsigned orientation, 2x2-cell blocks, L2 per block."""
    g = gray.astype(np.float64)
    gx = cv2.Sobel(g, cv2.CV_64F, 1, 0, ksize=1)
    gy = cv2.Sobel(g, cv2.CV_64F, 0, 1, ksize=1)
    mag = np.hypot(gx, gy)
    pos = (np.arctan2(gy, gx) % np.pi) / np.pi * bins
    lo = np.floor(pos).astype(np.int64) % bins
    frac = pos - np.floor(pos)
    h, w = g.shape
    cells = (np.arange(h)[:, None] // cell) * (w // cell) + np.arange(w)[None, :] // cell
    n_cells = (h // cell) * (w // cell)
    hist = (np.bincount((cells * bins + lo).ravel(), (mag * (1 - frac)).ravel(), n_cells * bins)
            + np.bincount((cells * bins + (lo + 1) % bins).ravel(), (mag * frac).ravel(), n_cells * bins))
    hist = hist.reshape(h // cell, w // cell, bins)
    blocks = np.concatenate([hist[:-1, :-1], hist[1:, :-1], hist[:-1, 1:], hist[1:, 1:]], axis=2)
    blocks /= np.linalg.norm(blocks, axis=2, keepdims=True) + 1e-6
    return blocks.ravel()


class AppearanceDescriber:
    """How a face looks, without a model: half colour, half shape.

    Colour: hue/saturation and value histograms of three horizontal bands (hair, face, neck and collar) of
    a wide crop, square-rooted (Hellinger). Shape: HOG of the aligned, histogram-equalised grey face.
    It tells a returning face from another person in the same video well when the look is kept (hair,
    clothes, light); two people alike in all three can pass for one, so thresholds are strict.
    Measured on real clips (SVFR demo lq1/lq3, carphone, the six faces of insightface's t1.jpg, astronaut):
    the same person's piece ends 0.94-0.98 (a heavily compressed, turning clip 0.87), two people <= 0.86;
    one frame against the mean of the 8 before it: the same person >= 0.87, another person <= 0.76.
    """

    name = "appearance"
    every = 1
    join = 0.90
    join_in_place = 0.86
    switch_below = 0.80

    def __call__(self, image_u8: np.ndarray, landmarks: np.ndarray) -> np.ndarray:
        image = np.ascontiguousarray(image_u8[..., :3]) if image_u8.ndim == 3 else np.repeat(
            image_u8[..., None], 3, axis=2)
        out = [self._one(image, np.asarray(lm, np.float64)) for lm in np.asarray(landmarks).reshape(-1, 5, 2)]
        return np.stack(out) if out else np.zeros((0, self.dim), np.float32)

    dim = 3 * (12 * 4 + 8) + 7 * 7 * 36

    def _one(self, image: np.ndarray, lm: np.ndarray) -> np.ndarray:
        wide = cv2.cvtColor(_aligned(image, lm, 0.5, 48), cv2.COLOR_RGB2HSV)
        colour = []
        for band in np.array_split(wide, 3, axis=0):
            band = np.ascontiguousarray(band)
            hs = cv2.calcHist([band], [0, 1], None, [12, 4], [0, 180, 0, 256]).ravel()
            v = cv2.calcHist([band], [2], None, [8], [0, 256]).ravel()
            colour += [hs / max(hs.sum(), 1.0), v / max(v.sum(), 1.0)]
        colour = _unit(np.sqrt(np.concatenate(colour)))
        face = cv2.equalizeHist(cv2.cvtColor(_aligned(image, lm, 1.0, 64), cv2.COLOR_RGB2GRAY))
        shape = _unit(np.sqrt(_hog(face)))
        # Equal weights: the dot product of the joined vector is the mean of the two similarities.
        return (np.concatenate([colour, shape]) / np.sqrt(2.0)).astype(np.float32)


REID_CHOICES = ("auto", "arcface", "appearance", "off")
# What a face step without the SVFR models can offer (Face Crop node, ``crop`` command): no ArcFace there.
REID_WITHOUT_MODEL = ("appearance", "off")


class ArcFaceDescriber:
    """Face describer from SVFR's own ArcFace (``networks.arcface.IResNet``): the 512-d embedding, unit length, so a
    person who left the frame joins their earlier track by who they are, not how they look.

    The thresholds are insightface's usual cosine range for one person (Glint360K IResNet-100: the same
    person mostly 0.4-0.8 across pose and light, two people below 0.2); they were not measured on SVFR's
    file here (the real weights are not available to the tests). ``every``: frames between embeddings
    (default 1 on a GPU, 10 on the CPU, where one face costs about 0.2 s).
    """

    name = "arcface"
    join = 0.35
    join_in_place = 0.25
    switch_below = 0.0  # sampled frames: the appearance describer watches every frame for switches

    def __init__(self, arcface, every: int | None = None):
        if arcface is None:
            raise InputError("ArcFaceDescriber needs the ArcFace model (insightface_glint360k.pth)")
        self.arcface = arcface
        device = arcface.conv1.weight.device
        self.every = int(every) if every is not None else (1 if device.type == "cuda" else 10)
        if self.every < 1:
            raise InputError(f"every={every}: must be >= 1")

    @torch.no_grad()
    def __call__(self, image_u8: np.ndarray, landmarks: np.ndarray) -> np.ndarray:
        lms = np.asarray(landmarks, np.float64).reshape(-1, 5, 2)
        rows, ok = [], []
        for lm in lms:
            try:
                rows.append(align_for_arcface(image_u8, lm, crop="corrected").reshape(1, 3, 112, 112))
                ok.append(True)
            except InputError:  # a face mostly off the frame: no vector (zeros), the others still count
                ok.append(False)
        out = np.zeros((len(lms), self.arcface.features.num_features), np.float32)
        if rows:
            w = self.arcface.conv1.weight
            emb, _ = self.arcface(torch.cat(rows).to(w.device, w.dtype), return_features=True)
            out[np.asarray(ok)] = torch.nn.functional.normalize(emb.float(), dim=1).cpu().numpy()
        return out


def describers_for(reid, arcface=None) -> tuple:
    """The ``reid`` option -> the describers that see each face, in order of preference.

    "auto": ArcFace when ``arcface`` (the model set's IResNet) is given, else appearance; "arcface" insists on
    it; "appearance"; "off" (None/False too: a face is taken back only where it left). A list of describers is
    used as given. Appearance is always added as the fallback for pieces too short to have been sampled by
    a costly describer.
    """
    if reid is None or reid is False:
        return ()
    if isinstance(reid, str):
        key = reid.strip().lower()
        if key not in REID_CHOICES:
            raise InputError(f"reid must be one of {', '.join(REID_CHOICES)}, got {reid!r}")
        if key == "off":
            return ()
        if key == "arcface" and arcface is None:
            raise InputError("reid='arcface' needs the ArcFace model (insightface_glint360k.pth beside the SVFR "
                             "models); use reid='auto' to fall back to appearance")
        found = (ArcFaceDescriber(arcface),) if key in ("auto", "arcface") and arcface is not None else ()
    else:
        found = tuple(reid)
        if not found:  # what describers_for("off") returns, passed on: off
            return ()
    for d in found:
        if not callable(d) or not all(hasattr(d, a) for a in ("name", "every", "join", "join_in_place",
                                                                "switch_below")):
            raise InputError(f"reid: {d!r} is not a face describer (needs name, every, join, join_in_place, "
                             "switch_below and a __call__(image, landmarks))")
    if not any(d.name == AppearanceDescriber.name for d in found):
        found += (AppearanceDescriber(),)
    return found


@dataclass
class Joined:
    """Why two pieces became one track (for the record's notes)."""
    first: tuple[int, int]
    second: tuple[int, int]
    by: str
    similarity: float
    in_place: bool

    def __str__(self) -> str:
        where = "where it left" if self.in_place else "elsewhere"
        return (f"face of frames {self.first[0]}-{self.first[1]} re-joined by frames {self.second[0]}-"
                f"{self.second[1]} ({self.by} similarity {self.similarity:.2f}, back {where})")


def link_pieces(detections: dict, descriptors: dict, describers: Sequence[FaceDescriber], *,
                max_gap: int) -> list[RawTrack]:
    """``link_detections`` for re-identification: a long absence always ends a piece, and the first
    describer that sees every frame (appearance) stops a track from passing to another person in place."""
    watch = next((d for d in describers if d.every == 1 and d.switch_below > 0), None)
    return link_detections(detections, max_gap=max_gap, relink_iou=None,
                           vectors=descriptors.get(watch.name) if watch is not None else None,
                           switch_below=watch.switch_below if watch is not None else 0.0, window=WINDOW)


def _ends(track: RawTrack, vectors: dict[int, np.ndarray]) -> tuple[np.ndarray, np.ndarray] | None:
    """Mean unit vector of the first and of the last WINDOW described detections, or None if none."""
    rows = [vectors[f][i] for f, i in zip(track.frames, track.ids) if f in vectors and i < len(vectors[f])]
    if not rows:
        return None
    rows = np.asarray(rows, np.float64)
    rows = rows[np.linalg.norm(rows, axis=1) > 0.5]  # a describer gives zeros for a face it cannot see
    if not len(rows):
        return None
    return _unit(rows[:WINDOW].mean(0)), _unit(rows[-WINDOW:].mean(0))


def rejoin_tracks(tracks: Sequence[RawTrack], descriptors: dict[str, dict[int, np.ndarray]],
                  describers: Sequence[FaceDescriber]) -> tuple[list[RawTrack], list[Joined]]:
    """Join pieces of one person (see the module docstring). ``descriptors[name][frame]``: that frame's
    (K, D) vectors, rows in the detector's order. Returns the joined tracks (each piece start after the first
    marked in ``RawTrack.breaks``, so nothing is interpolated across the absence) and why each joined.
    Describers are tried in the given order of preference; a pair uses the first both pieces have."""
    n = len(tracks)
    ends = {d.name: [_ends(t, descriptors.get(d.name, {})) for t in tracks] for d in describers}
    candidates = []
    for a in range(n):
        for b in range(n):
            if a == b or tracks[a].frames[-1] >= tracks[b].frames[0]:
                continue  # b must start after a ended
            for d in describers:
                ea, eb = ends[d.name][a], ends[d.name][b]
                if ea is None or eb is None:
                    continue
                sim = float(ea[1] @ eb[0])
                in_place = bool(box_iou(tracks[a].boxes[-1], tracks[b].boxes[0])[0, 0] >= IN_PLACE_IOU)
                need = d.join_in_place if in_place else d.join
                if sim >= need:
                    candidates.append((sim - need, a, b, d.name, sim, in_place))
                break  # the preferred describer decides, also when it says "not the same"
    group = list(range(n))  # union-find over pieces

    def root(i: int) -> int:
        while group[i] != i:
            group[i] = group[group[i]]
            i = group[i]
        return i

    members = {i: [i] for i in range(n)}
    joined: list[Joined] = []
    for _margin, a, b, by, sim, in_place in sorted(candidates, key=lambda c: -c[0]):  # most certain first
        ra, rb = root(a), root(b)
        if ra == rb:
            continue
        spans = [(tracks[i].frames[0], tracks[i].frames[-1]) for i in members[ra] + members[rb]]
        spans.sort()
        if any(s[0] <= p[1] for p, s in zip(spans, spans[1:])):
            continue  # the two would be in the frame at the same time: two people
        group[rb] = ra
        members[ra] += members.pop(rb)
        joined.append(Joined((tracks[a].frames[0], tracks[a].frames[-1]), (tracks[b].frames[0], tracks[b].frames[-1]),
                             by, sim, in_place))
    out = []
    for r in sorted(members, key=lambda r: min(tracks[i].frames[0] for i in members[r])):
        pieces = sorted(members[r], key=lambda i: tracks[i].frames[0])
        merged = RawTrack()
        for i in pieces:
            t = tracks[i]
            if merged.frames:
                merged.breaks.add(t.frames[0])
            merged.breaks |= t.breaks
            for f, box, lm, score, k in zip(t.frames, t.boxes, t.landmarks, t.scores, t.ids):
                merged.add(f, box, lm, score, k)
        out.append(merged)
    return out, joined
