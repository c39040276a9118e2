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
