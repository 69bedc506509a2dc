"""Counterfactual removal and insertion (training/counterfactual.py): each touches only its box, in its own way."""

from __future__ import annotations

import numpy as np
import pytest

from training.counterfactual import (
    MARGIN,
    REMOVALS,
    biharmonic_fill,
    blend,
    counterfactual,
    grown,
    inpaint_fill,
    insert_and_control,
    mirror_fill,
    mirrored,
    off_midline,
    remove_and_control,
)


def _brain(size: int = 96, lesion: bool = True) -> tuple[np.ndarray, tuple[int, int, int, int]]:
    """A textured disc with a bright lesion in its left half."""
    yy, xx = np.mgrid[0:size, 0:size] / size
    rng = np.random.default_rng(0)
    image = (np.hypot(xx - 0.5, yy - 0.5) < 0.45) * (0.4 + 0.05 * rng.standard_normal((size, size)))
    box = (20, 40, 34, 54)
    if lesion:
        image[box[1] : box[3], box[0] : box[2]] = 0.95
    return np.clip(image, 0, 1).astype(np.float32), box


def _outside(box: tuple[int, int, int, int], shape: tuple[int, int], pad: int = 6) -> np.ndarray:
    x0, y0, x1, y1 = box
    mask = np.ones(shape, bool)
    mask[max(0, y0 - pad) : y1 + pad, max(0, x0 - pad) : x1 + pad] = False
    return mask


def test_geometry_of_boxes() -> None:
    assert grown((10, 10, 30, 20), (100, 100), 0.1) == (8, 9, 32, 21)
    assert grown((0, 0, 10, 10), (8, 8), 0.5) == (0, 0, 8, 8)
    assert mirrored((10, 5, 30, 15), 100) == (70, 5, 90, 15)
    assert off_midline((10, 0, 40, 10), 100) and off_midline((60, 0, 90, 10), 100)
    assert not off_midline((40, 0, 60, 10), 100) and not off_midline((10, 0, 49, 10), 100)


def test_blend_puts_the_fill_inside_and_leaves_the_outside() -> None:
    image, fill = np.zeros((40, 40), np.float32), np.ones((40, 40), np.float32)
    out = blend(image, fill, (10, 10, 30, 30))
    assert out[12:28, 12:28].min() == pytest.approx(1.0) and out[_outside((10, 10, 30, 30), (40, 40))].max() < 1e-3


@pytest.mark.parametrize("method", REMOVALS)
def test_each_removal_takes_the_tumour_out_and_its_control_keeps_it(method: str) -> None:
    image, box = _brain()
    healthy = _brain(lesion=False)[0][::-1].copy()  # another brain's texture
    pair = remove_and_control(image, box, method, np.random.default_rng(0), donor=healthy)
    assert pair is not None
    removed, control = pair
    x0, y0, x1, y1 = box
    assert removed[y0:y1, x0:x1].mean() < 0.6 < image[y0:y1, x0:x1].mean()  # the bright lesion is gone
    assert np.array_equal(control[y0:y1, x0:x1], image[y0:y1, x0:x1])  # the control keeps it
    other = mirrored(grown(box, image.shape), image.shape[1])
    mx0, _, mx1, _ = other
    assert not np.allclose(control[y0:y1, mx0:mx1], image[y0:y1, mx0:mx1])  # ... and changes the other side
    far = _outside(grown(box, image.shape), image.shape) & _outside(other, image.shape)
    assert np.allclose(removed[far], image[far], atol=1e-6) and np.allclose(control[far], image[far], atol=1e-6)


def test_a_box_across_the_midline_is_not_removed() -> None:
    image, _ = _brain()
    assert remove_and_control(image, (40, 40, 56, 54), "inpaint", np.random.default_rng(0)) is None
    with pytest.raises(ValueError, match="donor"):
        remove_and_control(image, (20, 40, 34, 54), "donor", np.random.default_rng(0))


def test_a_larger_margin_removes_more_around_the_box() -> None:
    image, box = _brain()
    wide = grown(box, image.shape, 0.8)
    between = _outside(grown(box, image.shape, MARGIN), image.shape) & ~_outside(wide, image.shape, pad=0)
    default = counterfactual(image, box, "inpaint", np.random.default_rng(0), donor=None, remove=True)
    larger = counterfactual(image, box, "inpaint", np.random.default_rng(0), donor=None, remove=True, margin=0.8)
    assert default is not None and larger is not None
    assert np.allclose(default[between], image[between], atol=1e-6)  # the default fill stops at its grown box
    assert not np.allclose(larger[between], image[between], atol=1e-3)  # the larger margin fills there too
    near_midline = (30, 40, 44, 54)
    assert counterfactual(image, near_midline, "inpaint", np.random.default_rng(0), donor=None, remove=True) is not None
    assert (  # a box that clears the midline only while small is left alone once grown across it
        counterfactual(image, near_midline, "inpaint", np.random.default_rng(0), donor=None, remove=True, margin=0.5)
        is None
    )


def test_mirror_inpaint_and_biharmonic_fill_with_the_right_tissue() -> None:
    image, box = _brain()
    mirror = mirror_fill(image, box, np.random.default_rng(0))
    x0, y0, x1, y1 = box
    assert np.allclose(mirror[y0 + 3 : y1 - 3, x0 + 3 : x1 - 3], image[:, ::-1][y0 + 3 : y1 - 3, x0 + 3 : x1 - 3])
    inpainted = inpaint_fill(image, box, np.random.default_rng(0))
    inside = inpainted[y0 + 3 : y1 - 3, x0 + 3 : x1 - 3]
    assert abs(float(inside.mean()) - 0.4) < 0.08 and inside.std() > 0.005  # the surroundings' level, with texture
    smooth = biharmonic_fill(image, box, np.random.default_rng(0))[y0 + 3 : y1 - 3, x0 + 3 : x1 - 3]
    assert abs(float(smooth.mean()) - 0.4) < 0.08  # the surroundings' level ...
    assert float(np.abs(np.diff(smooth, axis=1)).mean()) < 0.2 * float(np.abs(np.diff(image, axis=1)).mean())  # smooth


def test_insertion_pastes_the_tumour_and_its_control_a_healthy_patch() -> None:
    tumour, box = _brain()
    healthy, _ = _brain(lesion=False)
    inserted, control = insert_and_control(healthy, tumour, box, healthy[::-1].copy())
    x0, y0, x1, y1 = box
    assert inserted[y0:y1, x0:x1].mean() > healthy[y0:y1, x0:x1].mean() + 0.2
    assert abs(float(control[y0:y1, x0:x1].mean()) - float(healthy[y0:y1, x0:x1].mean())) < 0.1


def test_training_fills_are_read_from_the_manifest_and_unknown_stays_unknown() -> None:
    from training.counterfactual import trained_fills, unseen_fills

    assert trained_fills({"training": {"counterfactual_fills": ["inpaint", "donor"]}}) == ["donor", "inpaint"]
    assert trained_fills({"training": {"counterfactual_fills": []}}) == []
    assert trained_fills({"training": {}}) is None and trained_fills({}) is None
    assert unseen_fills(["inpaint", "donor"]) == ["mirror", "biharmonic"]
    assert unseen_fills(list(REMOVALS)) == [] and unseen_fills(None) is None
