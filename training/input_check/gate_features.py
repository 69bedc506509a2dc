"""The input gate's features: EfficientNet-Lite0's ImageNet stages, frozen, read at several depths.

"Is this a brain MRI slice at all?" is not the classifier's question: its fine-tuned features keep what tells the four
classes apart and lose what tells a knee from a head. The gate reads the same model input through the *ImageNet*
weights of Lite0's first stages (the registry package the classifier started from, never fine-tuned here), at half
the model's side (cheap: a quarter of the pixels), and pools each tapped depth into its per-channel mean and spread
over space, plus the last map's four quadrants (where things are, not only what). The module is scripted into the
artifact (:mod:`mlcore.input_check.gate` scores its output); it needs neither package at run time.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from training.fit.efficientnet_lite import lite0_backbone, load_imagenet_weights

# After which of the trunk's layers (stem = 0, then the MBConv blocks) features are read: the ends of the stride-4,
# stride-8 and stride-16 stages (24, 40, 80 and 112 channels).
TAPS = (3, 5, 8, 11)
# The model input is averaged over POOL × POOL pixels first: 224 → 112 px.
POOL = 2


class GateFeatures(nn.Module):
    """Model input (N×1×S×S, the manifest's normalisation) → N×D gate features; frozen, eval mode."""

    def __init__(self, trunk: nn.Sequential, mean: float, std: float) -> None:
        super().__init__()
        self.layers = nn.ModuleList(list(trunk))
        self.mean = mean
        self.std = std
        self.taps = list(TAPS)
        self.pool = POOL

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        grey = x * self.std + self.mean
        if self.pool > 1:
            grey = F.avg_pool2d(grey, self.pool)
        h = (grey - 0.5) / 0.5  # Lite's input scaling: (v - 127) / 128 of 8-bit values
        parts: list[torch.Tensor] = []
        for index, layer in enumerate(self.layers):
            h = layer(h)
            if index in self.taps:
                mean = h.mean(dim=(2, 3))
                spread = (h * h).mean(dim=(2, 3)) - mean * mean
                parts.append(mean)
                parts.append(torch.sqrt(torch.clamp(spread, min=1e-6)))
        height, width = h.shape[2], h.shape[3]
        top, left = height // 2, width // 2
        for rows in ((0, top), (height - top, height)):
            for cols in ((0, left), (width - left, width)):
                parts.append(h[:, :, rows[0] : rows[1], cols[0] : cols[1]].mean(dim=(2, 3)))
        return torch.cat(parts, dim=1)


def imagenet_trunk() -> nn.Sequential:
    """Lite0's stem and blocks to stride 16 with their ImageNet weights (the grey stem: RGB kernels summed), frozen."""
    backbone = lite0_backbone(8)
    load_imagenet_weights(backbone)
    trunk = nn.Sequential(*list(backbone)[:-1])
    for parameter in trunk.parameters():
        parameter.requires_grad_(False)
    return trunk.eval()


def gate_features_module(mean: float, std: float) -> GateFeatures:
    """The gate's feature module for a model whose input is normalised with ``mean`` and ``std``."""
    return GateFeatures(imagenet_trunk(), mean, std).eval()
