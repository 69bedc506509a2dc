"""THE eval preprocessing: the one path from a decoded image to the model's input tensor.

Training's evaluation, the service and the explanation evaluation all call :func:`preprocess`;
training's augmentation starts from :func:`fit_to_square` so that train and eval see the same
geometry. Steps: grayscale (float in [0, 1]), pad to a centred square with zeros (aspect kept),
resize with an antialiased bilinear filter, then normalise with the manifest's mean and std.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image

from mlcore.errors import ImageError

# ITU-R BT.601 luma weights, the ones PIL's "L" conversion uses.
_LUMA = np.array([0.299, 0.587, 0.114], dtype=np.float32)
# Intensities at or below this (of 1) count as background: air and the scanner's noise floor around the head.
FOREGROUND_LEVEL = 0.04


@dataclass(frozen=True)
class PreprocessSpec:
    """What the model expects: square input side in pixels and the normalisation constants."""

    size: int
    mean: float
    std: float

    @classmethod
    def from_manifest(cls, manifest: dict[str, Any]) -> PreprocessSpec:
        """Read the spec from an artifact manifest's ``input`` and ``preprocessing`` sections."""
        return cls(
            size=int(manifest["input"]["size"]),
            mean=float(manifest["preprocessing"]["mean"]),
            std=float(manifest["preprocessing"]["std"]),
        )

    def to_manifest(self) -> dict[str, Any]:
        """The preprocessing section of a manifest, with the steps spelled out for people."""
        steps = ["grayscale [0,1]", "pad to centred square with 0", "resize bilinear antialias", "normalise"]
        return {"steps": steps, "mean": self.mean, "std": self.std}


def grayscale_from_pil(image: Image.Image) -> np.ndarray:
    """Convert a PIL image of any common mode to a float32 H×W array in [0, 1].

    8- and 16-bit grayscale keep their full range; RGB, palette and CMYK go through BT.601 luma;
    an alpha channel is composited over black (MRI background). Raises :class:`ImageError` for
    modes that carry no displayable intensity.
    """
    mode = image.mode
    if mode in ("I;16", "I;16B", "I;16L", "I;16N", "I"):
        array = np.asarray(image, dtype=np.float64)
        top = 65535.0 if mode.startswith("I;16") or array.max(initial=0) > 255 else 255.0
        return np.clip(array / top, 0.0, 1.0).astype(np.float32)
    if mode == "F":
        array = np.asarray(image, dtype=np.float32)
        low, high = float(array.min(initial=0.0)), float(array.max(initial=0.0))
        return ((array - low) / (high - low) if high > low else np.zeros_like(array)).astype(np.float32)
    if mode in ("1", "L"):
        return np.asarray(image.convert("L"), dtype=np.float32) / 255.0
    if mode in ("LA", "PA", "RGBA", "RGBa", "La") or (mode == "P" and "transparency" in image.info):
        rgba = np.asarray(image.convert("RGBA"), dtype=np.float32) / 255.0
        return (rgba[..., :3] @ _LUMA) * rgba[..., 3]
    if mode in ("RGB", "P", "CMYK", "YCbCr", "LAB", "HSV", "RGBX"):
        rgb = np.asarray(image.convert("RGB"), dtype=np.float32) / 255.0
        return (rgb @ _LUMA).astype(np.float32)
    raise ImageError(f"unsupported image mode {mode!r}")


def square_padding(height: int, width: int) -> tuple[int, int, int, int]:
    """Zero padding (top, bottom, left, right) that centres an H×W image in a square."""
    side = max(height, width)
    top = (side - height) // 2
    left = (side - width) // 2
    return top, side - height - top, left, side - width - left


def fit_to_square(gray: np.ndarray, size: int) -> torch.Tensor:
    """Pad a float H×W image to a centred square with zeros and resize it to size×size.

    Returns a float32 tensor of shape (1, size, size) with values in [0, 1]. The resize is
    antialiased bilinear, so downscaling a large image does not alias.
    """
    if gray.ndim != 2 or min(gray.shape) < 1:
        raise ImageError(f"expected a 2D image, got shape {tuple(gray.shape)}")
    top, bottom, left, right = square_padding(*gray.shape)
    tensor = torch.from_numpy(np.ascontiguousarray(gray, dtype=np.float32))[None, None]
    tensor = F.pad(tensor, (left, right, top, bottom))
    if tensor.shape[-1] != size:
        tensor = F.interpolate(tensor, size=(size, size), mode="bilinear", antialias=True, align_corners=False)
    return tensor[0].clamp_(0.0, 1.0)


def normalise(batch: torch.Tensor, spec: PreprocessSpec) -> torch.Tensor:
    """Map a batch of [0, 1] images to the model's input: (x - mean) / std."""
    return (batch - spec.mean) / spec.std


def preprocess(gray: np.ndarray, spec: PreprocessSpec) -> torch.Tensor:
    """The eval preprocessing: a float H×W image in [0, 1] to a (1, 1, S, S) model input."""
    return normalise(fit_to_square(gray, spec.size)[None], spec)


def map_to_original(square_map: np.ndarray, height: int, width: int) -> np.ndarray:
    """Undo :func:`fit_to_square` for a map over the model's square grid.

    Resizes an S×S (or coarser) map to the padded square of the original image and crops the
    padding away, giving an H×W map aligned with the original pixels.
    """
    side = max(height, width)
    tensor = torch.from_numpy(np.ascontiguousarray(square_map, dtype=np.float32))[None, None]
    tensor = F.interpolate(tensor, size=(side, side), mode="bilinear", align_corners=False)
    top, _, left, _ = square_padding(height, width)
    return tensor[0, 0, top : top + height, left : left + width].numpy()
