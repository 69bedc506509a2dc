"""The shipped model: it loads, keeps its cost budget, classifies the committed samples, and its
card's validation numbers are reproduced on the shared data (skipped where ../shared is absent)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from mlcore import artifact
from mlcore.artifact import DEFAULT_MODEL
from tests.helpers import REPO_ROOT, SAMPLES, SHARED_DATA
from training.data.dataset import load_dataset
from training.data.dedup import find_duplicate_groups
from training.data.split import groups_on_both_sides
from training.evaluation.evaluate import evaluate_artifact, predict_files

MODEL = DEFAULT_MODEL
SPLIT = REPO_ROOT / "models" / "brainxai-cnn.split.json"
needs_shared = pytest.mark.skipif(
    not (SHARED_DATA / "Training").is_dir(),
    reason="needs ../shared/data/brain-tumor-mri (the full Training split), absent on a fresh clone",
)


@pytest.fixture(scope="module")
def shipped() -> artifact.LoadedModel:
    return artifact.load(MODEL)


def test_the_shipped_model_loads_and_fits_its_budgets(shipped: artifact.LoadedModel) -> None:
    manifest = shipped.manifest
    assert shipped.classes == ["glioma", "meningioma", "notumor", "pituitary"]
    assert manifest["flops"] <= 0.6e9
    assert MODEL.stat().st_size <= 25 * 1024 * 1024
    assert manifest["provenance"]["fit_command"].startswith("python -m training fit")
    assert manifest["data"]["split"]["val"] == len(json.loads(SPLIT.read_text())["val"])


def test_the_shipped_model_classifies_the_committed_samples(shipped: artifact.LoadedModel) -> None:
    """The samples are a seeded random draw of validation images, two per class (not picked to pass):
    a smoke check that the file, the preprocessing and the weights fit together (chance is 25 %)."""
    files = [(path, shipped.classes.index(path.parent.name)) for path in sorted(SAMPLES.glob("*/*.jpg"))]
    assert len(files) == 8
    probs = predict_files(shipped, files, show_progress=False)
    correct = probs.argmax(axis=1) == np.array([label for _, label in files])
    assert correct.sum() >= 7, [str(path.name) for (path, _), ok in zip(files, correct, strict=True) if not ok]


@needs_shared
def test_the_committed_split_does_not_leak_duplicates() -> None:
    split = json.loads(SPLIT.read_text())
    data = load_dataset(SHARED_DATA / "Training", size=32, show_progress=False)
    report = find_duplicate_groups(data.exact_keys, data.phashes, split["dedup"]["phash_max_distance"])
    index = {path: i for i, path in enumerate(data.paths)}
    train = np.array([index[p] for p in split["train"]])
    val = np.array([index[p] for p in split["val"]])
    assert not groups_on_both_sides(report.groups, train, val)
    assert len(train) + len(val) == len(data.paths)


@needs_shared
@pytest.mark.slow
def test_the_model_card_numbers_are_reproduced(shipped: artifact.LoadedModel, tmp_path: Path) -> None:
    metrics = evaluate_artifact(
        MODEL, SHARED_DATA / "Training", SPLIT, subset="val", out_dir=tmp_path, show_progress=False
    )
    recorded = shipped.manifest["metrics"]["validation"]
    assert metrics["n"] == recorded["n"]
    assert metrics["confusion_matrix"] == recorded["confusion_matrix"]
    assert metrics["accuracy"] == pytest.approx(recorded["accuracy"], abs=1e-9)


def test_the_committed_card_is_the_one_the_artifact_renders() -> None:
    """models/MODEL_CARD.md is `python -m training card` of the shipped model (with its notes): never stale."""
    from training.artifact.card import render_card

    rendered = render_card(MODEL, REPO_ROOT / "models" / "MODEL_CARD.notes.md")
    assert (REPO_ROOT / "models" / "MODEL_CARD.md").read_text() == rendered
    assert "localisation loss" in rendered and "Apache-2.0" in rendered and "--notumor-offset" in rendered
