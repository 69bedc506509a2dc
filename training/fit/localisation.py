"""Weak supervision from tumour boxes (their masks: :mod:`training.data.boxes`): a loss that cannot collapse.

The localisation loss asks the class-evidence map of the true class to put its mass inside the
tumour box. For a global-average-pool + linear head, the evidence of class ``c`` at a feature cell
is ``w_c · f(x, y)`` (the class activation map, which Grad-CAM recovers up to a ReLU and a
scale). The loss is ``−log Σ softmax(CAM) · box``: a softmax over the cells is normalised, so a map
that is all zero or constant scores ``−log(box area share)``, never the optimum, unlike a penalty
on the map outside the box, which a dead map zeroes. Boxes of validation images are never read.
"""

from __future__ import annotations

import logging

import torch
import torch.nn.functional as F
from torch import nn

from mlcore.errors import TrainingError

log = logging.getLogger(__name__)


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
