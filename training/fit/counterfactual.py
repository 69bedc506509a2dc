"""Counterfactual tumour removal and insertion: does the *decision* rest on the tumour?

Four removals of different kinds (the fills of :mod:`mlcore.fills`: mirror, inpaint, donor, biharmonic), each filling
a tumour's box grown by a margin. Each has a **control**: the same operation on the mirrored box of the other
hemisphere, the tumour kept (for ``mirror``, that box filled with its own up-down flip — a pasted patch of real tissue
with the same seams). A decision that rests on the tumour changes under the removal and not under the control.
``insert`` pastes a tumour's box into a no-tumour brain at the same place (intensity-matched), with a no-tumour patch
there as its control.

Images are float H×W arrays in [0, 1]; boxes pixel rectangles (x0, y0, x1, y1), end-exclusive.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from mlcore.fills import FILLS, MARGIN, Box, blend, box_of, grown, matched, mirrored, off_midline, removal
from training.fit.batch import Batch

REMOVALS = FILLS
NO_TUMOUR = "notumor"  # the class a brain whose tumour was removed belongs to


def trained_fills(manifest: Mapping[str, Any]) -> list[str] | None:
    """The removal fills a model was trained with, from its artifact's manifest: its own fit's, those of every model it
    was fine-tuned from and, for a hybrid, those of its presence members. None for an artifact written before the
    manifest recorded them (unknown, not "none")."""
    fills = manifest.get("training", {}).get("counterfactual_fills")
    return None if fills is None else sorted(fills)


def unseen_fills(fills: list[str] | None) -> list[str] | None:
    """The removals (in :data:`REMOVALS` order) a model with these training fills never saw; None when unknown."""
    return None if fills is None else [method for method in REMOVALS if method not in fills]


def counterfactual(
    image: np.ndarray,
    box: Box,
    method: str,
    rng: np.random.Generator,
    *,
    donor: np.ndarray | None,
    remove: bool,
    margin: float = MARGIN,
) -> np.ndarray | None:
    """The image with its tumour removed by ``method`` (``remove``) or with that removal's control (the same
    operation on the mirrored box of the other hemisphere), the box grown by ``margin``; None when the grown box is
    not off the midline."""
    target = grown(box, image.shape, margin)
    if not off_midline(target, image.shape[1]):
        return None
    fill, control_fill = removal(method, donor)
    return fill(image, target, rng) if remove else control_fill(image, mirrored(target, image.shape[1]), rng)


def remove_and_control(
    image: np.ndarray, box: Box, method: str, rng: np.random.Generator, *, donor: np.ndarray | None = None
) -> tuple[np.ndarray, np.ndarray] | None:
    """(tumour removed, control) for a box off the midline, else None."""
    removed = counterfactual(image, box, method, rng, donor=donor, remove=True)
    control = counterfactual(image, box, method, rng, donor=donor, remove=False)
    return None if removed is None or control is None else (removed, control)


def pasted(healthy: np.ndarray, source: np.ndarray, box: Box) -> np.ndarray:
    """``source``'s (grown) box pasted into the no-tumour brain ``healthy`` at the same place, intensity-matched to
    the healthy brain's ring around it."""
    target = grown(box, healthy.shape)
    return blend(healthy, matched(source, healthy, target), target)


def insert_and_control(
    healthy: np.ndarray, tumour_image: np.ndarray, box: Box, donor: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """(a tumour's box pasted into a no-tumour brain at the same place, the control with another no-tumour brain's
    patch there)."""
    return pasted(healthy, tumour_image, box), pasted(healthy, donor, box)


@dataclass(frozen=True)
class CounterfactualTraining:
    """Counterfactual augmentation, a batch transform (:class:`training.fit.batch.BatchTransform`): each training tumour
    with a box off the midline has its tumour removed with chance ``fraction`` (by one of ``methods``, labelled
    ``notumor`` and without localisation), and each image gets the paired control with chance ``fraction`` (the same
    operation on the healthy side, label kept), so that the model cannot learn the operation's own traces.
    ``donors``: no-tumour training images (D×1×S×S) lending their tissue to the ``donor`` fill."""

    fraction: float
    methods: tuple[str, ...]
    notumor: int
    donors: torch.Tensor

    def __call__(self, batch: Batch, rng: np.random.Generator) -> Batch:
        """The batch with its counterfactual edits (a batch without box masks is returned as it is)."""
        if batch.masks is None or batch.boxed is None:
            return batch
        images, labels, masks, boxed = counterfactual_batch(
            batch.images, batch.labels, (batch.masks, batch.boxed), config=self, rng=rng
        )
        return Batch(images, labels, masks, boxed)


def counterfactual_batch(
    images: torch.Tensor,
    labels: torch.Tensor,
    boxes: tuple[torch.Tensor, torch.Tensor],
    *,
    config: CounterfactualTraining,
    rng: np.random.Generator,
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    """A batch (B×1×S×S in [0, 1]) with counterfactual edits: its images, labels, box masks and which keep a box.

    ``boxes``: the batch's box masks (B×1×S×S) and which have one; an image without a box gets its control at the
    box of another image of the batch.
    """
    masks, has_box = boxes
    edited, new_labels, keep_box = images.clone(), labels.clone(), has_box.clone()
    known = [box_of(masks[i, 0].numpy() > 0) if bool(has_box[i]) else None for i in range(len(images))]
    anywhere = [box for box in known if box is not None]
    for index in range(len(images)):
        remove = known[index] is not None and rng.random() < config.fraction
        if not remove and (not anywhere or rng.random() >= config.fraction):
            continue
        box = known[index] if remove else known[index] or anywhere[int(rng.integers(len(anywhere)))]
        if box is None:
            continue
        donor = config.donors[int(rng.integers(len(config.donors))), 0].numpy()
        method = config.methods[int(rng.integers(len(config.methods)))]
        changed = counterfactual(images[index, 0].numpy(), box, method, rng, donor=donor, remove=remove)
        if changed is None:
            continue
        edited[index, 0] = torch.from_numpy(changed)
        if remove:
            new_labels[index], keep_box[index] = config.notumor, False
    return edited, new_labels, masks.clone(), keep_box
