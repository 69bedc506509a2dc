"""The removal diagnosis: boxes grown about their centre, tumour sizes, shares grouped with their n and interval."""

from __future__ import annotations

from pathlib import Path

from research.unseen_removal.diagnose import enlarged, share_rows, size_of
from training.evaluation.explain_eval import Case


def test_a_box_grows_about_its_centre_and_stays_inside_the_image() -> None:
    case = Case(Path("a.jpg"), "Training/glioma/a.jpg", "glioma", (0.5, 0.4, 0.2, 0.8))
    (grown,) = enlarged([case], 1.5)
    assert grown.box[:2] == (0.5, 0.4) and abs(grown.box[2] - 0.3) < 1e-9 and grown.box[3] == 1.0
    assert case.box == (0.5, 0.4, 0.2, 0.8)  # the original untouched
    assert [size_of((0, 0, 0.1, 0.1)), size_of((0, 0, 0.2, 0.2)), size_of((0, 0, 0.3, 0.3))] == [
        "small",
        "medium",
        "large",
    ]


def test_shares_are_grouped_with_their_n_and_interval() -> None:
    rows = [
        {"label": "glioma", "removed": "notumor", "control": "glioma", "original": "glioma"},
        {"label": "glioma", "removed": "glioma", "control": "notumor", "original": "glioma"},
        {"label": "meningioma", "removed": "notumor", "control": "meningioma", "original": "meningioma"},
    ]
    by_class = {row["label"]: row for row in share_rows(rows, ("label",))}
    assert by_class["glioma"]["n"] == 2 and by_class["glioma"]["notumor"] == 0.5
    assert by_class["glioma"]["controls_changed"] == 0.5 and by_class["meningioma"]["notumor"] == 1.0
    low, high = by_class["glioma"]["ci95"]
    assert low <= 0.5 <= high


def test_the_tumours_half_is_replaced_by_the_other_half_mirrored() -> None:
    import numpy as np

    from research.unseen_removal.diagnose import hemisphere_mirrored

    image = np.zeros((4, 6), dtype=np.float32)
    image[:, :3] = 1.0  # a bright left half: the tumour's
    image[1, 4] = 0.5  # a mark in the healthy right half
    out = hemisphere_mirrored(image, (0, 0, 2, 2))
    assert np.array_equal(out[:, 3:], image[:, 3:]) and np.array_equal(out[:, :3], image[:, 3:][:, ::-1])
    assert out[1, 1] == 0.5 and image[0, 0] == 1.0  # mirrored in, the input untouched
    control = hemisphere_mirrored(image, (0, 0, 2, 2), control=True)  # the tumour's half onto the healthy one
    assert np.array_equal(control[:, :3], image[:, :3]) and np.array_equal(control[:, 3:], image[:, :3][:, ::-1])
