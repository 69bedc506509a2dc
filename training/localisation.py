"""Weak supervision from tumour boxes: box masks on the model's grid, and a loss that cannot collapse.

The localisation loss asks the class-evidence map of the true class to put its mass inside the
tumour box. For a global-average-pool + linear head, the evidence of class ``c`` at a feature cell
is ``w_c · f(x, y)`` (the class activation map, which Grad-CAM recovers up to a ReLU and a
scale). The loss is ``−log Σ softmax(CAM) · box``: a softmax over the cells is normalised, so a map
that is all zero or constant scores ``−log(box area share)``, never the optimum, unlike a penalty
on the map outside the box, which a dead map zeroes. Boxes of validation images are never read.
"""

from __future__ import annotations

import csv
import logging
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

from mlcore.errors import DatasetError, TrainingError
from mlcore.preprocessing import square_padding

log = logging.getLogger(__name__)


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


def class_evidence_map(features: torch.Tensor, classifier: nn.Linear, target: torch.Tensor) -> torch.Tensor:
    """The class activation map (N, h, w) of each image's ``target`` class: ``w_target · f(x, y)``."""
    weights = classifier.weight[target].to(features.dtype)  # (N, C)
    return torch.einsum("nchw,nc->nhw", features, weights)


def localisation_loss(evidence: torch.Tensor, masks: torch.Tensor) -> torch.Tensor:
    """Mean ``−log`` of the softmax mass of ``evidence`` (N, h, w) inside the masks (N, 1, S, S).

    The masks are area-pooled to the evidence grid, so a cell half inside the box counts half.
    """
    n, h, w = evidence.shape
    inside = F.adaptive_avg_pool2d(masks.float(), (h, w)).view(n, h * w)
    share = torch.softmax(evidence.float().view(n, h * w), dim=1)
    mass = (share * inside).sum(1)
    return -torch.log(mass.clamp_min(1e-6)).mean()


def last_linear(head: nn.Module) -> nn.Linear:
    """The head's final linear layer (the one whose rows are the class weights)."""
    linears = [module for module in head.modules() if isinstance(module, nn.Linear)]
    if not linears:
        raise TrainingError("the model's head has no linear layer; the localisation loss needs one")
    return linears[-1]


def count_boxes(has_box: torch.Tensor, labels: torch.Tensor, classes: list[str]) -> dict[str, int]:
    """How many training images of each class carry a box (for the log and the card)."""
    return {name: int(has_box[labels == index].sum()) for index, name in enumerate(classes)}
