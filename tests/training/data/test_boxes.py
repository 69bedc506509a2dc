"""Tumour boxes on the fitted square: a box lands on its pixels after padding and resizing."""

from __future__ import annotations

import numpy as np

from mlcore.preprocessing import fit_to_square
from training.data.boxes import box_masks


def test_a_box_lands_on_its_pixels_after_padding_and_resizing() -> None:
    """A bright rectangle in a non-square image, and its box as fractions: the mask covers the fitted rectangle."""
    gray = np.zeros((90, 150), dtype=np.float32)
    gray[20:50, 100:130] = 1.0
    fractions = (115 / 150, 35 / 90, 30 / 150, 30 / 90)
    masks, has_box = box_masks(["a.png"], [gray.shape], {"a.png": fractions}, 60)
    fitted = fit_to_square(gray, 60)[0] > 0.5
    mask = masks[0, 0].bool()
    assert has_box.tolist() == [True]
    assert (fitted & mask).sum() / (fitted | mask).sum() > 0.85
