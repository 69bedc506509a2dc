"""De-duplication finds exact and near copies; the split never puts a group on both sides."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
from PIL import Image, ImageEnhance

from training.data import load_dataset
from training.dedup import find_duplicate_groups
from training.split import groups_on_both_sides, stratified_group_split


def _with_duplicates(synth_root: Path, tmp_path: Path) -> Path:
    """A copy of the phantoms plus exact and near duplicates of some of them."""
    root = tmp_path / "Training"
    shutil.copytree(synth_root, root)
    for cls in ("glioma", "notumor"):
        files = sorted((root / cls).glob("*.png"))
        for i, path in enumerate(files[:4]):
            shutil.copy(path, root / cls / f"exact_{i}.png")
            image = Image.open(path)
            ImageEnhance.Brightness(image).enhance(1.04).save(root / cls / f"near_{i}.jpg", quality=90)
    return root


def test_exact_and_near_duplicates_are_grouped(synth_root: Path, tmp_path: Path) -> None:
    data = load_dataset(_with_duplicates(synth_root, tmp_path), size=32, show_progress=False)
    report = find_duplicate_groups(data.exact_keys, data.phashes, max_distance=4)
    group_of = dict(zip(data.paths, report.groups, strict=True))
    assert report.exact_duplicates == 8
    for cls, prefix in (("glioma", "gl"), ("notumor", "no")):
        for i in range(4):
            original = group_of[f"Training/{cls}/synth_{prefix}_{i:04d}.png"]
            assert group_of[f"Training/{cls}/exact_{i}.png"] == original
            assert group_of[f"Training/{cls}/near_{i}.jpg"] == original
    assert report.near_duplicates >= 8


def test_distinct_images_are_not_grouped() -> None:
    rng = np.random.default_rng(0)
    hashes = [int(h) for h in rng.integers(0, 2**63, size=200, dtype=np.int64)]
    keys = [str(i) for i in range(200)]
    report = find_duplicate_groups(keys, hashes, max_distance=4)
    assert report.n_groups == 200 and report.largest_group == 1


def test_split_keeps_groups_together_and_is_stratified_and_seeded() -> None:
    rng = np.random.default_rng(1)
    labels = np.repeat(np.arange(4), 250)
    groups = np.empty(1000, dtype=np.int64)
    next_group = 0
    for cls in range(4):  # groups of 1 to 6 images, all of one class
        members = np.flatnonzero(labels == cls)
        start = 0
        while start < len(members):
            size = int(rng.integers(1, 7))
            groups[members[start : start + size]] = next_group
            next_group += 1
            start += size
    train, val = stratified_group_split(labels, groups, 0.2, seed=7)
    assert not groups_on_both_sides(groups, train, val)
    assert len(train) + len(val) == 1000 and not set(train) & set(val)
    for cls in range(4):
        share = np.mean(labels[val] == cls)
        assert 0.2 < share < 0.3, share
    again_train, again_val = stratified_group_split(labels, groups, 0.2, seed=7)
    assert np.array_equal(val, again_val) and np.array_equal(train, again_train)
    _, other_val = stratified_group_split(labels, groups, 0.2, seed=8)
    assert not np.array_equal(val, other_val)


def test_split_leak_detector_sees_a_leak() -> None:
    groups = np.array([0, 0, 1, 2])
    assert groups_on_both_sides(groups, np.array([0, 2]), np.array([1, 3])) == {0}
