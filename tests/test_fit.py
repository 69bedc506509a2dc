"""The fit loop learns, writes its files, refuses bad data loudly, and its schedule is sane."""

from __future__ import annotations

import dataclasses
import itertools
import json
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch

from mlcore.preprocessing import PreprocessSpec
from training.augment import AugmentConfig, augment_batch
from training.data import DatasetError, load_dataset
from training.fit import Distributed, lr_factor, predict_probabilities, train_one_epoch
from training.models import build_model, count_macs, count_parameters


def test_a_tiny_fit_overfits_sixteen_images(synth_root: Path) -> None:
    data = load_dataset(synth_root, size=48, show_progress=False)
    rng = np.random.default_rng(0)
    chosen = np.concatenate([rng.choice(np.flatnonzero(data.labels == k), 4, replace=False) for k in range(4)])
    images, labels = data.images[chosen], torch.from_numpy(data.labels[chosen])
    spec = PreprocessSpec(size=48, mean=0.2, std=0.25)
    torch.manual_seed(0)
    model = build_model("brainxai_cnn", 4, width=8, dropout=0.0)
    optimizer = torch.optim.AdamW(model.parameters(), lr=3e-3)
    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, lambda _: 1.0)
    solo = Distributed(rank=0, world_size=1, device=torch.device("cpu"))
    losses = [
        train_one_epoch(
            model,
            None,
            images,
            labels,
            optimizer,
            scheduler,
            torch.nn.CrossEntropyLoss(),
            spec,
            AugmentConfig.none(),
            8,
            epoch,
            solo,
            amp=False,
        )[0]
        for epoch in range(60)
    ]
    predicted = predict_probabilities(model, images, spec, solo.device).argmax(1)
    assert (predicted == labels.numpy()).all()
    assert losses[-1] < 0.1 * losses[0]


def test_fit_writes_checkpoints_split_and_history(tiny_run: Path) -> None:
    history = json.loads((tiny_run / "history.json").read_text())
    assert [row["epoch"] for row in history] == [1, 2, 3, 4]
    split = json.loads((tiny_run / "split.json").read_text())
    assert not set(split["train"]) & set(split["val"])
    assert len(split["train"]) + len(split["val"]) == 64
    best = torch.load(tiny_run / "best.pt", weights_only=False)
    best_row = history[best["epoch"] - 1]
    assert best_row["val_macro_f1"] == max(row["val_macro_f1"] for row in history)
    assert round(best["metrics"]["macro_f1"], 5) == best_row["val_macro_f1"]
    assert best["preprocess"]["size"] == 48


def test_unreadable_images_stop_the_run_and_are_all_named(synth_root: Path, tmp_path: Path) -> None:
    root = tmp_path / "Training"
    shutil.copytree(synth_root, root)
    (root / "glioma" / "broken.jpg").write_bytes(b"\xff\xd8\xff\xe0 truncated jpeg")
    (root / "notumor" / "empty.png").write_bytes(b"")
    with pytest.raises(DatasetError) as caught:
        load_dataset(root, size=32, show_progress=False)
    assert "broken.jpg" in str(caught.value) and "empty.png" in str(caught.value)
    assert "--skip-bad" in str(caught.value)
    data = load_dataset(root, size=32, skip_bad=True, show_progress=False)
    assert len(data.paths) == 64


def test_missing_dataset_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(DatasetError, match="not found"):
        load_dataset(tmp_path / "nowhere", size=32)


def test_schedule_warms_up_then_decays_to_zero() -> None:
    factors = [lr_factor(step, 100, 10) for step in range(100)]
    assert factors[0] == pytest.approx(0.1) and factors[9] == pytest.approx(1.0)
    assert all(a >= b for a, b in itertools.pairwise(factors[10:]))
    assert lr_factor(100, 100, 10) == pytest.approx(0.0)


def test_augmentation_is_seeded_and_changes_images(synth_root: Path) -> None:
    images = load_dataset(synth_root, size=48, show_progress=False).images[:8]
    first, _ = augment_batch(images, AugmentConfig(), torch.Generator().manual_seed(5))
    second, _ = augment_batch(images, AugmentConfig(), torch.Generator().manual_seed(5))
    assert torch.equal(first, second)
    assert not torch.allclose(first, images)
    unchanged, _ = augment_batch(images, AugmentConfig.none(), torch.Generator())
    assert torch.allclose(unchanged, images, atol=1e-5)


def test_box_masks_move_with_the_image() -> None:
    """A bright square and its mask go through the same random geometry: the mask stays on the square."""
    images = torch.zeros(16, 1, 64, 64)
    images[:, :, 10:22, 36:50] = 1.0
    masks = (images > 0).to(torch.uint8)
    config = dataclasses.replace(AugmentConfig.none(), rotate_degrees=30.0, scale=(0.8, 1.2), translate=0.15, hflip=0.5)
    moved, moved_masks = augment_batch(images, config, torch.Generator().manual_seed(3), masks)
    assert moved_masks is not None
    for image, mask in zip(moved, moved_masks, strict=True):
        bright = image[0] > 0.5
        inside = mask[0] > 0.5
        assert inside.sum() > 0
        assert (bright & inside).sum() / (bright | inside).sum() > 0.8


def test_the_shipped_architecture_fits_the_cost_budget() -> None:
    model = build_model("brainxai_cnn", 4, width=26, dropout=0.2)
    assert 2 * count_macs(model, 192) <= 0.6e9  # LIME runs the model about a thousand times
    assert count_parameters(model) < 5_000_000


def test_resnet18_takes_one_channel() -> None:
    model = build_model("resnet18", 4, width=64, dropout=0.0).eval()
    with torch.no_grad():
        assert model(torch.zeros(2, 1, 64, 64)).shape == (2, 4)
    assert model.backbone(torch.zeros(1, 1, 64, 64)).shape[1] == 512
