"""The architectures: the shipped one fits its cost budget; ResNet-18 takes one channel."""

from __future__ import annotations

import pytest
import torch
from torch.utils.flop_counter import FlopCounterMode

from training.models import build_model, count_macs, count_parameters


def test_the_shipped_architecture_fits_the_cost_budget() -> None:
    model = build_model("brainxai_cnn", 4, width=26, dropout=0.2)
    assert 2 * count_macs(model, 192) <= 0.6e9  # LIME runs the model about a thousand times
    assert count_parameters(model) < 5_000_000


@pytest.mark.parametrize(("architecture", "width", "size"), [("brainxai_cnn", 26, 192), ("resnet18", 16, 64)])
def test_macs_agree_with_torchs_own_flop_counter(architecture: str, width: int, size: int) -> None:
    """An independent count: torch.utils.flop_counter counts 2 FLOPs per multiply-accumulate of convolutions and
    matrix products (the manifest's FLOPs are 2 × these MACs; pooling, norms and activations count 0 in both)."""
    model = build_model(architecture, 4, width=width, dropout=0.0).eval()
    with FlopCounterMode(display=False) as counter, torch.no_grad():
        model(torch.zeros(1, 1, size, size))
    assert 2 * count_macs(model, size) == counter.get_total_flops()


def test_a_hand_counted_net() -> None:
    """3×3 convolution 1→4 channels on 8×8 (padding 1): 8·8·4·9 = 2,304 MACs; a depthwise 3×3 (4 groups of one
    channel, stride 2, padding 1) on the 8×8 result: 4·4·4·9 = 576; linear 4→2: 8 MACs."""
    net = torch.nn.Sequential(
        torch.nn.Conv2d(1, 4, 3, padding=1),
        torch.nn.Conv2d(4, 4, 3, stride=2, padding=1, groups=4),
        torch.nn.AdaptiveAvgPool2d(1),
        torch.nn.Flatten(),
        torch.nn.Linear(4, 2),
    )
    assert count_macs(net, 8) == 2304 + 576 + 8


def test_resnet18_takes_one_channel() -> None:
    model = build_model("resnet18", 4, width=64, dropout=0.0).eval()
    with torch.no_grad():
        assert model(torch.zeros(2, 1, 64, 64)).shape == (2, 4)
    assert model.backbone(torch.zeros(1, 1, 64, 64)).shape[1] == 512
