"""De-duplication finds exact and near copies; the split never puts a group on both sides."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
from PIL import Image, ImageEnhance

from training.data.dataset import load_dataset
from training.data.dedup import find_duplicate_groups


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
