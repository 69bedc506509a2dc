"""The model card carries the artifact's own numbers."""

from __future__ import annotations

from pathlib import Path

from mlcore import artifact
from training.__main__ import main


def test_the_model_card_carries_the_artifacts_own_numbers(exported: Path, tmp_path: Path) -> None:
    card_path = tmp_path / "MODEL_CARD.md"
    assert main(["card", "--model", str(exported), "--out", str(card_path)]) == 0
    card = card_path.read_text()
    manifest = artifact.load(exported).manifest
    validation = manifest["metrics"]["validation"]
    assert f"| {validation['accuracy']:.4f} | {validation['macro_f1']:.4f} |" in card
    assert manifest["provenance"]["fit_command"] in card and manifest["data"]["fingerprint"] in card
    assert "not a medical device" in card.lower()
