"""Brain slices of sequences the dataset has few or none of (training/input_check/brain_sequences.py)."""

from __future__ import annotations

import numpy as np

from training.input_check.brain_sequences import FIT_CONTRASTS, fit_slices, sequence_slices


def test_every_kind_is_there_as_grey_slices_with_their_origin() -> None:
    slices = list(sequence_slices())
    kinds = {item.kind for item in slices}
    assert {"t1-native", "epi", "flair-synthetic", "other-scanner"} <= kinds
    for item in slices:
        assert item.pixels.dtype == np.uint8 and item.pixels.ndim == 2 and item.pixels.max() > 100, item.name
        assert item.source and item.licence


def test_the_fit_never_sees_the_contrast_that_measures_it() -> None:
    assert "flair" not in FIT_CONTRASTS
    fitted = fit_slices(count=4)
    assert len(fitted) == 4 * len(FIT_CONTRASTS)
    assert all(plane.min() >= 0.0 and plane.max() <= 1.0 for plane in fitted)
