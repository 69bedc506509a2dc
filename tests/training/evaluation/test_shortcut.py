"""The shortcut finder (training/evaluation/shortcut.py): statistics outside the tumour, and what they tell."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from training.evaluation.shortcut import GROUPS, HISTOGRAM_BINS, shortcut_report, statistics


def test_statistics_ignore_what_is_inside_the_box() -> None:
    image = np.random.default_rng(0).random((80, 60)).astype(np.float32)
    other = image.copy()
    other[30:50, 20:40] = 1.0  # a "tumour" inside the box
    first, second = statistics(image, (20, 30, 40, 50)), statistics(other, (20, 30, 40, 50))
    assert first.shape == (3 + HISTOGRAM_BINS + 9,) and sum(s.stop - s.start for s in GROUPS.values()) == first.size
    assert np.allclose(first, second)
    assert not np.allclose(first, statistics(image[:, :40], (10, 30, 30, 50)))  # another size shows


def test_on_phantoms_the_rest_of_the_image_does_not_tell_tumour_from_none(synth_root: Path, tiny_run: Path) -> None:
    """The phantoms differ only by their lesion (training/data/synth.py): with it masked, no shortcut is left to
    find."""
    report = shortcut_report(synth_root, synth_root.parent / "tumor-boxes.csv", tiny_run / "split.json")
    assert set(report["auc"]) == {"all statistics", *GROUPS}
    assert report["auc"]["size and aspect"] <= 0.75  # every phantom has the same size
    assert all(0.0 <= auc <= 1.0 for auc in report["auc"].values())
