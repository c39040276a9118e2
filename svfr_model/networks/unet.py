"""The SVFR denoising UNet: diffusers' stock ``UNetSpatioTemporalConditionModel`` with 12 input channels.

Why the stock class is the official function (spec §2.2): the official ``UNet3DConditionSVDModel`` has the
same 1428 parameters; it differs only in taking per-frame identity tokens (B*F, 49, 1024) and giving the
temporal attention the frame-MEAN of a window's tokens, where diffusers repeats (B, 49, 1024) over the frames
and uses frame 0's tokens. SVFR gives every frame of a window the same tokens (zeros, or the reference's
ArcFace tokens), so mean == frame 0 and passing (B, 49, 1024) to the stock class computes the same thing
(checked against the official one-call trace in tests/svfr_model/diffusion/test_parity.py).

Channel order of the 12-channel input: [scaled noisy latents | LQ latents (unscaled) | reference latent
(unscaled) or zeros].
"""
from __future__ import annotations

from pathlib import Path
from typing import Any, Mapping

import torch

from .configs import default_unet_config, read_config

SVFR_IN_CHANNELS = 12
SVD_IN_CHANNELS = 8


def build_unet(config: Mapping[str, Any] | str | Path | None = None, *, device: str | torch.device = "cpu",
               dtype: torch.dtype = torch.float32):
    """Build the 12-channel SVFR UNet from an SVD-xt style config (weights uninitialised on ``meta``).

    ``in_channels`` of the config (8 in the SVD-xt file) is replaced by 12, as infer.py does.
    """
    from diffusers import UNetSpatioTemporalConditionModel

    if config is None:
        config = default_unet_config()
    elif isinstance(config, (str, Path)):
        config = read_config(config)
    cfg = {k: v for k, v in dict(config).items() if not k.startswith("_")}
    cfg["in_channels"] = SVFR_IN_CHANNELS
    with torch.device(device):
        unet = UNetSpatioTemporalConditionModel.from_config(cfg)
    unet.requires_grad_(False)
    unet.eval()
    if dtype != torch.float32 and str(device) != "meta":
        torch.nn.Module.to(unet, dtype=dtype)
    return unet


def unet_mismatch_hint(missing: list[str], unexpected: list[str], mismatched: list[str]) -> str | None:
    """Likely cause of a failed strict load of ``unet.pth`` (for checkpoints.load_strict)."""
    for m in mismatched:
        if m.startswith("conv_in.weight") and f", {SVD_IN_CHANNELS}, 3, 3]" in m.split(" vs ")[0]:
            return ("a plain SVD UNet was given instead of SVFR's unet.pth (conv_in has 8 input channels; "
                    "SVFR's has 12). Use face_restoration/unet.pth from the SVFR release.")
    if unexpected and all(k.startswith(("model.diffusion_model.", "first_stage_model.", "conditioner."))
                          for k in unexpected[:20]):
        return ("this is an original-format (single-file) SVD checkpoint, not SVFR's unet.pth; "
                "use face_restoration/unet.pth from the SVFR release.")
    if any(k.startswith("module.") for k in unexpected[:20]):
        return "keys carry a 'module.' prefix (saved from DataParallel); strip it or convert the file."
    if mismatched:
        return ("the UNet config does not match the weights: use the SVD-xt unet/config.json "
                "(block_out_channels [320, 640, 1280, 1280]).")
    return None
