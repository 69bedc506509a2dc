"""The operating point of a counterfactually trained model: its "notumor" logit lowered by a constant at export.

Counterfactual training labels every removed tumour "notumor", so such a model answers "notumor" more readily than
the data's own images call for; a constant taken off that logit trades some removal → "notumor" for fewer small
tumours missed. ``python -m training export --notumor-offset <x>`` bakes it into the head's bias — every entry point
then serves the same operating point — and recomputes the validation metrics the manifest (and the card) carry.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from mlcore.errors import TrainingError
from mlcore.preprocessing import fit_to_square
from training.data.dataset import read_gray
from training.evaluation.evaluate import select_files
from training.fit.checkpoint import checkpoint_spec
from training.fit.counterfactual import NO_TUMOUR
from training.fit.localisation import last_linear
from training.fit.loop import evaluate

log = logging.getLogger(__name__)


def lower_notumor_logit(head: nn.Module, classes: list[str], offset: float) -> None:
    """Lower the "notumor" logit of ``head`` by ``offset``: its last linear layer's bias, in place."""
    if NO_TUMOUR not in classes:
        raise TrainingError(f"a notumor offset needs a {NO_TUMOUR!r} class; the model has {classes}")
    with torch.no_grad():
        last_linear(head).bias[classes.index(NO_TUMOUR)] -= offset


def validation_images(checkpoint: dict[str, Any], split_file: Path) -> tuple[torch.Tensor, np.ndarray]:
    """The validation side of ``split_file`` under the checkpoint's data, fitted to its input side, and the labels
    (the files as ``evaluate`` chooses them)."""
    if not split_file.is_file():
        raise TrainingError(f"no {split_file.name} beside the checkpoint: its validation side is needed")
    size = checkpoint["preprocess"]["size"]
    _classes, files = select_files(Path(checkpoint["config"]["data"]), split_file, "val")
    images = torch.stack([fit_to_square(read_gray(path), size) for path, _label in files])
    return images, np.array([label for _path, label in files], dtype=np.int64)


def validation_metrics(model: nn.Module, checkpoint: dict[str, Any], split_file: Path) -> dict[str, Any]:
    """The metrics of ``model`` on the validation side of ``split_file`` (the run's), as ``fit`` records them."""
    images, labels = validation_images(checkpoint, split_file)
    model.eval()
    metrics = evaluate(
        model, images, labels, checkpoint["classes"], spec=checkpoint_spec(checkpoint), device=torch.device("cpu")
    )
    log.info("validation with the offset: accuracy %.4f, macro-F1 %.4f", metrics["accuracy"], metrics["macro_f1"])
    return metrics
