"""Exception types with messages meant for users (they name the input and the fix).

An error that names engine options carries its message as a template, so each front end can say it in
its own terms: the Python API its argument names (``window``, ``allow_no_face=True``), the CLI its flags
(``--window``, ``--allow-no-face``), a ComfyUI node its widgets (``'window'``, ``'if_no_face' = 'pass
through'``). In a template ``{option}`` is an option's name and ``{option=VALUE}`` (VALUE a Python
literal) a setting of it. A ``Words`` object does the naming; ``str()`` is always the Python API's wording.
"""
from __future__ import annotations

import ast
import re

PLACEHOLDER = re.compile(r"\{(\w+)(?:=([^{}]*))?\}")


class Words:
    """How a front end names the engine's options; this one is the Python API's (argument names).

    ``name``/``setting`` return None for an option the front end does not offer: a hint that needs it is
    left out (the node has no ``max_side``), and a message that needs it keeps the engine's name.
    """

    def name(self, option: str) -> str | None:
        return option

    def value(self, option: str, value) -> str:
        return repr(value)

    def setting(self, option: str, value) -> str | None:
        return f"{option}={value!r}"


PYTHON = Words()


class _NamedBy(Words):
    """``worded(fn)`` with a plain ``option -> name`` function (the first form of this API)."""

    def __init__(self, fn):
        self.fn = fn

    def name(self, option):
        return self.fn(option)

    def setting(self, option, value):
        name = self.fn(option)
        return None if name is None else f"{name}={value!r}"


def as_words(words) -> Words:
    if words is None:
        return PYTHON
    return words if isinstance(words, Words) else _NamedBy(words)


def say(template: str, words: Words) -> str | None:
    """``template`` in ``words``' terms; None when it names an option those words do not have."""
    missing = []

    def put(match):
        option, literal = match.group(1), match.group(2)
        text = words.name(option) if literal is None else words.setting(option, ast.literal_eval(literal))
        if text is None:
            missing.append(option)
            return match.group(0)
        return text

    text = PLACEHOLDER.sub(put, template)
    return None if missing else text


def options_in(template: str) -> tuple[str, ...]:
    """The option names a template mentions, in order."""
    return tuple(dict.fromkeys(m.group(1) for m in PLACEHOLDER.finditer(template)))


class SVFRError(Exception):
    """Base class for every error the engine raises on purpose.

    ``template``/``hints`` are set when the message names options (``naming``); ``worded(words)`` then says
    it in a front end's terms, hints it cannot say left out. Without them ``worded`` is ``str()``.
    """

    template: str | None = None
    hints: tuple[str, ...] = ()

    @classmethod
    def naming(cls, template: str, *hints: str):
        """An error of this type whose message (``template``) and ``hints`` name options by placeholder."""
        err = cls(_compose(template, hints, PYTHON))
        err.template, err.hints = template, tuple(hints)
        return err

    @property
    def options(self) -> tuple[str, ...]:
        """Every option the message and its hints name (empty for a plain message)."""
        if self.template is None:
            return ()
        return tuple(dict.fromkeys(o for t in (self.template, *self.hints) for o in options_in(t)))

    def worded(self, words=None) -> str:
        """The message in ``words``' terms (a ``Words``, or an ``option -> name`` function)."""
        if self.template is None:
            return str(self)
        return _compose(self.template, self.hints, as_words(words))

    def reworded(self, words) -> "SVFRError":
        """A copy of this error (same type and facts) whose message is ``worded(words)``: what a front end
        re-raises so the user reads its own names."""
        other = self.__class__.__new__(self.__class__)  # not copy.copy: it calls __init__ with args only
        other.__dict__.update(self.__dict__)
        other.args = (self.worded(words),)
        return other


def _compose(template: str, hints, words: Words) -> str:
    # the message itself is always said: an option the front end lacks keeps the engine's name
    text = say(template, words) or say(template, PYTHON)
    said = [h for h in (say(h, words) for h in hints) if h]
    return "; ".join([text, *said])


class WeightsError(SVFRError):
    """A weight file is missing, unreadable, unsafe, or does not match the model."""


class InputError(SVFRError, ValueError):
    """Frames, masks, task vectors or parameters that cannot be used as given."""


class NoFaceError(InputError):
    """No usable face was found where one is required (an input that cannot be used as given)."""


class Cancelled(SVFRError):
    """The caller's cancel check asked the run to stop."""


class OptionError(InputError):
    """An option value that cannot be used: the facts, so each front end can word it in its own terms.

    ``option`` is the engine's name (``window``), ``value`` what was given (None: not repeated),
    ``requirement`` what it must be ("must be an integer >= 1", may name other options as ``{window}``);
    ``hints`` say how to fix it (templates, see the module docstring). ``str()`` uses the engine's names.
    """

    def __init__(self, option: str, value, requirement: str, *, related: tuple[str, ...] = (), hint: str = "",
                 hints: tuple[str, ...] = ()):
        self.option, self.value, self.requirement = option, value, requirement
        self.related = tuple(related)
        self.template = "{" + option + "} " + requirement
        self.hints = tuple(hints) + ((hint,) if hint else ())
        super().__init__(self.worded())

    @property
    def hint(self) -> str:
        return "; ".join(self.hints)

    def worded(self, words=None) -> str:
        words = as_words(words)
        text = say(self.template, words) or say(self.template, PYTHON)
        if self.value is not None:
            text += f", got {words.value(self.option, self.value)}"
        return "; ".join([text, *[h for h in (say(h, words) for h in self.hints) if h]])


class SVFRWarning(UserWarning):
    """A warning whose text names options (a template, like the errors'): each front end words it."""

    def __init__(self, template: str, *hints: str):
        self.template, self.hints = template, tuple(hints)
        super().__init__(_compose(template, hints, PYTHON))

    def worded(self, words=None) -> str:
        return _compose(self.template, self.hints, as_words(words))
