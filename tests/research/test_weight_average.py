"""The weight average of two runs: the midpoint of every floating tensor, a best.pt that exports like any other."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
import torch

from mlcore import artifact
from research.same_collection.weight_average import averaged_checkpoint, main
from training.artifact.export import export


def _run_copy(tiny_run: Path, folder: Path, shift: float) -> Path:
    """A copy of the tiny run whose floating weights are moved by ``shift``."""
    folder.mkdir()
    shutil.copy(tiny_run / "split.json", folder / "split.json")
    checkpoint = torch.load(tiny_run / "best.pt", weights_only=False)
    checkpoint["weights"] = {
        name: tensor + shift if tensor.is_floating_point() else tensor for name, tensor in checkpoint["weights"].items()
    }
    torch.save(checkpoint, folder / "best.pt")
    return folder / "best.pt"


def test_the_average_is_the_midpoint_with_its_own_validation_metrics(tiny_run: Path, tmp_path: Path) -> None:
    first = _run_copy(tiny_run, tmp_path / "a", 0.0)
    second = _run_copy(tiny_run, tmp_path / "b", 0.02)
    averaged = averaged_checkpoint(first, second)
    original = torch.load(tiny_run / "best.pt", weights_only=False)["weights"]
    for name, tensor in averaged["weights"].items():
        expected = original[name] + 0.01 if tensor.is_floating_point() else original[name]
        assert torch.allclose(tensor, expected, atol=1e-6), name
    n_val = len(json.loads((tiny_run / "split.json").read_text())["val"])
    assert averaged["metrics"]["n"] == n_val and 0.0 <= averaged["metrics"]["accuracy"] <= 1.0
    assert averaged["averaged_from"] == [str(first), str(second)]


def test_the_written_average_exports_as_a_loadable_artifact(tiny_run: Path, tmp_path: Path) -> None:
    first = _run_copy(tiny_run, tmp_path / "a", 0.0)
    second = _run_copy(tiny_run, tmp_path / "b", 0.01)
    out = tmp_path / "avg" / "best.pt"
    assert main([str(first), str(second), "--out", str(out)]) == 0
    assert (out.parent / "split.json").read_text() == (tiny_run / "split.json").read_text()
    export(out, tmp_path / "avg.pt", name="avg", version="0.0.1")
    loaded = artifact.load(tmp_path / "avg.pt")
    assert loaded.classes == torch.load(out, weights_only=False)["classes"]


def test_runs_of_different_lineage_are_refused(tiny_run: Path, tmp_path: Path) -> None:
    first = _run_copy(tiny_run, tmp_path / "a", 0.0)
    second = _run_copy(tiny_run, tmp_path / "b", 0.0)
    checkpoint = torch.load(second, weights_only=False)
    checkpoint["config"] = {**checkpoint["config"], "width": checkpoint["config"]["width"] + 8}
    torch.save(checkpoint, second)
    with pytest.raises(SystemExit, match=r"config\.width"):
        averaged_checkpoint(first, second)
