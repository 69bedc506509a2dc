"""Two levers for a decision and a map that rest on the tumour, as the fit loop's extension points
(:mod:`training.fit.batch`): a batch transform and a loss term.

**The whole half from another brain** (:class:`HalfDonorRemoval`). On the validation side, 21 of 44 gliomas whose
tumour's half was replaced by the healthy half mirrored were still answered "glioma": what carries the answer lies in
the healthy half as much as in the tumour's (the collection's look), and no fill of the box reaches it. Here the
tumour's half is replaced by the same half of a no-tumour brain of the training side (intensity-matched to the kept
half along the midline, feathered), labelled "notumor"; its control replaces the *other* half the same way and keeps
the label (for a no-tumour image, a half at random). The kept half alone then never tells the label, and the seam
is in both. It is the donor fill's family (another brain's tissue), so the mirror fill stays one never trained.

**Mass in the box** (:func:`positive_mass_loss`). The recipe's localisation loss is a softmax over the class-evidence
map's cells: it makes the map's peak fall in the box (pointing 0.98) but leaves weak positive evidence spread over the
brain, which Grad-CAM shows (mass in the box 0.15). This loss is ``−log`` of the positive evidence's share inside the
box — the quantity Grad-CAM's mass measures — for the images that keep a box (the fit's
:class:`training.fit.loop.LocalisationTerm` with ``loss=positive_mass_loss``).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F

from mlcore.fills import Box, box_of, donor_fill_from, grown, off_midline
from training.fit.batch import Batch


def half_of(box: Box, width: int, height: int) -> Box:
    """The half of the square (about its vertical midline) that holds ``box``'s centre, as a box."""
    half = width // 2
    return (0, 0, half, height) if (box[0] + box[2]) / 2 < width / 2 else (width - half, 0, width, height)


def other_half(half: Box, width: int, height: int) -> Box:
    """The other half of the square."""
    return (width - half[2], 0, width - half[0], height)


@dataclass(frozen=True)
class HalfDonorRemoval:
    """Each boxed tumour off the midline (its grown box) has its half replaced by a no-tumour brain's with chance
    ``fraction`` (labelled ``notumor``, no box kept); each image not so changed gets the control with chance
    ``fraction``: the other half replaced (a boxed tumour: the half without the tumour; a no-tumour image: either),
    label kept. Tumours without a box are left alone (where their tumour lies is unknown). ``donors``: no-tumour
    training images (D×1×S×S)."""

    fraction: float
    notumor: int
    donors: torch.Tensor
    name: str = "half-donor"

    def __call__(self, batch: Batch, rng: np.random.Generator) -> Batch:
        """The batch with its half replacements (a batch without box masks is returned as it is)."""
        if batch.masks is None or batch.boxed is None:
            return batch
        images, labels, keep_box = batch.images.clone(), batch.labels.clone(), batch.boxed.clone()
        height, width = images.shape[-2:]
        for index in range(len(images)):
            box = box_of(batch.masks[index, 0].numpy() > 0) if bool(batch.boxed[index]) else None
            if box is not None and not off_midline(grown(box, (height, width)), width):
                continue
            if box is None and int(labels[index]) != self.notumor:
                continue
            remove = box is not None and rng.random() < self.fraction
            if not remove and rng.random() >= self.fraction:
                continue
            if box is not None:
                tumour_half = half_of(box, width, height)
                half = tumour_half if remove else other_half(tumour_half, width, height)
            else:
                left = (0, 0, width // 2, height)
                half = left if rng.random() < 0.5 else other_half(left, width, height)
            # the donor fill: the same place of the donor, intensity-matched to the image beside it, feathered
            donor = self.donors[int(rng.integers(len(self.donors))), 0].numpy()
            images[index, 0] = torch.from_numpy(donor_fill_from(donor)(images[index, 0].numpy(), half, rng))
            if remove:
                labels[index], keep_box[index] = self.notumor, False
        return Batch(images, labels, batch.masks, keep_box)


def positive_mass_loss(evidence: torch.Tensor, masks: torch.Tensor) -> torch.Tensor:
    """Mean ``−log`` of the share of the positive evidence (N, h, w) inside the masks (N, 1, S, S), area-pooled to the
    evidence grid; a map with no positive evidence scores the floor's ``−log``."""
    n, h, w = evidence.shape
    inside = F.adaptive_avg_pool2d(masks.float(), (h, w)).view(n, h * w)
    positive = torch.relu(evidence.float().view(n, h * w))
    share = (positive * inside).sum(1) / (positive.sum(1) + 1e-6)
    return -torch.log(share.clamp_min(1e-3)).mean()
