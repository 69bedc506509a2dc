"""The fit loop's extension point: a batch before the network, a step as loss terms see it, and the two protocols.

A fit takes **batch transforms** (applied to each batch of [0, 1] images, labels and box masks before the
augmentation; the counterfactual removals are one) and **loss terms** (added to the class loss; the localisation
loss is one). An experiment brings its own through :func:`training.fit.loop.fit`'s arguments instead of new flags.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

import numpy as np
import torch
from torch import nn


@dataclass(frozen=True)
class Batch:
    """One training batch before the network: images (B×1×S×S in [0, 1]), labels, and, with boxes, their masks
    (uint8, same shape as the images) and which images keep a box."""

    images: torch.Tensor
    labels: torch.Tensor
    masks: torch.Tensor | None = None
    boxed: torch.Tensor | None = None


@dataclass(frozen=True)
class Step:
    """What a loss term sees of one step: the batch as the network saw it (augmented, on the device), its logits
    and the backbone's feature maps."""

    batch: Batch
    logits: torch.Tensor
    features: torch.Tensor


class BatchTransform(Protocol):
    """Changes a batch before the augmentation (e.g. counterfactual edits); draws only from ``rng``."""

    def __call__(self, batch: Batch, rng: np.random.Generator) -> Batch: ...


class LossTerm(Protocol):
    """A weighted term added to the class loss; ``name`` labels its mean in the epoch's history."""

    @property
    def name(self) -> str: ...

    def __call__(self, model: nn.Module, step: Step) -> torch.Tensor: ...
