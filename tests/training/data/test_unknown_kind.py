"""Tumours of unknown kind: read with their boxes and groups, split by whole groups."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from mlcore.errors import DatasetError
from training.data.unknown_kind import load_unknown_kind, one_per_group, split_groups, unknown_kind_label


def test_they_are_read_with_boxes_and_groups(unknown_kind_root: Path) -> None:
    tumours = load_unknown_kind(unknown_kind_root, 48)
    assert tumours.images.shape == (12, 1, 48, 48) and tumours.masks.shape == (12, 1, 48, 48)
    assert bool(tumours.has_box.all()) and int(tumours.masks[0].sum()) > 0
    assert tumours.groups[:4] == ["g00", "g00", "g00", "g01"]
    subset = tumours.subset(np.array([3, 4]))
    assert subset.groups == ["g01", "g01"] and subset.paths == tumours.paths[3:5]
    assert unknown_kind_label(["glioma", "meningioma", "notumor", "pituitary"]) == 4


def test_a_folder_without_its_table_is_refused(tmp_path: Path) -> None:
    with pytest.raises(DatasetError, match=r"boxes\.csv"):
        load_unknown_kind(tmp_path, 48)
    (tmp_path / "boxes.csv").write_text("path,label\n")
    with pytest.raises(DatasetError, match="expected columns"):
        load_unknown_kind(tmp_path, 48)


def test_the_split_keeps_every_group_on_one_side_and_depends_on_the_seed() -> None:
    groups = [f"g{i // 4}" for i in range(40)]  # ten groups of four copies
    train, val = split_groups(groups, 0.2, seed=0)
    assert len(val) == 8 and len(train) == 32
    assert not {groups[i] for i in train} & {groups[i] for i in val}
    assert set(val) != set(split_groups(groups, 0.2, seed=1)[1]) or set(val) != set(
        split_groups(groups, 0.2, seed=2)[1]
    )
    assert len(split_groups(groups, 0.0, seed=0)[1]) == 4  # at least one group
    assert one_per_group(["a", "a", "b", "a", "c"]).tolist() == [0, 2, 4]
