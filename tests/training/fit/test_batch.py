"""The fit loop's extension point: batch transforms and loss terms reach every step."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch


def test_extra_loss_terms_and_batch_transforms_reach_the_loop(synth_root: Path, tmp_path: Path) -> None:
    """The extension point: a transform sees every batch before the augmentation, a term's value is added to the loss
    and reported under its name in the history."""
    from tests.helpers import tiny_config
    from training.fit.batch import Batch, Step
    from training.fit.loop import fit

    seen: list[int] = []

    def count_batches(batch: Batch, rng: np.random.Generator) -> Batch:
        seen.append(len(batch.images))
        return batch

    class Constant:
        name = "constant"

        def __call__(self, model: torch.nn.Module, step: Step) -> torch.Tensor:
            return step.logits.sum() * 0.0 + 0.25

    fit(tiny_config(synth_root, tmp_path / "run", epochs=1), transforms=[count_batches], terms=[Constant()])
    history = json.loads((tmp_path / "run" / "history.json").read_text())
    assert seen and set(seen) == {8}
    assert history[0]["train_constant"] == pytest.approx(0.25)
    assert history[0]["train_loss"] > 0.25
