"""One restore's options: sampling and memory (``diffusion``), faces and paste-back (``faces``).

Built once by a front end and passed down. ``RestoreOptions.build`` takes the flat keyword names every
front end uses (``window``, ``faces``, ``color_match``...) and sends each to its group, so a CLI flag, a
node widget and a Python keyword of the same name mean the same thing.
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field

from ..diffusion.options import FIELDS as SAMPLING_FIELDS
from ..diffusion.options import SamplingOptions
from ..errors import InputError
from ..faces.options import FaceOptions, PasteOptions

FACE_FIELDS = frozenset(f.name for f in dataclasses.fields(FaceOptions))
PASTE_FIELDS = frozenset(f.name for f in dataclasses.fields(PasteOptions))
assert not (SAMPLING_FIELDS & FACE_FIELDS or SAMPLING_FIELDS & PASTE_FIELDS or FACE_FIELDS & PASTE_FIELDS)


@dataclass(frozen=True)
class RestoreOptions:
    sampling: SamplingOptions = field(default_factory=SamplingOptions)
    faces: FaceOptions = field(default_factory=FaceOptions)
    paste: PasteOptions = field(default_factory=PasteOptions)

    @classmethod
    def build(cls, preset: str | None = None, **options) -> "RestoreOptions":
        """From flat keywords (None = not set). ``preset``: the memory preset the sampling options start from."""
        unknown = sorted(set(options) - SAMPLING_FIELDS - FACE_FIELDS - PASTE_FIELDS)
        if unknown:
            raise InputError(f"unknown restore option(s) {', '.join(unknown)}; known: "
                             f"{', '.join(sorted(SAMPLING_FIELDS | FACE_FIELDS | PASTE_FIELDS))}")

        def group(names):
            return {k: v for k, v in options.items() if k in names and v is not None}

        return cls(sampling=SamplingOptions.build(preset, **group(SAMPLING_FIELDS)),
                   faces=FaceOptions(**group(FACE_FIELDS)), paste=PasteOptions(**group(PASTE_FIELDS)))

    def replace(self, **options) -> "RestoreOptions":
        """A copy with flat keywords changed (each sent to its group)."""
        unknown = sorted(set(options) - SAMPLING_FIELDS - FACE_FIELDS - PASTE_FIELDS)
        if unknown:
            raise InputError(f"unknown restore option(s) {', '.join(unknown)}")
        pick = lambda names: {k: v for k, v in options.items() if k in names}  # noqa: E731
        return RestoreOptions(sampling=dataclasses.replace(self.sampling, **pick(SAMPLING_FIELDS)),
                              faces=dataclasses.replace(self.faces, **pick(FACE_FIELDS)),
                              paste=dataclasses.replace(self.paste, **pick(PASTE_FIELDS)))


def options_for_preset(flat: dict, preset: str = "default", models=None) -> RestoreOptions:
    """One run's options from flat keywords and a memory preset: the preset's memory settings, where an
    explicit ``decode_chunk`` / ``encode_chunk`` wins. ``models``: the loaded set the ``auto`` preset is sized
    for (without it: ``default``). Front ends that know their flags before the models load (the CLI, batch
    jobs sent to workers) call it with the same ``flat`` twice: to check, then sized for the models."""
    from ..diffusion.presets import options_for_models

    flat = dict(flat)
    size = flat.get("size") or 512
    memory = options_for_models(preset, models, height=size, width=size, window=flat.get("window") or 16)
    for name in ("decode_chunk", "encode_chunk"):  # an explicit value wins over the preset
        value = flat.pop(name, None)
        if value is not None:
            memory[name] = value
    return RestoreOptions.build(**flat, **memory)


def options_from(options: "RestoreOptions | None", flat: dict) -> RestoreOptions:
    """An entry point's ``options`` argument, or its flat keywords (one or the other)."""
    if options is None:
        return RestoreOptions.build(**flat)
    if not isinstance(options, RestoreOptions):
        raise InputError(f"options must be a RestoreOptions, got {type(options).__name__}")
    if flat:
        raise InputError(f"give the options either as RestoreOptions or as keywords, not both ({', '.join(sorted(flat))})")
    return options


__all__ = ["RestoreOptions", "options_for_preset", "options_from"]
