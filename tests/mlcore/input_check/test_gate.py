"""The input gate's scoring, its storage and its checks at load (mlcore/input_check/gate.py, mlcore/artifact.py)."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
import torch

from mlcore import artifact
from mlcore.errors import ArtifactError
from mlcore.input_check.gate import GateScorer, InputGate


class _Mean(torch.nn.Module):
    """A stand-in feature module: each image's mean and spread (D = 2)."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.stack([x.mean(dim=(1, 2, 3)), x.std(dim=(1, 2, 3))], dim=1)


def _gate(margin_threshold: float = 0.0, distance_threshold: float = 4.0) -> InputGate:
    """Brains have a positive first feature (margin = f0) and sit near the origin (distance = |f|²)."""
    scorer = GateScorer(np.zeros(2), np.ones(2), np.array([1.0, 0.0]), 0.0, np.zeros(2), np.eye(2))
    return InputGate(
        features=artifact.script_gate_features(_Mean()),
        scorer=scorer,
        margin_threshold=margin_threshold,
        distance_threshold=distance_threshold,
        margin_spread=1.0,
        distance_spread=2.0,
    )


def test_the_score_is_how_far_the_worse_of_margin_and_distance_lies_past_its_threshold() -> None:
    scores = _gate().score_features(np.array([[1.0, 0.0], [-1.0, 0.0], [1.5, 1.5], [-3.0, 0.0]]))
    assert scores.margin.tolist() == [1.0, -1.0, 1.5, -3.0]
    assert scores.distance.tolist() == [1.0, 1.0, 4.5, 9.0]
    # accepted; margin below its threshold by 1; distance past its threshold by 0.5 / spread 2; both (margin worse)
    assert scores.score.tolist() == pytest.approx([-1.0, 1.0, 0.25, 3.0])
    assert (scores.score > 0).tolist() == [False, True, True, True]


def test_the_gate_scores_model_inputs_through_its_feature_module() -> None:
    bright = torch.full((1, 1, 8, 8), 1.0)
    dark = torch.full((1, 1, 8, 8), -1.0)
    assert _gate().score(bright).score[0] < 0 < _gate().score(dark).score[0]


def test_the_gate_round_trips_through_the_artifact(tiny_model_path, tmp_path) -> None:  # type: ignore[no-untyped-def]
    model = artifact.load(tiny_model_path)
    size = int(model.manifest["input"]["size"])
    gate = _gate(margin_threshold=0.25)
    manifest = {**model.manifest, "input_gate": gate.manifest_section(note="for people")}
    path = tmp_path / "gated.pt"
    artifact.save(
        model.module, manifest, path, calibration=model.calibration, feature_detector=model.feature_detector, gate=gate
    )
    loaded = artifact.load(path)
    assert loaded.gate is not None and loaded.gate.margin_threshold == 0.25
    assert loaded.manifest["input_gate"]["note"] == "for people"
    probe = torch.randn(3, 1, size, size, generator=torch.Generator().manual_seed(0))
    assert np.allclose(loaded.gate.score(probe).score, gate.score(probe).score, atol=1e-5)
    assert artifact.weights_sha256(loaded.module) == artifact.weights_sha256(model.module)


def test_an_incomplete_or_foreign_gate_is_refused_at_load(tiny_model_path, tmp_path) -> None:  # type: ignore[no-untyped-def]
    model = artifact.load(tiny_model_path)
    gate = _gate()
    section = gate.manifest_section()
    with pytest.raises(ArtifactError, match="does not describe"):
        artifact.save(model.module, {**model.manifest, "input_gate": {**section, "margin_threshold": 9.0}},
                      tmp_path / "a.pt", gate=gate)  # fmt: skip
    with pytest.raises(ArtifactError, match="no gate was given"):
        artifact.save(model.module, {**model.manifest, "input_gate": section}, tmp_path / "b.pt")
    with pytest.raises(ArtifactError, match="not supported"):
        InputGate.from_artifact({**section, "format_version": 99}, gate.features, gate.to_bytes(), "m.pt")
    with pytest.raises(ArtifactError, match="cannot be read"):
        InputGate.from_artifact(section, gate.features, b"not an npz", "m.pt")
    wider = dataclasses.replace(gate, scorer=dataclasses.replace(gate.scorer, precision=np.eye(3)))
    with pytest.raises(ArtifactError, match="disagree"):
        InputGate.from_artifact(section, gate.features, wider.to_bytes(), "m.pt")
