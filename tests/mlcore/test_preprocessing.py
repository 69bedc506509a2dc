"""The one eval preprocessing: deterministic, aspect-keeping, and mode-agnostic."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image

from mlcore.errors import ImageError
from mlcore.preprocessing import (
    PreprocessSpec,
    fit_to_square,
    grayscale_from_pil,
    map_to_original,
    preprocess,
    square_padding,
)

SPEC = PreprocessSpec(size=32, mean=0.25, std=0.25)


def _ramp(height: int, width: int) -> np.ndarray:
    return np.linspace(0.0, 1.0, height * width, dtype=np.float32).reshape(height, width)


def test_preprocess_is_deterministic_and_shaped() -> None:
    gray = np.random.default_rng(0).random((70, 50)).astype(np.float32)
    first, second = preprocess(gray, SPEC), preprocess(gray.copy(), SPEC)
    assert first.shape == (1, 1, 32, 32)
    assert first.dtype == torch.float32
    assert torch.equal(first, second)


def test_preprocess_normalises_with_the_spec() -> None:
    flat = np.full((40, 40), 0.75, dtype=np.float32)
    assert torch.allclose(preprocess(flat, SPEC), torch.full((1, 1, 32, 32), (0.75 - 0.25) / 0.25))


def test_padding_keeps_aspect_and_centres_the_image() -> None:
    wide = np.ones((20, 60), dtype=np.float32)
    square = fit_to_square(wide, 60)[0]
    assert square_padding(20, 60) == (20, 20, 0, 0)
    assert torch.all(square[:19] == 0) and torch.all(square[41:] == 0)
    assert torch.all(square[21:39] == 1)


def test_map_to_original_undoes_the_padding() -> None:
    height, width = 30, 90
    gray = np.zeros((height, width), dtype=np.float32)
    gray[:, 60:] = 1.0  # right third bright
    back = map_to_original(fit_to_square(gray, 45)[0].numpy(), height, width)
    assert back.shape == (height, width)
    assert back[:, 70:].mean() > 0.95 and back[:, :50].mean() < 0.05


@pytest.mark.parametrize(
    ("mode", "factory"),
    [
        ("L", lambda a: Image.fromarray((a * 255).round().astype(np.uint8), "L")),
        ("I;16", lambda a: Image.fromarray((a * 65535).round().astype(np.uint16))),
        ("RGB", lambda a: Image.fromarray(np.repeat((a * 255).round().astype(np.uint8)[..., None], 3, 2), "RGB")),
        (
            "RGBA",
            lambda a: Image.fromarray(
                np.dstack([(a * 255).round().astype(np.uint8)] * 3 + [np.full(a.shape, 255, np.uint8)]), "RGBA"
            ),
        ),
        ("P", lambda a: Image.fromarray((a * 255).round().astype(np.uint8), "L").convert("P")),
        (
            "CMYK",
            lambda a: Image.fromarray(np.repeat((a * 255).round().astype(np.uint8)[..., None], 3, 2), "RGB").convert(
                "CMYK"
            ),
        ),
    ],
)
def test_grayscale_from_every_common_mode(mode: str, factory) -> None:  # type: ignore[no-untyped-def]
    ramp = _ramp(16, 24)
    image = factory(ramp)
    assert image.mode == mode
    gray = grayscale_from_pil(image)
    assert gray.shape == (16, 24) and gray.dtype == np.float32
    assert np.abs(gray - ramp).max() < 0.02, mode


def test_sixteen_bit_keeps_precision_beyond_eight_bits() -> None:
    values = np.array([[1000, 1001, 1002, 1003]], dtype=np.uint16)
    gray = grayscale_from_pil(Image.fromarray(values))
    assert len(np.unique(gray)) == 4


def test_alpha_is_composited_over_black() -> None:
    rgba = np.zeros((4, 4, 4), np.uint8)
    rgba[..., :3] = 255
    rgba[:, :2, 3] = 255  # left half opaque white, right half transparent
    gray = grayscale_from_pil(Image.fromarray(rgba, "RGBA"))
    assert np.allclose(gray[:, :2], 1.0, atol=1e-3) and np.allclose(gray[:, 2:], 0.0)


def test_not_an_image_shape_is_refused() -> None:
    with pytest.raises(ImageError):
        fit_to_square(np.zeros((3, 4, 5), np.float32), 8)
