"""Old name of ``svfr_model.diffusion.passes`` (the README's API before the staged layout); kept for one release."""
import warnings

from .diffusion.passes import restore_video, restore_stream, decode_restored, RestoreResult  # noqa: F401

warnings.warn("svfr_model.pipeline is now svfr_model.diffusion.passes; the old name will be removed in the next release",
              DeprecationWarning, stacklevel=2)
