"""Checkpoint files (training/fit/checkpoint.py): a run's best.pt reads back as the model it holds; a missing file or a
resume state is refused by name; a write interrupted leaves the previous checkpoint whole."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from mlcore.errors import TrainingError
from training.fit.checkpoint import checkpoint_spec, load_trained, read_model_checkpoint, save_checkpoint


def test_best_pt_gives_the_model_and_its_preprocessing(tiny_run: Path) -> None:
    model, checkpoint = load_trained(tiny_run / "best.pt")
    assert not model.training and checkpoint["classes"] == ["glioma", "meningioma", "notumor", "pituitary"]
    spec = checkpoint_spec(checkpoint)
    assert spec.size == checkpoint["preprocess"]["size"] == 48 and spec.std > 0
    with torch.no_grad():
        assert model(torch.zeros(2, 1, spec.size, spec.size)).shape == (2, 4)


def test_a_missing_file_or_a_resume_state_is_refused_by_name(tiny_run: Path, tmp_path: Path) -> None:
    with pytest.raises(TrainingError, match="no checkpoint at"):
        read_model_checkpoint(tmp_path / "best.pt")
    with pytest.raises(TrainingError, match="resume state"):
        read_model_checkpoint(tiny_run / "last.pt")


def test_an_interrupted_save_leaves_the_previous_checkpoint(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "best.pt"
    save_checkpoint(path, {"weights": {"w": torch.ones(1)}})

    def fail(*_: object, **__: object) -> None:
        raise OSError("disk full")

    monkeypatch.setattr(torch, "save", fail)
    with pytest.raises(OSError):
        save_checkpoint(path, {"weights": {"w": torch.zeros(1)}})
    assert torch.equal(read_model_checkpoint(path)["weights"]["w"], torch.ones(1))
    assert [p.name for p in tmp_path.iterdir()] == ["best.pt"]
