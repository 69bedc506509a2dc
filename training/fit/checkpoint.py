"""Checkpoint files: writing them atomically, reading a run's ``best.pt`` back, the preprocessing it was trained with,
and the model it holds. Kept apart from the fit loop so that export, the operating point and research read a file
without importing the training loop."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch

from mlcore.errors import TrainingError
from mlcore.files import atomic_write
from mlcore.preprocessing import PreprocessSpec
from training.fit.models import Classifier, build_model


def save_checkpoint(path: Path, checkpoint: dict[str, Any]) -> None:
    """Write a checkpoint atomically: a kill mid-write leaves the previous one intact."""
    atomic_write(path, lambda tmp: torch.save(checkpoint, tmp))


def read_model_checkpoint(checkpoint_path: Path) -> dict[str, Any]:
    """A run's ``best.pt`` as a dict; a clear error when it is missing or is a resume state (``last.pt``)."""
    if not checkpoint_path.is_file():
        raise TrainingError(f"no checkpoint at {checkpoint_path}; train one with `python -m training fit`")
    checkpoint: dict[str, Any] = torch.load(checkpoint_path, map_location="cpu", weights_only=False)
    if "weights" not in checkpoint:
        raise TrainingError(
            f"{checkpoint_path} is not a model checkpoint (a run's best.pt) but a resume state (last.pt); "
            f"give {checkpoint_path.with_name('best.pt')}"
        )
    return checkpoint


def checkpoint_spec(checkpoint: dict[str, Any]) -> PreprocessSpec:
    """The input preprocessing a checkpoint was trained with, read by its fields (an older checkpoint may hold a field
    since dropped, at its default)."""
    preprocess = checkpoint["preprocess"]
    return PreprocessSpec(preprocess["size"], preprocess["mean"], preprocess["std"])


def load_trained(checkpoint_path: Path) -> tuple[Classifier, dict[str, Any]]:
    """Rebuild the best model from ``best.pt``: the eager model in eval mode and the checkpoint dict."""
    checkpoint = read_model_checkpoint(checkpoint_path)
    config = checkpoint["config"]
    classes = checkpoint["classes"]
    model = build_model(config["architecture"], len(classes), config["width"], config["dropout"])
    model.load_state_dict(checkpoint["weights"])
    return model.eval(), checkpoint
