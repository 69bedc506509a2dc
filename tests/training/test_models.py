"""The architectures: the shipped one fits its cost budget; ResNet-18 takes one channel."""

from __future__ import annotations

import torch

from training.models import build_model, count_macs, count_parameters


def test_the_shipped_architecture_fits_the_cost_budget() -> None:
    model = build_model("brainxai_cnn", 4, width=26, dropout=0.2)
    assert 2 * count_macs(model, 192) <= 0.6e9  # LIME runs the model about a thousand times
    assert count_parameters(model) < 5_000_000


def test_resnet18_takes_one_channel() -> None:
    model = build_model("resnet18", 4, width=64, dropout=0.0).eval()
    with torch.no_grad():
        assert model(torch.zeros(2, 1, 64, 64)).shape == (2, 4)
    assert model.backbone(torch.zeros(1, 1, 64, 64)).shape[1] == 512
