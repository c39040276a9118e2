"""Copy the pack's example inputs (``example_inputs/``) into ComfyUI's input folder, so the example
workflows run as shipped. A file the user already has under that name is never touched."""
from __future__ import annotations

import logging
import os
import shutil
from pathlib import Path

PACK_DIR = Path(__file__).resolve().parents[1]
EXAMPLE_DIR = PACK_DIR / "example_inputs"
log = logging.getLogger("svfr")


def copy_missing(dest: str | os.PathLike, src: str | os.PathLike = EXAMPLE_DIR) -> list[str]:
    """Copy every file of ``src`` missing from ``dest``; returns the names copied.

    Each copy goes to a temporary name first and is then linked to its real name: ``os.link`` fails if
    the name exists, so even a file that appears meanwhile is never overwritten, and no reader ever sees
    a half-written file.
    """
    src, dest = Path(src), Path(dest)
    if not src.is_dir():
        return []
    dest.mkdir(parents=True, exist_ok=True)
    copied = []
    for item in sorted(src.iterdir()):
        target = dest / item.name
        if not item.is_file() or item.name.startswith(".") or os.path.lexists(target):
            continue
        tmp = dest / f".{item.name}.svfr-tmp{os.getpid()}"
        try:
            shutil.copyfile(item, tmp)
            try:
                os.link(tmp, target)
            except FileExistsError:
                continue
            except OSError:  # a file system without hard links: rename (still atomic; checked just above)
                if os.path.lexists(target):
                    continue
                os.replace(tmp, target)
            copied.append(item.name)
        finally:
            if tmp.exists():
                tmp.unlink()
    return copied


def install_into_comfy_input() -> list[str]:
    """At pack load: the example inputs into ``folder_paths.get_input_directory()``. A read-only or
    missing input folder only logs a warning: the nodes work without the examples."""
    try:
        import folder_paths

        copied = copy_missing(folder_paths.get_input_directory())
    except OSError as e:
        log.warning("[SVFR] could not copy the example inputs into ComfyUI's input folder (%s); the example "
                    "workflows need svfr_example.mp4/_mask.png/_reference.png there (from %s)", e, EXAMPLE_DIR)
        return []
    if copied:
        log.info("[SVFR] example inputs copied into the input folder: %s", ", ".join(copied))
    return copied
