"""Counterfactual removal and insertion (training/fit/counterfactual.py): each touches only its box, in its own way."""

from __future__ import annotations

import numpy as np
import pytest

from mlcore.fills import MARGIN, grown, mirrored
from tests.images import lesion_brain, outside_box
from training.fit.counterfactual import REMOVALS, counterfactual, insert_and_control, remove_and_control


@pytest.mark.parametrize("method", REMOVALS)
def test_each_removal_takes_the_tumour_out_and_its_control_keeps_it(method: str) -> None:
    image, box = lesion_brain()
    healthy = lesion_brain(lesion=False)[0][::-1].copy()  # another brain's texture
    pair = remove_and_control(image, box, method, np.random.default_rng(0), donor=healthy)
    assert pair is not None
    removed, control = pair
    x0, y0, x1, y1 = box
    assert removed[y0:y1, x0:x1].mean() < 0.6 < image[y0:y1, x0:x1].mean()  # the bright lesion is gone
    assert np.array_equal(control[y0:y1, x0:x1], image[y0:y1, x0:x1])  # the control keeps it
    other = mirrored(grown(box, image.shape), image.shape[1])
    mx0, _, mx1, _ = other
    assert not np.allclose(control[y0:y1, mx0:mx1], image[y0:y1, mx0:mx1])  # ... and changes the other side
    far = outside_box(grown(box, image.shape), image.shape) & outside_box(other, image.shape)
    assert np.allclose(removed[far], image[far], atol=1e-6) and np.allclose(control[far], image[far], atol=1e-6)


def test_a_box_across_the_midline_is_not_removed() -> None:
    image, _ = lesion_brain()
    assert remove_and_control(image, (40, 40, 56, 54), "inpaint", np.random.default_rng(0)) is None
    with pytest.raises(ValueError, match="donor"):
        remove_and_control(image, (20, 40, 34, 54), "donor", np.random.default_rng(0))


def test_a_larger_margin_removes_more_around_the_box() -> None:
    image, box = lesion_brain()
    wide = grown(box, image.shape, 0.8)
    between = outside_box(grown(box, image.shape, MARGIN), image.shape) & ~outside_box(wide, image.shape, pad=0)
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


def test_insertion_pastes_the_tumour_and_its_control_a_healthy_patch() -> None:
    tumour, box = lesion_brain()
    healthy, _ = lesion_brain(lesion=False)
    inserted, control = insert_and_control(healthy, tumour, box, healthy[::-1].copy())
    x0, y0, x1, y1 = box
    assert inserted[y0:y1, x0:x1].mean() > healthy[y0:y1, x0:x1].mean() + 0.2
    assert abs(float(control[y0:y1, x0:x1].mean()) - float(healthy[y0:y1, x0:x1].mean())) < 0.1


def test_training_fills_are_read_from_the_manifest_and_unknown_stays_unknown() -> None:
    from training.fit.counterfactual import trained_fills, unseen_fills

    assert trained_fills({"training": {"counterfactual_fills": ["inpaint", "donor"]}}) == ["donor", "inpaint"]
    assert trained_fills({"training": {"counterfactual_fills": []}}) == []
    assert trained_fills({"training": {}}) is None and trained_fills({}) is None
    assert unseen_fills(["inpaint", "donor"]) == ["mirror", "biharmonic"]
    assert unseen_fills(list(REMOVALS)) == [] and unseen_fills(None) is None
