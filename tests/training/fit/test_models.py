"""The architectures: registered by name, the shipped ones within their cost budget, counted correctly; the pretrained
one starts from the ImageNet weights its package ships."""

from __future__ import annotations

import pytest
import torch
from torch.utils.flop_counter import FlopCounterMode

from mlcore.errors import TrainingError
from training.fit.models import ARCHITECTURES, build_model, count_macs, count_parameters, get_architecture


def test_the_shipped_architectures_fit_the_cost_budget() -> None:
    for name, width in (("brainxai_cnn", 26), ("brainxai_lite0", 320)):
        model = build_model(name, 4, width=width, dropout=0.2)
        assert 2 * count_macs(model, 192) <= 0.6e9  # LIME runs the model about a thousand times
        assert count_parameters(model) < 5_000_000


@pytest.mark.parametrize(("architecture", "width", "size"), [("brainxai_cnn", 26, 192), ("brainxai_lite0", 64, 96)])
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


def test_architectures_are_registered_and_unknown_ones_named() -> None:
    assert set(ARCHITECTURES) == {"brainxai_cnn", "brainxai_lite0"}
    assert get_architecture("brainxai_lite0").pretrained and not get_architecture("brainxai_cnn").pretrained
    with pytest.raises(TrainingError, match="choose from"):
        get_architecture("vgg16")
    with pytest.raises(TrainingError, match="no pretrained weights"):
        build_model("brainxai_cnn", 4, width=8, dropout=0.0, pretrained=True)
