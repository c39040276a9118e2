"""Where SVFR model sets are looked for, and the loader's folder list.

Places, in order:

* ``models/svfr`` (key ``svfr``; extra_model_paths.yaml may add more): entries keep their bare names
  (``.`` = the folder itself, else a sub-folder), as saved workflows use them;
* ``models/SVFR`` and whatever earlier SVFR packs registered under the key ``SVFR`` (Linux is
  case-sensitive, so that is another folder): entries say where they came from, e.g.
  ``. (models/SVFR)`` or ``SVFR-main (models/SVFR)``.

A folder counts when it holds (part of) a model set in any layout ``svfr_model.weights.model_files`` reads: the
official one (``face_restoration/``, ``stable-video-diffusion-img2vid-xt/``), a cloned SVFR repository
(the same two under ``models/``), or the files side by side. Partial sets are listed too, so the
loader can say what is missing. Loading always goes through ``svfr_model.weights.model_files``.
"""
from __future__ import annotations

import os

FOLDER_KEY = "svfr"
LEGACY_KEY = "SVFR"  # earlier SVFR packs register models/SVFR under this key
ROOT_CHOICE = "."
_SVD = "stable-video-diffusion-img2vid-xt"
_LAYOUT_MARKERS = ("face_restoration", _SVD, "models/face_restoration", f"models/{_SVD}",
                   "unet.pth", "unet.safetensors", "id_linear.pth", "id_linear.safetensors")
# Sub-folders that are pieces of a layout, never a model set of their own.
_LAYOUT_PARTS = {"face_restoration", _SVD, "face_align", "vae", "unet", "scheduler", "models"}


def register_model_folder() -> None:
    """Register ``models/svfr`` under the key ``svfr`` (idempotent; extra_model_paths.yaml may add more)."""
    import folder_paths

    default = os.path.join(folder_paths.models_dir, FOLDER_KEY)
    if FOLDER_KEY not in folder_paths.folder_names_and_paths:
        folder_paths.folder_names_and_paths[FOLDER_KEY] = ([default], set())
    elif default not in folder_paths.folder_names_and_paths[FOLDER_KEY][0]:
        folder_paths.add_model_folder_path(FOLDER_KEY, default, is_default=True)


def svfr_paths() -> list[str]:
    """The ``svfr`` key's folders (the primary places)."""
    import folder_paths

    register_model_folder()
    return list(folder_paths.get_folder_paths(FOLDER_KEY))


def _identity(path: str):
    """Same folder, whatever the spelling (a case-insensitive file system makes models/SVFR == models/svfr)."""
    try:
        st = os.stat(path)
        return (st.st_dev, st.st_ino)
    except OSError:
        return os.path.normcase(os.path.realpath(path))


def _label(path: str) -> str:
    import folder_paths

    base = os.path.abspath(folder_paths.base_path)
    full = os.path.abspath(path)
    return os.path.relpath(full, base).replace(os.sep, "/") if full.startswith(base + os.sep) else full


def model_bases() -> list[tuple[str, str | None]]:
    """(folder, source label or None for the primary ``svfr`` folders), each folder once."""
    import folder_paths

    seen, out = set(), []
    legacy = [os.path.join(folder_paths.models_dir, LEGACY_KEY)]
    legacy += list(folder_paths.folder_names_and_paths.get(LEGACY_KEY, ([], set()))[0])
    for path, primary in [(p, True) for p in svfr_paths()] + [(p, False) for p in legacy]:
        if not primary and not os.path.isdir(path):
            continue
        ident = _identity(path)
        if ident in seen:
            continue
        seen.add(ident)
        out.append((path, None if primary else _label(path)))
    return out


def looks_like_svfr(path: str) -> bool:
    return any(os.path.exists(os.path.join(path, m)) for m in _LAYOUT_MARKERS)


def _entries() -> list[tuple[str, str]]:
    """(choice, folder) in list order; the first primary folder with a set answers the bare '.'."""
    primary_root = None
    out: list[tuple[str, str]] = []
    names: set[str] = set()
    for base, label in model_bases():
        if not os.path.isdir(base):
            continue
        if label is None:
            if primary_root is None and looks_like_svfr(base):
                primary_root = base
        elif looks_like_svfr(base):
            out.append((f"{ROOT_CHOICE} ({label})", base))
        for name in sorted(os.listdir(base)):
            sub = os.path.join(base, name)
            if name in _LAYOUT_PARTS or not os.path.isdir(sub) or not looks_like_svfr(sub):
                continue
            choice = name if label is None else f"{name} ({label})"
            if choice not in names:
                names.add(choice)
                out.append((choice, sub))
    return out


def model_folder_choices() -> list[str]:
    """'.' (a model set directly in models/svfr) first, then every other folder holding an SVFR layout."""
    return [ROOT_CHOICE] + [c for c, _ in _entries()]


def resolve_model_folder(choice: str) -> str:
    """Absolute folder for a list entry; for '.', the first svfr path that holds a model set."""
    from svfr_model.errors import WeightsError

    bases = svfr_paths()
    if choice == ROOT_CHOICE:
        return next((b for b in bases if os.path.isdir(b) and looks_like_svfr(b)), bases[0])
    for entry, folder in _entries():
        if entry == choice:
            return folder
    for base in bases:  # a folder created since the list was built
        candidate = os.path.join(base, choice)
        if os.path.isdir(candidate):
            return candidate
    places = ", ".join(b for b, _ in model_bases())
    raise WeightsError(
        f"model_folder '{choice}' was not found in any svfr model folder ({places}). "
        "Put the SVFR files in models/svfr/<folder>/ and refresh the node list (press 'r')."
    )
