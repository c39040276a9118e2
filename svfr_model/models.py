"""Old name of ``svfr_model.weights.models`` (the README's API before the staged layout); kept for one release."""
import warnings

from .weights.models import load_svfr_models, SVFRModels, load_unet  # noqa: F401

warnings.warn("svfr_model.models is now svfr_model.weights.models; the old name will be removed in the next release",
              DeprecationWarning, stacklevel=2)
