"""SVFR's identity projector (official ``IDProjConvModel``): ArcFace layer4 map -> 49 tokens of 1024.

(B, 512, 7, 7) -> 1x1 conv (no bias) -> (B, 1024, 7, 7) -> tokens (B, 49, 1024), token = 7*row + col
-> LayerNorm(1024, eps 1e-5). State-dict keys: ``project1024.weight``, ``final_norm.{weight,bias}``.
"""
from __future__ import annotations


import torch
from torch import nn

from ..errors import InputError


class IDProjector(nn.Module):
    def __init__(self, in_channels: int = 512, out_channels: int = 1024):
        super().__init__()
        self.project1024 = nn.Conv2d(in_channels, out_channels, kernel_size=1, bias=False)
        self.final_norm = nn.LayerNorm(out_channels, eps=1e-5)

    def forward(self, feature: torch.Tensor) -> torch.Tensor:
        if feature.ndim != 4 or feature.shape[1] != self.project1024.in_channels:
            raise InputError(
                f"identity feature must be (B, {self.project1024.in_channels}, H, W) (ArcFace layer4), "
                f"got shape {tuple(feature.shape)}"
            )
        x = self.project1024(feature.to(self.project1024.weight.dtype))
        x = x.flatten(2).transpose(1, 2)
        return self.final_norm(x)


def id_projector_mismatch_hint(missing, unexpected, mismatched):
    if any(k.startswith(("conv_in", "down_blocks", "layer1", "conv1")) for k in unexpected):
        return "this looks like a different SVFR file (unet.pth or insightface_glint360k.pth); pass id_linear.pth"
    return None
