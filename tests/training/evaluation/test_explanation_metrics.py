"""The explanation measures behave as defined, and the evaluation only ever uses validation images."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np
import pytest

from mlcore.errors import DatasetError
from training.evaluation.explain_eval import load_cases
from training.evaluation.explanation_metrics import (
    blurred,
    box_from_fractions,
    centre_prior,
    deletion_insertion,
    energy_in_box,
    pointing_game,
    rank_correlation,
)


def test_box_from_fractions_is_yolo_style() -> None:
    assert box_from_fractions((0.5, 0.25, 0.5, 0.5), (100, 200)) == (50, 0, 150, 50)


def test_pointing_game_hits_misses_and_refuses_flat_maps() -> None:
    heatmap = np.zeros((50, 50), np.float32)
    heatmap[10, 40] = 1.0
    assert pointing_game(heatmap, (35, 5, 45, 15), tolerance=0)
    assert not pointing_game(heatmap.T, (35, 5, 45, 15), tolerance=0)  # transposed: misses
    assert pointing_game(heatmap, (41, 5, 45, 15), tolerance=2)  # just outside, within tolerance
    assert not pointing_game(np.ones((50, 50), np.float32), (35, 5, 45, 15), tolerance=0)
    assert not pointing_game(np.zeros((50, 50), np.float32), (0, 0, 50, 50), tolerance=0)


def test_energy_in_box() -> None:
    heatmap = np.zeros((10, 10), np.float32)
    heatmap[:5, :5] = 1.0
    heatmap[9, 9] = 1.0
    assert energy_in_box(heatmap, (0, 0, 5, 5)) == pytest.approx(25 / 26)
    assert energy_in_box(np.zeros((10, 10)), (0, 0, 5, 5)) == 0.0


def test_deletion_and_insertion_reward_the_true_order() -> None:
    image = np.zeros((20, 20), np.float32)
    image[5:10, 5:10] = 1.0

    def probability(images: np.ndarray) -> np.ndarray:  # the "model" only looks at the square
        return images[:, 5:10, 5:10].mean(axis=(1, 2))

    right = image.copy()
    wrong = 1.0 - image
    right_deletion, right_insertion = deletion_insertion(probability, image, right, background=0.0)
    wrong_deletion, wrong_insertion = deletion_insertion(probability, image, wrong, background=0.0)
    assert right_deletion < wrong_deletion and right_insertion > wrong_insertion


def test_centre_prior_and_rank_correlation() -> None:
    prior = centre_prior((41, 41))
    assert np.unravel_index(np.argmax(prior), prior.shape) == (20, 20)
    assert rank_correlation(prior, prior * 2) == pytest.approx(1.0)
    assert rank_correlation(prior, -prior) == pytest.approx(-1.0)
    assert rank_correlation(prior, np.ones_like(prior)) == 0.0


def test_evaluation_uses_only_validation_images(synth_root: Path, tmp_path: Path) -> None:
    boxes = synth_root.parent / "tumor-boxes.csv"
    with open(boxes) as handle:
        rows = list(csv.DictReader(handle))
    val = [row["path"] for row in rows[::3]]
    split = tmp_path / "split.json"
    split.write_text(json.dumps({"train": [r["path"] for r in rows if r["path"] not in val], "val": val}))
    cases = load_cases(synth_root, boxes, split, per_class=None, seed=0)
    assert {case.relative for case in cases} == set(val)
    limited = load_cases(synth_root, boxes, None, per_class=2, seed=0)
    assert len(limited) == 6 and {c.label for c in limited} == {"glioma", "meningioma", "pituitary"}
    split.write_text(json.dumps({"train": [], "val": ["Training/notumor/none.png"]}))
    with pytest.raises(DatasetError, match="no image with a box"):
        load_cases(synth_root, boxes, split, per_class=None, seed=0)


def test_deletion_with_an_image_background_fills_from_it() -> None:
    image = np.zeros((8, 8))
    image[2:4, 2:4] = 1.0
    heatmap = image.copy()
    seen: list[np.ndarray] = []

    def probability(stack: np.ndarray) -> np.ndarray:
        seen.append(stack)
        return stack[:, 2:4, 2:4].mean(axis=(1, 2))

    smooth = blurred(image, 0.1)
    assert 0 < smooth[2:4, 2:4].mean() < 1 and smooth.sum() == pytest.approx(image.sum(), rel=0.05)
    deletion, insertion = deletion_insertion(probability, image, heatmap, background=smooth, steps=4)
    fully_deleted = seen[0][4]
    assert np.allclose(fully_deleted, smooth)  # the last deletion step is the blurred image, not black
    assert deletion < insertion
