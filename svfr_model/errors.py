"""Exception types with messages meant for users (they name the input and the fix)."""
from __future__ import annotations


class SVFRError(Exception):
    """Base class for every error the engine raises on purpose."""


class WeightsError(SVFRError):
    """A weight file is missing, unreadable, unsafe, or does not match the model."""


class InputError(SVFRError, ValueError):
    """Frames, masks, task vectors or parameters that cannot be used as given."""


class NoFaceError(SVFRError):
    """No usable face was found where one is required."""


class Cancelled(SVFRError):
    """The caller's cancel check asked the run to stop."""


class OptionError(InputError):
    """An option value that cannot be used: the facts, so each front end can word it in its own terms.

    ``option`` is the engine's name (``window``), ``value`` what was given, ``requirement`` what it must be
    ("must be an integer >= 1"). ``str()`` uses the engine's name; ``worded(name)`` puts another name in its
    place: the node says the widget (``window``), the CLI its flag (``--window``). ``related`` names the
    other options a combined rule involves (window and overlap), so each is named the same way.
    """

    def __init__(self, option: str, value, requirement: str, *, related: tuple[str, ...] = (), hint: str = ""):
        self.option, self.value, self.requirement = option, value, requirement
        self.related, self.hint = tuple(related), hint
        super().__init__(self.worded())

    def worded(self, name=None) -> str:
        """The message with each option called ``name(option)`` (default: the engine's names)."""
        name = name or (lambda option: option)
        text = f"{name(self.option)} {self.requirement.format(**{r: name(r) for r in self.related})}"
        if self.value is not None:
            text += f", got {self.value!r}"
        return text + (f"; {self.hint}" if self.hint else "")
