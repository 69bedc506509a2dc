"""Rendering: the table-driven overlay equals the float blend it replaces, and carries its legend."""

from __future__ import annotations

import io

import matplotlib
import numpy as np
import pytest
from PIL import Image

from mlcore.render import COLORMAP, heatmap_png, heatmap_summary, overlay_png, overlay_rgb, png_bytes, to_uint8

COLOUR_GAP = 6  # the 16-anchor table against matplotlib's 256-entry inferno, in 8-bit levels


def _reference_blend(gray: np.ndarray, heatmap: np.ndarray, opacity: float) -> np.ndarray:
    """An independent reference: matplotlib's inferno, float maths, rounding only at the end."""
    base = np.repeat(gray.astype(np.float64)[..., None], 3, axis=2)
    colour = matplotlib.colormaps["inferno"](np.clip(heatmap, 0, 1).astype(np.float64))[..., :3]
    weight = (opacity * np.sqrt(np.clip(heatmap, 0, 1)))[..., None]
    return np.round(255 * (base * (1 - weight) + colour * weight)).astype(int)


def test_the_colour_table_is_inferno() -> None:
    reference = matplotlib.colormaps["inferno"](np.linspace(0, 1, 256))[:, :3] * 255
    assert np.abs(COLORMAP.astype(float) - reference).max() <= COLOUR_GAP


def test_overlay_equals_an_independent_float_blend() -> None:
    """The table quantizes the relevance to 8 bits before its square-root opacity: near zero that moves the
    weight by up to opacity × sqrt(0.5 / 255) ≈ 0.044 × opacity (11 of 255 levels at opacity 1, on a faint
    relevance over a bright pixel); the colours are inferno within COLOUR_GAP levels."""
    rng = np.random.default_rng(0)
    gray = rng.random((61, 83), dtype=np.float32)
    heatmap = rng.random((61, 83), dtype=np.float32)
    for opacity in (0.0, 0.35, 1.0):
        rgb = overlay_rgb(gray, heatmap, opacity)
        assert rgb.shape[0] == 61 and rgb.shape[1] > 83 and rgb.dtype == np.uint8
        gap = np.abs(rgb[:, :83].astype(int) - _reference_blend(gray, heatmap, opacity))
        assert gap.max() <= np.ceil(255 * opacity * np.sqrt(0.5 / 255)) + 1 + opacity * COLOUR_GAP, opacity
        assert gap.mean() < 0.5 + opacity * 1.5, opacity
    zero = overlay_rgb(gray, np.zeros_like(gray), 0.8)[:, :83]
    np.testing.assert_array_equal(zero, np.repeat(to_uint8(gray)[..., None], 3, axis=2))


def test_legend_shows_the_colour_scale_and_the_caption_is_drawn() -> None:
    gray = np.full((240, 200), 0.5, np.float32)
    plain = overlay_rgb(gray, np.zeros_like(gray))
    legend = plain[:, 200:]
    colours = {tuple(pixel) for pixel in legend.reshape(-1, 3)}
    assert tuple(COLORMAP[255]) in colours and tuple(COLORMAP[0]) in colours
    captioned = overlay_rgb(gray, np.zeros_like(gray), caption="gradcam · glioma")
    assert not np.array_equal(captioned[:, :200], plain[:, :200])  # the caption is written over the image
    np.testing.assert_array_equal(overlay_rgb(gray, np.zeros_like(gray)), plain)  # the cached legend stays intact


def test_pngs_decode_to_what_was_rendered() -> None:
    rng = np.random.default_rng(1)
    gray, heatmap = rng.random((50, 70), dtype=np.float32), rng.random((50, 70), dtype=np.float32)
    decoded = np.asarray(Image.open(io.BytesIO(overlay_png(gray, heatmap, 0.5, "x"))))
    np.testing.assert_array_equal(decoded, overlay_rgb(gray, heatmap, 0.5, "x"))
    np.testing.assert_array_equal(np.asarray(Image.open(io.BytesIO(heatmap_png(heatmap)))), to_uint8(heatmap))


@pytest.mark.parametrize("shape", [(1, 1), (1, 9), (7, 1), (33, 65), (2, 5, 3), (40, 31, 3)])
def test_png_bytes_decode_to_the_same_pixels(shape: tuple[int, ...]) -> None:
    pixels = np.random.default_rng(2).integers(0, 256, shape, dtype=np.uint8)
    decoded = Image.open(io.BytesIO(png_bytes(pixels)))
    assert decoded.mode == ("RGB" if len(shape) == 3 else "L")
    np.testing.assert_array_equal(np.asarray(decoded), pixels)


def test_png_bytes_refuses_what_it_cannot_write() -> None:
    for bad in (np.zeros((4, 4), np.float32), np.zeros((4, 4, 4), np.uint8), np.zeros(4, np.uint8)):
        with pytest.raises(ValueError, match="expected uint8"):
            png_bytes(bad)


def test_heatmap_summary_locates_the_peak_and_the_centre_of_mass() -> None:
    heatmap = np.zeros((30, 50), np.float32)
    heatmap[10, 40] = 1.0
    heatmap[20, 0] = 1.0
    summary = heatmap_summary(heatmap)
    assert summary["peak"] == {"x": 40, "y": 10} and (summary["width"], summary["height"]) == (50, 30)
    assert summary["centroid"] == {"x": 20.0, "y": 15.0}
    assert summary["area_above_half"] == 2 / 1500
    assert heatmap_summary(np.zeros((4, 4), np.float32))["centroid"] is None
