"""Contrasts and a head CT synthesised from the MNI template's tissue maps (training/input_check/mni_phantoms.py)."""

from __future__ import annotations

import numpy as np

from training.input_check.mni_phantoms import ct_slices, mr_slices, template_tissues


def _mean_in(image: np.ndarray, mask: np.ndarray) -> float:
    return float(image[mask].mean())


def test_each_contrast_orders_its_tissues_as_its_sequence_does() -> None:
    tissues = template_tissues()
    assert tissues is not None
    middle = tissues.grey.shape[2] // 2
    csf = np.rot90(tissues.csf[:, :, middle]) > 0.8
    white = np.rot90(tissues.white[:, :, middle]) > 0.8
    [t1] = [s for s in mr_slices("t1", 1, 0, low=0.5, high=0.5)]
    [t2] = [s for s in mr_slices("t2", 1, 0, low=0.5, high=0.5)]
    [flair] = [s for s in mr_slices("flair", 1, 0, low=0.5, high=0.5)]
    assert _mean_in(t1, white) > _mean_in(t1, csf)  # T1: white matter bright, fluid dark
    assert _mean_in(t2, csf) > _mean_in(t2, white)  # T2: fluid bright
    assert _mean_in(flair, white) > _mean_in(flair, csf)  # FLAIR: fluid suppressed


def test_a_head_ct_has_a_bright_skull_and_a_brain_only_one_has_none() -> None:
    ((whole, window),) = ct_slices(1, 0)
    ((stripped, _),) = ct_slices(1, 0, skull_stripped=True)
    assert window in ("brain", "subdural", "bone")
    assert (whole >= 0.99).mean() > 0.02  # bone saturates the brain window
    assert (stripped >= 0.99).mean() < 0.005
