"""Calibration images are stored from the train side and leave the weights unchanged."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import torch

from mlcore import artifact
from training.__main__ import main


def test_calibrate_stores_train_side_images_and_keeps_the_weights(
    tiny_run: Path, exported: Path, synth_root: Path, tmp_path: Path
) -> None:
    calibrated = tmp_path / "calibrated.pt"
    calibrated.write_bytes(exported.read_bytes())
    split = tiny_run / "split.json"
    args = ["calibrate", "--model", str(calibrated), "--data", str(synth_root), "--split", str(split)]
    assert main([*args, "--per-class", "3"]) == 0
    before, after = artifact.load(exported), artifact.load(calibrated)
    assert before.calibration is None
    assert after.calibration is not None and after.calibration.shape == (12, 48, 48)
    assert after.calibration.dtype == np.uint8 and after.calibration.max() > 0
    names = after.manifest["calibration"]["images"]
    train = {path.split("/", 1)[1] for path in json.loads(split.read_text())["train"]}
    assert len(names) == 12 and set(names) <= train
    assert {name.split("/")[0] for name in names} == set(after.classes)
    x = torch.randn(3, 1, 48, 48)
    with torch.inference_mode():
        assert torch.equal(before.module(x), after.module(x))
    card = tmp_path / "CARD.md"
    assert main(["card", "--model", str(calibrated), "--out", str(card)]) == 0
    assert "int8 calibration: 12 images of the **training** side" in card.read_text()
