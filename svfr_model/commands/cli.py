"""Command line: ``python -m svfr_model <command> ...``.

Each command lives in ``svfr_model/commands/<name>.py`` and exposes
``register(subparsers)`` which adds its parser and sets ``func`` (called with the parsed args,
returns an exit code). Imports stay inside the commands so ``--help`` is fast.
"""
from __future__ import annotations

import argparse
import contextlib
import importlib
import sys
import warnings

from ..errors import SVFRError, SVFRWarning, Words

COMMAND_MODULES = ("restore", "batch", "convert", "faces", "download", "memory")
# An engine option whose flag is not ``--`` + its name with dashes.
OPTION_FLAGS = {"mode": "--crop-mode"}
# Engine values a flag spells otherwise (``--max-side 0`` is "no downscaling", the engine's None).
FLAG_VALUES = {("max_side", None): "0"}
# Settings a command spells with another flag (``restore``/``batch`` say what to do without a face, as the node's
# if_no_face does; ``crop`` has the switch --allow-no-face).
SETTING_FLAGS = {("allow_no_face", True): ("--if-no-face", "pass-through")}


def flag_for(option: str) -> str:
    """The command-line flag of an engine option (``window`` -> ``--window``), for error messages."""
    return OPTION_FLAGS.get(option, "--" + option.replace("_", "-"))


class FlagWords(Words):
    """Engine options said as one command's flags. ``parser``: that command's parser, so a hint naming a
    flag the command lacks is left out (``restore`` has no ``--max-side``); None: every option has a flag."""

    def __init__(self, parser: argparse.ArgumentParser | None = None):
        self.actions = dict(parser._option_string_actions) if parser is not None else None
        if self.actions is not None and "--crop-mode" not in self.actions and "--mode" in self.actions:
            self.flags = {"mode": "--mode"}  # the crop command calls the face mode --mode
        else:
            self.flags = {}

    def name(self, option: str) -> str | None:
        flag = self.flags.get(option) or flag_for(option)
        return flag if self.actions is None or flag in self.actions else None

    def value(self, option: str, value) -> str:
        return FLAG_VALUES.get((option, value), str(value))

    def setting(self, option: str, value) -> str | None:
        other = SETTING_FLAGS.get((option, value)) if not isinstance(value, (list, dict)) else None
        if other is not None and (self.actions is None or other[0] in self.actions):
            return " ".join(other)
        flag = self.name(option)
        if flag is None:
            return None
        if isinstance(value, bool):  # a switch: only "on" can be typed
            return flag if value else None
        return f"{flag} {self.value(option, value)}"


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


def command_parser(parser: argparse.ArgumentParser, command: str) -> argparse.ArgumentParser | None:
    """The sub-parser of ``command`` (its flags are the words its errors use)."""
    for action in parser._subparsers._group_actions if parser._subparsers else ():
        if isinstance(action, argparse._SubParsersAction) and command in action.choices:
            return action.choices[command]
    return None


@contextlib.contextmanager
def warnings_in(words: Words):
    """The engine's warnings (``SVFRWarning``) printed as ``warning: ...`` in ``words``; others as usual."""
    shown = warnings.showwarning

    def show(message, category, filename, lineno, file=None, line=None):
        if isinstance(message, SVFRWarning):
            print(f"warning: {message.worded(words)}", file=sys.stderr)
        else:
            shown(message, category, filename, lineno, file, line)

    warnings.showwarning = show
    try:
        yield
    finally:
        warnings.showwarning = shown


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    words = FlagWords(command_parser(parser, args.command))  # the flags of the command typed
    try:
        with warnings_in(words):
            return int(args.func(args) or 0)
    except SVFRError as exc:
        print(f"error: {exc.worded(words)}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
