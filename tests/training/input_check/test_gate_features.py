"""The input gate's feature module (training/input_check/gate_features.py)."""

from __future__ import annotations

import torch

from mlcore import artifact
from training.input_check.gate_features import gate_features_module


def test_the_frozen_imagenet_features_are_960_scriptable_and_need_no_gradient() -> None:
    module = gate_features_module(0.25, 0.25)
    assert all(not parameter.requires_grad for parameter in module.parameters()) and not module.training
    x = torch.randn(2, 1, 224, 224, generator=torch.Generator().manual_seed(0))
    with torch.inference_mode():
        eager = module(x)
        scripted = artifact.script_gate_features(module)(x)
    assert eager.shape == (2, 960) and torch.allclose(eager, scripted, atol=1e-5)
    # The model's own normalisation is undone: the same grey image gives the same features whatever it was.
    other = gate_features_module(0.5, 0.1)
    grey = torch.rand(1, 1, 224, 224, generator=torch.Generator().manual_seed(1))
    with torch.inference_mode():
        assert torch.allclose(module((grey - 0.25) / 0.25), other((grey - 0.5) / 0.1), atol=1e-4)
