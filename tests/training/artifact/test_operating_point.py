"""The operating point: lowering the "notumor" logit moves that logit alone; a model without the class is refused."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from mlcore.errors import TrainingError
from training.artifact.operating_point import lower_notumor_logit

CLASSES = ["glioma", "meningioma", "notumor", "pituitary"]


def test_lowering_the_notumor_logit_moves_that_logit_alone() -> None:
    head = nn.Sequential(nn.Dropout(0.2), nn.Linear(6, 4)).eval()
    features = torch.randn(5, 6, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        before = head(features)
    lower_notumor_logit(head, CLASSES, 0.25)
    with torch.no_grad():
        change = head(features) - before
    expected = torch.zeros_like(change)
    expected[:, CLASSES.index("notumor")] = -0.25
    assert torch.allclose(change, expected, atol=1e-6)


def test_a_model_without_a_notumor_class_is_refused() -> None:
    head = nn.Linear(6, 3)
    with pytest.raises(TrainingError, match="notumor"):
        lower_notumor_logit(head, ["glioma", "meningioma", "pituitary"], 0.25)
