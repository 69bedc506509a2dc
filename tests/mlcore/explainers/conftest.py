"""A hand-built model whose class 0 sees only a region near the top right and class 1 only a region near the
bottom left: maps of any method must light those regions, which catches flipped, transposed or mis-scaled maps."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

from mlcore import artifact

SIZE = 48
REGIONS = {0: (slice(4, 14), slice(30, 44)), 1: (slice(32, 44), slice(4, 16))}  # (rows, cols), not symmetric


class RegionBackbone(nn.Module):
    """Channel k = the input inside region k, zero elsewhere."""

    def __init__(self) -> None:
        super().__init__()
        masks = torch.zeros(2, SIZE, SIZE)
        for k, (rows, cols) in REGIONS.items():
            masks[k, rows, cols] = 1.0
        self.register_buffer("masks", masks[None])

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x * self.masks


@pytest.fixture(scope="module")
def region_model() -> torch.jit.ScriptModule:
    head = nn.Sequential(nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(2, 2))
    with torch.no_grad():
        head[2].weight.copy_(torch.eye(2) * 40.0)
        head[2].bias.zero_()
    return artifact.script(RegionBackbone(), head)


def region_image() -> torch.Tensor:
    """Textured foreground on a zero frame: the frame is the background the methods hide to."""
    rng = np.random.default_rng(0)
    image = 1.0 + 0.2 * rng.random((1, 1, SIZE, SIZE), dtype=np.float32)
    image[..., :2, :] = image[..., -2:, :] = image[..., :, :2] = image[..., :, -2:] = 0.0
    return torch.from_numpy(image)
