"""fit-detector: the detector, threshold and temperature fitted on an existing artifact
(training/input_check/detector.py)."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import numpy as np
import pytest
import torch
from skimage import data as samples

from mlcore import artifact
from mlcore.errors import DatasetError
from mlcore.input_check.check import InputCheck, check_input
from mlcore.input_check.detector import detector_content, pooled_features
from mlcore.preprocessing import PreprocessSpec, preprocess
from training.__main__ import main
from training.artifact.calibrate import add_calibration
from training.data.dataset import read_gray
from training.input_check.detector import conformal_threshold, fit_detector, fit_gaussians, fit_temperature


def _check(model: artifact.LoadedModel, gray: np.ndarray) -> InputCheck:
    spec = PreprocessSpec.from_manifest(model.manifest)
    with torch.inference_mode():
        maps = model.module.features(preprocess(gray.astype(np.float32), spec))
    content = detector_content(pooled_features(maps)[0].numpy(), model.feature_detector)
    return check_input(gray.astype(np.float32), 0.0, content)


def _pooled(model: artifact.LoadedModel, gray: np.ndarray) -> np.ndarray:
    spec = PreprocessSpec.from_manifest(model.manifest)
    with torch.inference_mode():
        return pooled_features(model.module.features(preprocess(gray.astype(np.float32), spec)))[0].numpy()


def _not_brains() -> dict[str, np.ndarray]:
    rng = np.random.default_rng(0)
    yy, xx = np.mgrid[0:96, 0:96]
    return {
        "uniform noise": rng.random((96, 96)),
        "gaussian noise": np.clip(rng.normal(0.5, 0.2, (96, 96)), 0, 1),
        "photograph (camera)": samples.camera() / 255.0,
        "photograph (coins)": samples.coins() / 255.0,
        "photograph (moon)": samples.moon() / 255.0,
        "document page": samples.page() / 255.0,
        "checkerboard": samples.checkerboard() / 255.0,
        "a square": ((abs(xx - 48) < 30) & (abs(yy - 48) < 30)) * 0.8,
        "stripes": (np.sin(xx / 2) > 0) * 1.0,
    }


def test_a_phantom_trained_model_refuses_what_is_not_a_phantom_and_accepts_held_aside_phantoms(
    ood_model_path: Path, held_aside_phantoms: list[Path]
) -> None:
    model = artifact.load(ood_model_path)
    assert model.feature_detector is not None
    accepted = [_check(model, read_gray(path)).in_distribution for path in held_aside_phantoms]
    # The threshold targets 10 % false refusals on phantoms like the validation ones (16 of them: a loose bound).
    assert np.mean(accepted) >= 0.8, accepted
    for name, image in _not_brains().items():
        check = _check(model, image)
        assert not check.in_distribution, (name, check)
        assert check.kind == "content" and check.score is not None and check.score > model.feature_detector.threshold


def test_fit_ood_keeps_weights_and_calibration_images_and_describes_itself(
    exported: Path, synth_root: Path, tiny_run: Path, tmp_path: Path
) -> None:
    path = tmp_path / "model.pt"
    path.write_bytes(exported.read_bytes())
    add_calibration(path, synth_root, tiny_run / "split.json", per_class=2)
    before = artifact.load(path)
    fit_detector(path, synth_root, tiny_run / "split.json", false_refusal=0.1, show_progress=False)
    fitted = artifact.load(path)
    assert artifact.weights_sha256(fitted.module) == artifact.weights_sha256(before.module)
    np.testing.assert_array_equal(fitted.calibration, before.calibration)
    section = fitted.manifest["feature_detector"]
    assert fitted.feature_detector is not None and section["threshold"] == fitted.feature_detector.threshold
    assert section["false_refusal_target"] == 0.1 and section["detector"] == "mahalanobis-l2"
    assert set(section["calibration"]) >= {"ece_before", "ece_after", "brier_before", "brier_after", "n"}
    assert section["calibration"]["n"] == 16 and 0 < section["temperature"] < 100
    # The int8 calibration step keeps the input check too.
    add_calibration(path, synth_root, tiny_run / "split.json", per_class=1)
    again = artifact.load(path).feature_detector
    assert again is not None and again.threshold == fitted.feature_detector.threshold


def test_fit_temperature_recovers_the_temperature_that_made_the_labels() -> None:
    rng = np.random.default_rng(0)
    logits = rng.normal(0, 3, (20000, 4))
    probs = torch.softmax(torch.as_tensor(logits) / 2.0, dim=1).numpy()
    labels = np.array([rng.choice(4, p=row) for row in probs])
    assert fit_temperature(logits, labels) == pytest.approx(2.0, rel=0.05)


def test_the_conformal_threshold_is_the_ceil_n_plus_1_quantile() -> None:
    scores = np.arange(1, 100, dtype=float)[::-1]  # 99 scores 1..99, unsorted
    assert conformal_threshold(scores, 0.01) == 99.0  # rank ceil(100 × 0.99) = 99
    assert conformal_threshold(scores, 0.1) == 90.0  # rank ceil(100 × 0.9) = 90
    with pytest.raises(DatasetError, match="too few"):
        conformal_threshold(scores[:50], 0.01)  # rank 51 × 0.99 → 51 > 50


def test_fit_gaussians_needs_every_class_and_gives_normalised_means() -> None:
    rng = np.random.default_rng(0)
    features = rng.random((40, 6)) * 10
    labels = np.arange(40) % 2
    means, precision = fit_gaussians(features, labels, 2)
    assert means.shape == (2, 6) and precision.shape == (6, 6)
    assert np.all(np.linalg.norm(means, axis=1) <= 1 + 1e-9)
    with pytest.raises(DatasetError, match="every class"):
        fit_gaussians(features, labels, 3)


def test_the_cli_refuses_a_false_refusal_rate_out_of_range(tmp_path: Path) -> None:
    assert main(["fit-detector", "--model", str(tmp_path / "none.pt"), "--false-refusal", "0.7"]) == 2
    assert main(["fit-detector", "--model", str(tmp_path / "none.pt")]) == 2  # no such model: one line, exit 2


def test_a_model_trained_with_tumours_of_unknown_kind_gets_a_gaussian_of_them(
    synth_root: Path, unknown_kind_root: Path, tmp_path: Path
) -> None:
    """The split records the train-side tumours of unknown kind: the detector gets one more mean, theirs, and the
    manifest says how many were used; a split whose tumours went missing is refused."""
    from tests.helpers import tiny_config
    from training.artifact.export import export
    from training.fit.loop import fit
    from training.input_check.detector import unknown_kind_side

    config = tiny_config(
        synth_root, tmp_path / "run", epochs=1, unknown_kind=str(unknown_kind_root), unknown_kind_val_fraction=0.5
    )
    fit(config)
    split = tmp_path / "run" / "split.json"
    train_side, groups = unknown_kind_side(split, "train")
    assert len(train_side) == 6 and all(path.is_file() for path, _ in train_side) and len(set(groups)) == 2
    export(tmp_path / "run" / "best.pt", tmp_path / "model.pt")
    section = fit_detector(tmp_path / "model.pt", synth_root, split, false_refusal=0.1, show_progress=False)
    loaded = artifact.load(tmp_path / "model.pt")
    detector = loaded.feature_detector
    assert detector is not None and detector.means.shape[0] == 5  # four classes and theirs
    assert "6 train-side tumours of unknown kind" in section["gaussians"]
    scores = loaded.feature_detector.scores(  # every train-side tumour of unknown kind is in distribution
        np.stack([_pooled(loaded, read_gray(path)) for path, _ in train_side])
    )
    assert scores.max() <= loaded.feature_detector.threshold and "largest score" in section["threshold_rule"]
    parts = section["threshold_parts"]  # the held-aside groups are in distribution too, and set a part of it
    assert set(parts) == {"validation", "unknown_kind_train", "unknown_kind_held_aside"}
    assert loaded.feature_detector.threshold == pytest.approx(max(parts.values()), abs=1e-3)
    _check_held_aside_groups_are_measured_as_unseen(loaded, unknown_kind_root, split)
    moved = json.loads(split.read_text())
    moved["unknown_kind"]["root"] = str(tmp_path / "gone")
    split.write_text(json.dumps(moved))
    with pytest.raises(DatasetError, match="missing"):
        unknown_kind_side(split, "train")


def _check_held_aside_groups_are_measured_as_unseen(
    model: artifact.LoadedModel, unknown_kind_root: Path, split: Path
) -> None:
    """Held-aside groups that set the threshold are answered in sample; as unseen groups each meets the threshold set
    without it. With the threshold's other parts lowered to nothing, a copy is refused as unseen exactly when its
    score beats every score of the other groups."""
    from training.evaluation.evaluate import same_collection_report, unknown_kind_files

    assert model.feature_detector is not None
    section = model.manifest["feature_detector"]
    low = {**section["threshold_parts"], "validation": 0.0, "unknown_kind_train": 0.0}
    bare = dataclasses.replace(
        model, manifest={**model.manifest, "feature_detector": {**section, "threshold_parts": low}}
    )
    report = same_collection_report(bare, unknown_kind_root, split, show_progress=False)
    paths, groups = unknown_kind_files(unknown_kind_root, split)
    scores = model.feature_detector.scores(np.stack([_pooled(model, read_gray(path)) for path in paths]))
    members = np.array(groups)
    beats_the_others = [score > scores[members != group].max() for score, group in zip(scores, groups, strict=True)]
    assert len(set(groups)) >= 2 and report["copies"]["refused"] == 0.0
    unseen = report["unseen_by_the_input_check"]["copies"]
    assert unseen["n"] == len(paths) and unseen["refused"] == pytest.approx(np.mean(beats_the_others))
    assert unseen["refused"] > 0  # the highest-scoring copy's group, at least
