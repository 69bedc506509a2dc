"""Training-only augmentation, applied to whole batches of fitted images in [0, 1].

Geometry: one random affine per image (rotation, scale, aspect, translation, horizontal flip)
done with ``affine_grid``/``grid_sample``, so it costs little next to the network. Intensity:
gamma, contrast and brightness jitter, and a little Gaussian noise, so that the model cannot
lean on one scanner's contrast. Everything draws from the given generator, so a seeded run
repeats exactly.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F


@dataclass(frozen=True)
class AugmentConfig:
    """Ranges of the random transforms; ``AugmentConfig.none()`` disables them all."""

    rotate_degrees: float = 15.0
    scale: tuple[float, float] = (0.85, 1.15)
    aspect: float = 0.08
    translate: float = 0.08
    hflip: float = 0.5
    gamma: float = 0.35
    contrast: float = 0.2
    brightness: float = 0.1
    noise_std: float = 0.03

    @classmethod
    def none(cls) -> AugmentConfig:
        """No augmentation at all (for tests that need to overfit exactly)."""
        return cls(0.0, (1.0, 1.0), 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0)


def _uniform(n: int, low: float, high: float, generator: torch.Generator) -> torch.Tensor:
    return low + (high - low) * torch.rand(n, generator=generator)


def random_affine(n: int, config: AugmentConfig, generator: torch.Generator) -> torch.Tensor:
    """(n, 2, 3) affine matrices in ``affine_grid``'s normalised coordinates (output → input)."""
    angle = _uniform(n, -config.rotate_degrees, config.rotate_degrees, generator) * math.pi / 180
    scale = _uniform(n, config.scale[0], config.scale[1], generator)
    aspect = torch.exp(_uniform(n, -config.aspect, config.aspect, generator))
    flip = torch.where(torch.rand(n, generator=generator) < config.hflip, -1.0, 1.0)
    shift = _uniform(2 * n, -config.translate, config.translate, generator).view(n, 2) * 2
    sx, sy = 1 / (scale * aspect), aspect / scale
    cos, sin = torch.cos(angle), torch.sin(angle)
    theta = torch.zeros(n, 2, 3)
    theta[:, 0, 0] = cos * sx * flip
    theta[:, 0, 1] = -sin * sy
    theta[:, 1, 0] = sin * sx * flip
    theta[:, 1, 1] = cos * sy
    theta[:, :, 2] = shift
    return theta


def augment_batch(images: torch.Tensor, config: AugmentConfig, generator: torch.Generator) -> torch.Tensor:
    """Apply random geometry and intensity transforms to a (N, 1, S, S) batch in [0, 1]."""
    n = images.shape[0]
    theta = random_affine(n, config, generator)
    grid = F.affine_grid(theta, list(images.shape), align_corners=False)
    out = F.grid_sample(images, grid, mode="bilinear", padding_mode="zeros", align_corners=False)
    gamma = torch.exp(_uniform(n, -config.gamma, config.gamma, generator)).view(n, 1, 1, 1)
    out = out.clamp(0.0, 1.0).pow(gamma)
    contrast = (1 + _uniform(n, -config.contrast, config.contrast, generator)).view(n, 1, 1, 1)
    brightness = _uniform(n, -config.brightness, config.brightness, generator).view(n, 1, 1, 1)
    out = out * contrast + brightness * (out > 0.02)
    if config.noise_std > 0:
        sigma = _uniform(n, 0.0, config.noise_std, generator).view(n, 1, 1, 1)
        out = out + sigma * torch.randn(out.shape, generator=generator)
    return out.clamp(0.0, 1.0)
