"""ArcFace IResNet-100 (insightface ``arcface_torch`` layout) in plain torch, for SVFR identity tokens.

Key names and shapes equal the official ``insightface_glint360k.pth`` (925 keys incl. BatchNorm buffers).
SVFR only uses the layer4 output before ``bn2``: (B, 512, 7, 7) for a 112x112 input in [-1, 1].
The embedding head (bn2 -> flatten -> dropout(0) -> fc 25088->512 -> BN1d) is kept so the official file
loads strictly, and runs only when asked for.
"""
from __future__ import annotations


import torch
from torch import nn

from ..errors import InputError

BN_EPS = 1e-5
IRESNET100_LAYERS = (3, 13, 30, 3)


def _conv3x3(cin: int, cout: int, stride: int = 1) -> nn.Conv2d:
    return nn.Conv2d(cin, cout, kernel_size=3, stride=stride, padding=1, bias=False)


class IBasicBlock(nn.Module):
    """bn1 -> conv3x3 -> bn2 -> PReLU -> conv3x3(stride) -> bn3, plus identity or downsample."""

    def __init__(self, inplanes: int, planes: int, stride: int = 1, downsample: nn.Module | None = None):
        super().__init__()
        self.bn1 = nn.BatchNorm2d(inplanes, eps=BN_EPS)
        self.conv1 = _conv3x3(inplanes, planes)
        self.bn2 = nn.BatchNorm2d(planes, eps=BN_EPS)
        self.prelu = nn.PReLU(planes)
        self.conv2 = _conv3x3(planes, planes, stride)
        self.bn3 = nn.BatchNorm2d(planes, eps=BN_EPS)
        self.downsample = downsample

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.bn3(self.conv2(self.prelu(self.bn2(self.conv1(self.bn1(x))))))
        identity = x if self.downsample is None else self.downsample(x)
        return out + identity


class IResNet(nn.Module):
    """IResNet for 112x112 faces. ``layers=(3, 13, 30, 3)`` is iresnet100 (SVFR's ArcFace)."""

    fc_scale = 7 * 7

    def __init__(self, layers=IRESNET100_LAYERS, num_features: int = 512, widths=(64, 128, 256, 512)):
        super().__init__()
        self.inplanes = 64
        self.conv1 = nn.Conv2d(3, 64, kernel_size=3, stride=1, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(64, eps=BN_EPS)
        self.prelu = nn.PReLU(64)
        self.layer1 = self._make_layer(widths[0], layers[0])
        self.layer2 = self._make_layer(widths[1], layers[1])
        self.layer3 = self._make_layer(widths[2], layers[2])
        self.layer4 = self._make_layer(widths[3], layers[3])
        self.bn2 = nn.BatchNorm2d(widths[3], eps=BN_EPS)
        self.dropout = nn.Dropout(p=0.0)
        self.fc = nn.Linear(widths[3] * self.fc_scale, num_features)
        self.features = nn.BatchNorm1d(num_features, eps=BN_EPS)
        self.eval()

    def _make_layer(self, planes: int, blocks: int) -> nn.Sequential:
        # every stage starts with a stride-2 block, so the first one always needs a downsample
        downsample = nn.Sequential(
            nn.Conv2d(self.inplanes, planes, kernel_size=1, stride=2, bias=False),
            nn.BatchNorm2d(planes, eps=BN_EPS),
        )
        mods = [IBasicBlock(self.inplanes, planes, 2, downsample)]
        self.inplanes = planes
        mods += [IBasicBlock(planes, planes) for _ in range(1, blocks)]
        return nn.Sequential(*mods)

    def forward(self, x: torch.Tensor, return_features: bool = False):
        """(B, 3, 112, 112) in [-1, 1] -> layer4 map (B, 512, 7, 7); with ``return_features`` also
        the 512-d embedding, as ``(features, layer4)`` like the official forward."""
        if x.ndim != 4 or x.shape[1] != 3 or tuple(x.shape[2:]) != (112, 112):
            raise InputError(f"ArcFace input must be (B, 3, 112, 112), got {tuple(x.shape)}; "
                             "use faces.align.align_for_arcface to make it")
        x = x.to(self.conv1.weight.dtype)
        x = self.prelu(self.bn1(self.conv1(x)))
        x = self.layer4(self.layer3(self.layer2(self.layer1(x))))
        if not return_features:
            return x
        emb = self.features(self.fc(self.dropout(torch.flatten(self.bn2(x), 1))))
        return emb, x


def iresnet100() -> IResNet:
    return IResNet(IRESNET100_LAYERS)


def arcface_mismatch_hint(missing, unexpected, mismatched):
    if unexpected and all(k.startswith("module.") for k in unexpected):
        return "keys carry a 'module.' prefix (saved from DataParallel); strip it, e.g. with the convert command"
    if any(k.startswith(("project1024", "final_norm")) for k in unexpected):
        return "this is id_linear.pth; the ArcFace file is insightface_glint360k.pth"
    if any(k.startswith(("conv_in", "down_blocks")) for k in unexpected):
        return "this is a UNet checkpoint; the ArcFace file is insightface_glint360k.pth"
    if any(k.startswith(("layer2.", "layer3.")) for k in missing + unexpected):
        return ("the block count differs: SVFR needs the iresnet100 (Glint360K) backbone, "
                "not r18/r34/r50 or another architecture")
    return None
