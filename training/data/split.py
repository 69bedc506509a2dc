"""A stratified, seeded train/validation split that keeps every duplicate group on one side."""

from __future__ import annotations

import numpy as np

from mlcore.errors import TrainingError


def stratified_group_split(
    labels: np.ndarray, groups: np.ndarray, val_fraction: float, seed: int
) -> tuple[np.ndarray, np.ndarray]:
    """Split image indices into (train, validation) by whole duplicate groups.

    Each group takes the most common label of its members; per class, the class's groups are
    shuffled with ``seed`` and moved to validation until the class has ``val_fraction`` of its
    images there. The same inputs always give the same split.
    """
    if not 0.0 < val_fraction < 1.0:
        raise TrainingError(f"val_fraction must be in (0, 1), got {val_fraction}")
    rng = np.random.default_rng(seed)
    group_ids = np.unique(groups)
    group_label = {int(g): int(np.bincount(labels[groups == g]).argmax()) for g in group_ids}
    val_groups: set[int] = set()
    for cls in np.unique(labels):
        class_groups = np.array(sorted(g for g, lab in group_label.items() if lab == cls))
        rng.shuffle(class_groups)
        target = val_fraction * int(np.sum(labels == cls))
        taken = 0
        for g in class_groups:
            if taken >= target:
                break
            val_groups.add(int(g))
            taken += int(np.sum(groups == g))
    in_val = np.isin(groups, list(val_groups))
    return np.flatnonzero(~in_val), np.flatnonzero(in_val)


def groups_on_both_sides(groups: np.ndarray, train: np.ndarray, val: np.ndarray) -> set[int]:
    """Duplicate groups that have members in both train and validation (should be empty)."""
    return set(groups[train].tolist()) & set(groups[val].tolist())
