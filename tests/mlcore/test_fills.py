"""The removal fills that training, the counterfactual evaluation and the service's evidence check share."""

from __future__ import annotations

import numpy as np
import pytest

from mlcore.fills import biharmonic_fill, blend, grown, inpaint_fill, mirror_fill, mirrored, off_midline
from tests.images import lesion_brain, outside_box


def test_geometry_of_boxes() -> None:
    assert grown((10, 10, 30, 20), (100, 100), 0.1) == (8, 9, 32, 21)
    assert grown((0, 0, 10, 10), (8, 8), 0.5) == (0, 0, 8, 8)
    assert mirrored((10, 5, 30, 15), 100) == (70, 5, 90, 15)
    assert off_midline((10, 0, 40, 10), 100) and off_midline((60, 0, 90, 10), 100)
    assert not off_midline((40, 0, 60, 10), 100) and not off_midline((10, 0, 49, 10), 100)


def test_blend_puts_the_fill_inside_and_leaves_theoutside_box() -> None:
    image, fill = np.zeros((40, 40), np.float32), np.ones((40, 40), np.float32)
    out = blend(image, fill, (10, 10, 30, 30))
    assert out[12:28, 12:28].min() == pytest.approx(1.0) and out[outside_box((10, 10, 30, 30), (40, 40))].max() < 1e-3


def test_mirror_inpaint_and_biharmonic_fill_with_the_right_tissue() -> None:
    image, box = lesion_brain()
    mirror = mirror_fill(image, box, np.random.default_rng(0))
    x0, y0, x1, y1 = box
    assert np.allclose(mirror[y0 + 3 : y1 - 3, x0 + 3 : x1 - 3], image[:, ::-1][y0 + 3 : y1 - 3, x0 + 3 : x1 - 3])
    inpainted = inpaint_fill(image, box, np.random.default_rng(0))
    inside = inpainted[y0 + 3 : y1 - 3, x0 + 3 : x1 - 3]
    assert abs(float(inside.mean()) - 0.4) < 0.08 and inside.std() > 0.005  # the surroundings' level, with texture
    smooth = biharmonic_fill(image, box, np.random.default_rng(0))[y0 + 3 : y1 - 3, x0 + 3 : x1 - 3]
    assert abs(float(smooth.mean()) - 0.4) < 0.08  # the surroundings' level ...
    assert float(np.abs(np.diff(smooth, axis=1)).mean()) < 0.2 * float(np.abs(np.diff(image, axis=1)).mean())  # smooth
