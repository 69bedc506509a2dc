"""Tumours of unknown kind: slices that say "tumour" but not which one, with a box, in groups of copies.

The folder layout is ``<root>/boxes.csv`` (``path,group,x_center,y_center,width,height``, coordinates as fractions)
and the images it names (``../shared/data/br35h-tumours/``: tumours from the collection of most no-tumour images).
Copies of one slice share a ``group`` and always stay on one side of a split. Training reads them with the label
:func:`unknown_kind_label` (one past the last class), whose loss is on p(no tumour) alone
(:class:`training.fit.losses.TumourAnyKindLoss`); evaluation reports the share answered as a tumour.
"""

from __future__ import annotations

import csv
import logging
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from tqdm import tqdm

from mlcore.errors import DatasetError
from mlcore.preprocessing import fit_to_square
from training.data.boxes import box_masks
from training.data.dataset import read_gray

log = logging.getLogger(__name__)

BOXES_FILE = "boxes.csv"


@dataclass(frozen=True)
class UnknownKindTumours:
    """Tumour slices of unknown kind fitted to the model's grid: images (N, 1, S, S) in [0, 1], their box masks
    (uint8, same shape) and which have a box, each image's group of copies and its path relative to the root."""

    images: torch.Tensor
    masks: torch.Tensor
    has_box: torch.Tensor
    groups: list[str]
    paths: list[str]

    def subset(self, index: np.ndarray) -> UnknownKindTumours:
        """The images at ``index`` (an array of positions)."""
        chosen = torch.from_numpy(index)
        return UnknownKindTumours(
            images=self.images[chosen],
            masks=self.masks[chosen],
            has_box=self.has_box[chosen],
            groups=[self.groups[i] for i in index],
            paths=[self.paths[i] for i in index],
        )


def unknown_kind_label(classes: list[str]) -> int:
    """The training label of a tumour of unknown kind: one past the classes' indices."""
    return len(classes)


def load_unknown_kind(root: Path, size: int, *, show_progress: bool = False) -> UnknownKindTumours:
    """Read every image ``root/boxes.csv`` names, fitted to size×size, with its box mask and group."""
    table = root / BOXES_FILE
    if not table.is_file():
        raise DatasetError(f"tumours of unknown kind: no {BOXES_FILE} in {root}")
    with open(table, newline="") as handle:
        rows = list(csv.DictReader(handle))
    missing = {"path", "group", "x_center", "y_center", "width", "height"} - set(rows[0] if rows else {})
    if missing or not rows:
        raise DatasetError(f"{table}: expected columns path,group,x_center,y_center,width,height (missing {missing})")
    images, sizes = [], []
    for row in tqdm(rows, desc=f"reading {root.name}", unit="img", disable=not show_progress):
        gray = read_gray(root / row["path"])
        images.append(fit_to_square(gray, size))
        sizes.append((int(gray.shape[0]), int(gray.shape[1])))
    paths = [row["path"] for row in rows]
    boxes = {
        row["path"]: (float(row["x_center"]), float(row["y_center"]), float(row["width"]), float(row["height"]))
        for row in rows
    }
    masks, has_box = box_masks(paths, sizes, boxes, size)
    log.info("%d tumours of unknown kind in %d groups from %s", len(rows), len({r["group"] for r in rows}), root)
    return UnknownKindTumours(
        images=torch.stack(images), masks=masks, has_box=has_box, groups=[row["group"] for row in rows], paths=paths
    )


def split_groups(groups: list[str], val_fraction: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Positions of the training and validation images, whole groups on one side; ``val_fraction`` of the groups
    (at least one) go to validation, chosen by ``seed``."""
    names = sorted(set(groups))
    order = np.random.default_rng(seed).permutation(len(names))
    held = {names[i] for i in order[: max(1, round(val_fraction * len(names)))]}
    val = np.array([i for i, group in enumerate(groups) if group in held], dtype=np.int64)
    train = np.array([i for i, group in enumerate(groups) if group not in held], dtype=np.int64)
    return train, val


def group_of_each(root: Path) -> dict[str, str]:
    """Each image's group of copies, by its path relative to ``root`` (``boxes.csv``), in the table's order."""
    table = root / BOXES_FILE
    if not table.is_file():
        raise DatasetError(f"tumours of unknown kind: no {BOXES_FILE} in {root}")
    with open(table, newline="") as handle:
        return {row["path"]: row["group"] for row in csv.DictReader(handle)}


def one_per_group(groups: list[str]) -> np.ndarray:
    """The position of the first image of each group: one slice per group of copies, as measurement counts them."""
    seen: dict[str, int] = {}
    for position, group in enumerate(groups):
        seen.setdefault(group, position)
    return np.array(sorted(seen.values()), dtype=np.int64)
