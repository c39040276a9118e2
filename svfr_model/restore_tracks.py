"""Old name of ``svfr_model.restore.tracks`` (the README's API before the staged layout); kept for one release."""
import warnings

from .restore.tracks import restore_tracks, StreamedClip  # noqa: F401

warnings.warn("svfr_model.restore_tracks is now svfr_model.restore.tracks; the old name will be removed in the next release",
              DeprecationWarning, stacklevel=2)
