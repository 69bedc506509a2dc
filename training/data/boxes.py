"""Tumour boxes: read from ``tumor-boxes.csv``, placed on the fitted square, as masks on the model's grid."""

from __future__ import annotations

import csv
from pathlib import Path

import torch

from mlcore.errors import DatasetError
from mlcore.preprocessing import square_padding


def read_boxes(boxes_csv: Path) -> dict[str, tuple[float, float, float, float]]:
    """The boxes of ``tumor-boxes.csv`` by relative path: (x_center, y_center, width, height) fractions."""
    if not boxes_csv.is_file():
        raise DatasetError(f"boxes file not found: {boxes_csv}")
    with open(boxes_csv, newline="") as handle:
        return {
            row["path"]: (float(row["x_center"]), float(row["y_center"]), float(row["width"]), float(row["height"]))
            for row in csv.DictReader(handle)
        }


def box_on_grid(
    fractions: tuple[float, float, float, float], original_size: tuple[int, int], size: int
) -> tuple[float, float, float, float]:
    """A box given as fractions of an H×W image, in the pixel coordinates of its fitted size×size square.

    Follows :func:`mlcore.preprocessing.fit_to_square`: centred zero padding to a square, then a
    resize; returns (x0, y0, x1, y1) as floats.
    """
    height, width = original_size
    top, _, left, _ = square_padding(height, width)
    scale = size / max(height, width)
    x_center, y_center, box_width, box_height = fractions
    x0 = (left + (x_center - box_width / 2) * width) * scale
    x1 = (left + (x_center + box_width / 2) * width) * scale
    y0 = (top + (y_center - box_height / 2) * height) * scale
    y1 = (top + (y_center + box_height / 2) * height) * scale
    return x0, y0, x1, y1


def box_masks(
    paths: list[str],
    original_sizes: list[tuple[int, int]],
    boxes: dict[str, tuple[float, float, float, float]],
    size: int,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Box masks on the size×size grid for the given images: uint8 (N, 1, S, S) and a bool (N,) has-box flag.

    A pixel is in the mask when its centre lies inside the box. Images without a box get an
    empty mask and ``False``; the caller passes training images only.
    """
    masks = torch.zeros(len(paths), 1, size, size, dtype=torch.uint8)
    has_box = torch.zeros(len(paths), dtype=torch.bool)
    centres = torch.arange(size, dtype=torch.float32) + 0.5
    for i, (path, original_size) in enumerate(zip(paths, original_sizes, strict=True)):
        if path not in boxes:
            continue
        x0, y0, x1, y1 = box_on_grid(boxes[path], original_size, size)
        rows = (centres >= y0) & (centres < y1)
        cols = (centres >= x0) & (centres < x1)
        if rows.any() and cols.any():
            masks[i, 0] = (rows[:, None] & cols[None, :]).to(torch.uint8)
            has_box[i] = True
    return masks, has_box
