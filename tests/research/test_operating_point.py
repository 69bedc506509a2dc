"""The operating-point sweep moves the "notumor" logit, and only it, in a loadable copy of the artifact."""

from __future__ import annotations

import shutil
from pathlib import Path

import torch

from mlcore import artifact
from research.same_collection.operating_point import with_offset


def test_an_offset_lowers_the_notumor_logit_by_that_much_in_a_loadable_copy(
    ood_model_path: Path, tiny_run: Path, tmp_path: Path
) -> None:
    source = tmp_path / "run" / "model.pt"
    source.parent.mkdir()
    shutil.copy(ood_model_path, source)
    shutil.copy(tiny_run / "split.json", source.parent / "split.json")
    moved_path = with_offset(source, 1.5, tmp_path / "out")
    original, moved = artifact.load(source), artifact.load(moved_path)  # the input check matches the new weights
    assert moved.feature_detector is not None and moved.manifest["version"].endswith("-offset1.5")
    assert moved_path.with_suffix(".split.json").read_text() == (tiny_run / "split.json").read_text()
    size = original.manifest["input"]["size"]
    batch = torch.rand(3, 1, size, size)
    with torch.inference_mode():
        change = moved.module(batch) - original.module(batch)
    notumor = original.classes.index("notumor")
    expected = torch.zeros_like(change)
    expected[:, notumor] = -1.5
    assert torch.allclose(change, expected, atol=1e-5)
