"""The class loss: cross-entropy for known classes, p(no tumour) alone for tumours of unknown kind."""

from __future__ import annotations

import numpy as np
import pytest
import torch


def test_a_tumour_of_unknown_kind_is_trained_on_p_notumor_alone() -> None:
    """For the label one past the classes the loss is −log(1 − p(notumor)): moving probability between the kinds
    leaves it unchanged, moving it to "notumor" raises it; known labels keep their cross-entropy."""
    from training.fit.losses import TumourAnyKindLoss, localisation_targets

    loss = TumourAnyKindLoss(absent=2, label_smoothing=0.0)
    unknown = torch.tensor([4])
    logits = torch.log(torch.tensor([[0.5, 0.2, 0.2, 0.1]]))
    assert loss(logits, unknown).item() == pytest.approx(-np.log(0.8), rel=1e-5)
    kinds_moved = torch.log(torch.tensor([[0.05, 0.05, 0.2, 0.7]]))
    assert loss(kinds_moved, unknown).item() == pytest.approx(-np.log(0.8), rel=1e-5)
    towards_absent = torch.log(torch.tensor([[0.3, 0.1, 0.5, 0.1]]))
    assert loss(towards_absent, unknown).item() == pytest.approx(-np.log(0.5), rel=1e-5)
    both = torch.cat([logits, towards_absent])
    known_ce = -np.log(0.5)  # the second image labelled notumor
    assert loss(both, torch.tensor([4, 2])).item() == pytest.approx((-np.log(0.8) + known_ce) / 2, rel=1e-5)
    assert localisation_targets(both, torch.tensor([4, 2]), absent=2).tolist() == [0, 2]  # its likeliest kind
