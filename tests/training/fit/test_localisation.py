"""The box-supervised localisation loss: boxes land where the pixels are, degenerate maps cannot win,
validation boxes are never read, and on phantoms the loss makes Grad-CAM point at the lesion.

The phantom experiment is also the proof that Grad-CAM's map is aligned with the image: a model
trained here must reach a pointing game of at least 90% on validation phantoms, which a flipped,
transposed or mis-scaled map would not.
"""

from __future__ import annotations

import json
import logging
import math
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch

from tests.helpers import tiny_config
from training.artifact.export import export
from training.data.boxes import read_boxes
from training.data.dataset import load_dataset
from training.data.synth import write_phantoms
from training.evaluation.explain_eval import evaluate_explanations, load_cases, summarise
from training.evaluation.explanation_metrics import box_from_fractions, pointing_game
from training.fit.localisation import localisation_loss
from training.fit.loop import fit, training_masks

log = logging.getLogger(__name__)


def test_degenerate_maps_cannot_score_well_on_the_loss() -> None:
    """All-zero and constant maps score −log(box share); a map peaked in the box scores far better."""
    masks = torch.zeros(1, 1, 48, 48, dtype=torch.uint8)
    masks[..., 12:24, 24:36] = 1  # a quarter of the grid's side: 1/16 of the cells
    share = 1 / 16
    zero = torch.zeros(1, 12, 12)
    constant = torch.full((1, 12, 12), 7.0)
    peaked = torch.full((1, 12, 12), -5.0)
    peaked[:, 3:6, 6:9] = 5.0
    outside = torch.full((1, 12, 12), 5.0)
    outside[:, 3:6, 6:9] = -5.0
    assert localisation_loss(zero, masks).item() == pytest.approx(-math.log(share), rel=1e-5)
    assert localisation_loss(constant, masks).item() == pytest.approx(-math.log(share), rel=1e-5)
    assert localisation_loss(peaked, masks).item() < 0.01
    assert localisation_loss(outside, masks).item() > localisation_loss(zero, masks).item()


def test_only_training_boxes_are_read(tiny_run: Path, synth_root: Path) -> None:
    """The box masks fit builds cover the training side of the split only; explain-eval reads the other side."""
    split = json.loads((tiny_run / "split.json").read_text())
    boxes_csv = synth_root.parent / "tumor-boxes.csv"
    boxes = read_boxes(boxes_csv)
    data = load_dataset(synth_root, 48, show_progress=False)
    train = np.array([data.paths.index(path) for path in split["train"]])
    supervision = training_masks(tiny_config(synth_root, tiny_run, boxes=str(boxes_csv)), data, train)
    assert supervision is not None
    masks, has_box = supervision
    assert int(has_box.sum()) == sum(path in boxes for path in split["train"])
    assert len(masks) == len(split["train"])
    cases = load_cases(synth_root, boxes_csv, tiny_run / "split.json", per_class=None, seed=0)
    assert cases and {case.relative for case in cases} <= set(split["val"])


@pytest.fixture(scope="module")
def phantom_runs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """Two models trained on the same phantoms with the same seed, with and without the localisation loss."""
    root = write_phantoms(tmp_path_factory.mktemp("phantoms"), n_per_class=48, seed=11, size=96, show_progress=False)
    boxes_csv = root.parent / "tumor-boxes.csv"
    results: dict[str, Any] = {}
    for name, boxes in (("with_loss", str(boxes_csv)), ("without_loss", "")):
        out = tmp_path_factory.mktemp(name)
        config = tiny_config(
            root,
            out,
            image_size=96,
            width=12,
            epochs=16,
            batch_size=16,
            boxes=boxes,
            localisation_weight=1.0,
            augment=False,
        )
        metrics = fit(config)
        model_path = out / "model.pt"
        export(out / "best.pt", model_path)
        cases = load_cases(root, boxes_csv, out / "split.json", per_class=None, seed=0)
        rows = evaluate_explanations(model_path, cases, ["gradcam"], {}, show_progress=False)
        results[name] = {"accuracy": metrics["accuracy"], "summary": summarise(rows), "model": model_path}
        log.info(
            "phantoms %s: accuracy %.3f, Grad-CAM pointing %.3f, centre prior %.3f",
            name,
            metrics["accuracy"],
            results[name]["summary"]["gradcam"]["all"]["pointing_game"],
            results[name]["summary"]["centre_prior"]["all"]["pointing_game"],
        )
    results["cases"] = cases
    return results


def test_gradcam_points_at_the_phantom_lesion(phantom_runs: dict[str, Any]) -> None:
    pointing = phantom_runs["with_loss"]["summary"]["gradcam"]["all"]["pointing_game"]
    assert pointing >= 0.9
    assert pointing > 1.5 * phantom_runs["with_loss"]["summary"]["centre_prior"]["all"]["pointing_game"]


def test_the_loss_improves_pointing_without_hurting_accuracy(phantom_runs: dict[str, Any]) -> None:
    with_loss, without_loss = phantom_runs["with_loss"], phantom_runs["without_loss"]
    assert with_loss["summary"]["gradcam"]["all"]["pointing_game"] >= (
        without_loss["summary"]["gradcam"]["all"]["pointing_game"] + 0.2
    )
    assert with_loss["accuracy"] >= without_loss["accuracy"] - 0.02


def test_a_flipped_or_transposed_map_would_fail_the_pointing_game(phantom_runs: dict[str, Any]) -> None:
    """The same maps, mirrored or transposed, miss the lesion: the 90% above is evidence of alignment."""
    from mlcore import artifact
    from mlcore.explainers import get_explainer
    from mlcore.preprocessing import PreprocessSpec, map_to_original, preprocess
    from training.data.dataset import read_gray

    model = artifact.load(phantom_runs["with_loss"]["model"])
    spec = PreprocessSpec.from_manifest(model.manifest)
    gradcam = get_explainer("gradcam")
    hits = {"as_is": 0, "flipped": 0, "transposed": 0}
    cases = [case for case in phantom_runs["cases"] if case.label != "pituitary"]  # pituitary sits on the midline
    for case in cases:
        gray = read_gray(case.path)
        square = gradcam.explain(model.module, preprocess(gray, spec), model.classes.index(case.label), {})
        box = box_from_fractions(case.box, gray.shape)
        tolerance = round(0.05 * max(gray.shape))
        for name, variant in (("as_is", square), ("flipped", square[:, ::-1]), ("transposed", square.T)):
            hits[name] += pointing_game(map_to_original(variant, *gray.shape), box, tolerance)
    assert hits["as_is"] >= 0.9 * len(cases)
    assert hits["flipped"] < 0.6 * len(cases) and hits["transposed"] < 0.6 * len(cases)
