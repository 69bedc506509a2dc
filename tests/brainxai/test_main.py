"""The ``brainxai`` command (brainxai/__main__.py)."""

from __future__ import annotations

import csv
from pathlib import Path

import pytest

from brainxai.__main__ import main
from tests.helpers import SAMPLES


def test_analyze_writes_the_table_for_a_model_and_exits_0(tiny_model_path: Path, tmp_path: Path) -> None:
    out = tmp_path / "out"
    assert main(["analyze", str(SAMPLES), "--out", str(out), "--model", str(tiny_model_path)]) == 0
    with open(out / "results.csv", newline="") as handle:
        assert len(list(csv.DictReader(handle))) == len(list(SAMPLES.glob("*/*.jpg")))


def test_a_bad_shard_or_path_is_a_message_and_exit_2(tiny_model_path: Path, tmp_path: Path) -> None:
    model = ["--model", str(tiny_model_path), "--out", str(tmp_path / "out")]
    assert main(["analyze", str(SAMPLES), "--shard", "3/2", *model]) == 2
    assert main(["analyze", str(tmp_path / "nowhere"), *model]) == 2


def test_train_hands_its_arguments_to_the_training_command(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as stopped:
        main(["train", "fit-gate", "--help"])
    assert stopped.value.code == 0 and "input gate" in capsys.readouterr().out
