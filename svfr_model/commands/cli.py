"""Command line: ``python -m svfr_model <command> ...``.

Each command lives in ``svfr_model/commands/<name>.py`` and exposes
``register(subparsers)`` which adds its parser and sets ``func`` (called with the parsed args,
returns an exit code). Imports stay inside the commands so ``--help`` is fast.
"""
from __future__ import annotations

import argparse
import importlib
import sys

from ..errors import OptionError, SVFRError

COMMAND_MODULES = ("restore", "batch", "convert", "faces", "download", "memory")
# An engine option whose flag is not ``--`` + its name with dashes.
OPTION_FLAGS = {"mode": "--crop-mode"}


def flag_for(option: str) -> str:
    """The command-line flag of an engine option (``window`` -> ``--window``), for error messages."""
    return OPTION_FLAGS.get(option, "--" + option.replace("_", "-"))


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m svfr_model",
        description="SVFR video face restoration: restore, crop/paste faces, convert weights.",
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for name in COMMAND_MODULES:
        try:
            module = importlib.import_module(f"svfr_model.commands.{name}")
        except ModuleNotFoundError as exc:
            if exc.name == f"svfr_model.commands.{name}":
                continue  # command not built yet
            raise
        module.register(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return int(args.func(args) or 0)
    except OptionError as exc:  # worded with the flags the user typed
        print(f"error: {exc.worded(flag_for)}", file=sys.stderr)
        return 2
    except SVFRError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
