"""What the input gate is fitted and measured with (training/input_check/gate_data.py)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from training.input_check.gate_data import FeatureSet, ood_part, scanner_view, skull_stripped


def _head(size: int = 128) -> np.ndarray:
    yy, xx = np.mgrid[0:size, 0:size] / size
    radius = np.hypot(xx - 0.5, yy - 0.5)
    return ((radius < 0.4) * 0.5 + (np.abs(radius - 0.42) < 0.02) * 0.9).astype(np.float32)


def test_a_scanner_view_is_a_writable_image_of_the_same_size_in_range() -> None:
    rng = np.random.default_rng(0)
    for _ in range(20):
        view = scanner_view(_head(), rng)
        assert view.shape == (128, 128) and view.flags.writeable
        assert view.min() >= 0.0 and view.max() <= 1.0


def test_stripping_the_skull_keeps_the_middle_and_clears_the_rim() -> None:
    head = _head()
    stripped = skull_stripped(head)
    assert stripped[64, 64] == head[64, 64] and stripped[64, 64 + int(0.42 * 128)] == 0.0


def test_ood_part_reads_one_part_and_refuses_a_folder_without_it(tmp_path: Path) -> None:
    (tmp_path / "sources.json").write_text(
        json.dumps({"fit/a/1.png": {"part": "fit", "kind": "a", "source": "s1", "licence": "l"}})
    )
    paths, kinds, sources = ood_part(tmp_path, "fit")
    assert paths == [tmp_path / "fit/a/1.png"] and kinds == ["a"] and sources == ["s1"]
    with pytest.raises(FileNotFoundError, match="measure"):
        ood_part(tmp_path, "measure")


def test_feature_sets_join_in_order() -> None:
    one = FeatureSet(np.zeros((2, 3)), np.array(["g1", "g1"], dtype=object), np.array(["a", "a"], dtype=object))
    two = FeatureSet(np.ones((1, 3)), np.array(["g2"], dtype=object), np.array(["b"], dtype=object))
    joined = FeatureSet.join([one, two])
    assert joined.features.shape == (3, 3) and joined.origins.tolist() == ["a", "a", "b"]
