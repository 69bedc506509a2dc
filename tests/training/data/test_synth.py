"""Phantoms: the shared layout, boxes that match the masks, and lesions where each class has them."""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from training.__main__ import main
from training.data.synth import CLASSES, make_phantom


def test_synth_writes_the_shared_layout_and_boxes(tmp_path: Path) -> None:
    assert main(["synth", "--out", str(tmp_path), "--n", "3", "--size", "64"]) == 0
    for cls in CLASSES:
        assert len(list((tmp_path / "Training" / cls).glob("*.png"))) == 3
    with open(tmp_path / "tumor-boxes.csv") as handle:
        rows = list(csv.DictReader(handle))
    assert list(rows[0]) == ["path", "label", "x_center", "y_center", "width", "height"]
    assert {row["label"] for row in rows} == {"glioma", "meningioma", "pituitary"}
    assert len(rows) == 9
    for row in rows:
        image = Image.open(tmp_path / row["path"])
        mask = np.asarray(Image.open(tmp_path / "masks" / row["path"].removeprefix("Training/"))) > 127
        height, width = mask.shape
        assert image.size == (width, height)
        ys, xs = np.nonzero(mask)
        assert float(row["x_center"]) * width == pytest.approx((xs.min() + xs.max() + 1) / 2, abs=0.5)
        assert float(row["y_center"]) * height == pytest.approx((ys.min() + ys.max() + 1) / 2, abs=0.5)


def test_lesions_sit_where_each_class_has_them() -> None:
    rng = np.random.default_rng(0)
    for _ in range(10):
        pituitary = make_phantom("pituitary", rng, 128)
        x, y, w, _ = pituitary.box()  # type: ignore[misc]
        assert abs(x - 0.5) < 0.08 and y > 0.65 and w < 0.12  # small, midline, near the skull base
        meningioma = make_phantom("meningioma", rng, 128)
        x, y, _, _ = meningioma.box()  # type: ignore[misc]
        assert np.hypot(x - 0.5, y - 0.5) > 0.22  # against the skull, not central
        glioma = make_phantom("glioma", rng, 128)
        lesion = glioma.image[glioma.mask]
        assert lesion.std() > 0.1  # heterogeneous: bright rim, dark necrotic core
        assert make_phantom("notumor", rng, 128).box() is None


def test_phantoms_are_seeded() -> None:
    first = make_phantom("glioma", np.random.default_rng(4), 64)
    second = make_phantom("glioma", np.random.default_rng(4), 64)
    assert np.array_equal(first.image, second.image) and np.array_equal(first.mask, second.mask)
