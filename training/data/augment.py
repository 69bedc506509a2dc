"""Training-only augmentation, applied to whole batches of fitted images in [0, 1].

Geometry: one random affine per image (rotation, scale, aspect, translation, horizontal flip)
done with ``affine_grid``/``grid_sample``, so it costs little next to the network; tumour box
masks, when given, go through the very same grid, so they stay on the tumour. The rest removes
shortcuts that this merged, multi-source dataset offers (scanner, framing, contrast): a random
monotone intensity curve (histogram randomisation), gamma/contrast/brightness jitter, random
border crops (a different field of view), resolution jitter (down- then up-sampling), and noise.
Everything draws from the given generator, so a seeded run repeats exactly.
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
    scale: tuple[float, float] = (0.8, 1.2)
    aspect: float = 0.08
    translate: float = 0.08
    hflip: float = 0.5
    gamma: float = 0.35
    contrast: float = 0.2
    brightness: float = 0.1
    noise_std: float = 0.03
    curve: float = 0.5
    border_crop: float = 0.1
    border_crop_p: float = 0.3
    low_resolution: tuple[float, float] = (0.4, 1.0)
    low_resolution_p: float = 0.3

    @classmethod
    def none(cls) -> AugmentConfig:
        """No augmentation at all (for tests that need to overfit exactly)."""
        return cls(
            rotate_degrees=0.0,
            scale=(1.0, 1.0),
            aspect=0.0,
            translate=0.0,
            hflip=0.0,
            gamma=0.0,
            contrast=0.0,
            brightness=0.0,
            noise_std=0.0,
            curve=0.0,
            border_crop=0.0,
            border_crop_p=0.0,
            low_resolution=(1.0, 1.0),
            low_resolution_p=0.0,
        )


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


def intensity_curve(images: torch.Tensor, strength: float, generator: torch.Generator, knots: int = 6) -> torch.Tensor:
    """Map intensities through a random monotone piecewise-linear curve per image (0 → 0, 1 → 1).

    ``strength`` 0 is the identity; 1 draws the curve's increments freely, which reshapes the
    histogram the way another scanner or protocol would.
    """
    n = images.shape[0]
    if strength <= 0:
        return images
    steps = torch.rand(n, knots, generator=generator) * strength + (1 - strength)
    knots_y = torch.cat([torch.zeros(n, 1), torch.cumsum(steps, 1) / steps.sum(1, keepdim=True)], 1)
    position = images.clamp(0.0, 1.0).view(n, -1) * knots
    index = position.floor().clamp(max=knots - 1).long()
    fraction = position - index
    low, high = knots_y.gather(1, index), knots_y.gather(1, index + 1)
    return (low + fraction * (high - low)).view_as(images)


def _border_crop(images: torch.Tensor, config: AugmentConfig, generator: torch.Generator) -> torch.Tensor:
    n, _, size, _ = images.shape
    crop = (torch.rand(n, 4, generator=generator) * config.border_crop * size).long()
    crop *= (torch.rand(n, 1, generator=generator) < config.border_crop_p).long()
    grid = torch.arange(size)
    rows = (grid[None] >= crop[:, 0:1]) & (grid[None] < size - crop[:, 1:2])
    cols = (grid[None] >= crop[:, 2:3]) & (grid[None] < size - crop[:, 3:4])
    return images * (rows[:, :, None] & cols[:, None, :]).unsqueeze(1).to(images.dtype)


def _low_resolution(images: torch.Tensor, config: AugmentConfig, generator: torch.Generator) -> torch.Tensor:
    size = images.shape[-1]
    low, high = config.low_resolution
    chosen = torch.nonzero(torch.rand(images.shape[0], generator=generator) < config.low_resolution_p).flatten()
    out = images.clone()
    for i in chosen.tolist():
        side = max(8, round(size * float(_uniform(1, low, high, generator))))
        small = F.interpolate(images[i : i + 1], size=(side, side), mode="bilinear", antialias=True)
        out[i : i + 1] = F.interpolate(small, size=(size, size), mode="bilinear")
    return out


def augment_batch(
    images: torch.Tensor,
    config: AugmentConfig,
    generator: torch.Generator,
    masks: torch.Tensor | None = None,
) -> tuple[torch.Tensor, torch.Tensor | None]:
    """Apply random geometry and intensity transforms to a (N, 1, S, S) batch in [0, 1].

    ``masks`` (N, 1, S, S), if given, are box masks moved by the same geometry (nearest
    sampling); returns the augmented images and masks.
    """
    n = images.shape[0]
    theta = random_affine(n, config, generator)
    grid = F.affine_grid(theta, list(images.shape), align_corners=False)
    out = F.grid_sample(images, grid, mode="bilinear", padding_mode="zeros", align_corners=False)
    if masks is not None:
        masks = F.grid_sample(masks.float(), grid, mode="nearest", padding_mode="zeros", align_corners=False)
    out = intensity_curve(out.clamp(0.0, 1.0), config.curve, generator)
    gamma = torch.exp(_uniform(n, -config.gamma, config.gamma, generator)).view(n, 1, 1, 1)
    out = out.pow(gamma)
    contrast = (1 + _uniform(n, -config.contrast, config.contrast, generator)).view(n, 1, 1, 1)
    brightness = _uniform(n, -config.brightness, config.brightness, generator).view(n, 1, 1, 1)
    out = out * contrast + brightness * (out > 0.02)
    if config.border_crop_p > 0:
        out = _border_crop(out, config, generator)
    if config.low_resolution_p > 0:
        out = _low_resolution(out, config, generator)
    if config.noise_std > 0:
        sigma = _uniform(n, 0.0, config.noise_std, generator).view(n, 1, 1, 1)
        out = out + sigma * torch.randn(out.shape, generator=generator)
    return out.clamp(0.0, 1.0), masks
