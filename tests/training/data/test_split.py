"""The split: duplicate groups stay on one side, stratified and seeded; a leak is detected."""

from __future__ import annotations

import numpy as np

from training.data.split import groups_on_both_sides, stratified_group_split


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
