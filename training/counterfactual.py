"""Counterfactual tumour removal and insertion: does the *decision* rest on the tumour?

Four removals of different kinds, each filling a tumour's box (grown by a margin, blended with a feathered edge):

- ``mirror``: the tissue of the other hemisphere, mirrored (only for boxes off the midline);
- ``inpaint``: normalised-convolution inpainting from the surrounding tissue plus noise of the surrounding texture
  (ROAD-style noisy imputation rather than a flat patch);
- ``donor``: the same place of a no-tumour brain, its intensities matched to the ring around the box;
- ``biharmonic``: the smooth solution of the biharmonic equation from the box's edge (scikit-image), no texture at
  all — a fill of yet another kind, to evaluate with when the other three are used in training.

Each has a **control**: the same operation on the mirrored box of the other hemisphere, the tumour kept (for
``mirror``, that box filled with its own up-down flip — a pasted patch of real tissue with the same seams). A
decision that rests on the tumour changes under the removal and not under the control. ``insert`` pastes a tumour's
box into a no-tumour brain at the same place (intensity-matched), with a no-tumour patch there as its control.

Images are float H×W arrays in [0, 1]; boxes pixel rectangles (x0, y0, x1, y1), end-exclusive.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from scipy.ndimage import gaussian_filter
from skimage.restoration import inpaint_biharmonic

from training.batch import Batch
from training.explanation_metrics import Box

REMOVALS = ("mirror", "inpaint", "donor", "biharmonic")
NO_TUMOUR = "notumor"  # the class a brain whose tumour was removed belongs to
MARGIN = 0.15  # of the box's size, added on each side: the box is tight around the tumour
FEATHER = 2.0  # pixels: the blend's edge, so that no hard seam is left
MIDLINE_GAP = 0.02  # of the width: a box must keep this far from the vertical midline to count as off-midline

Fill = Callable[[np.ndarray, Box, np.random.Generator], np.ndarray]


def trained_fills(manifest: Mapping[str, Any]) -> list[str] | None:
    """The removal fills a model was trained with, from its artifact's manifest: its own fit's, those of every model it
    was fine-tuned from and, for a hybrid, those of its presence members. None for an artifact written before the
    manifest recorded them (unknown, not "none")."""
    fills = manifest.get("training", {}).get("counterfactual_fills")
    return None if fills is None else sorted(fills)


def unseen_fills(fills: list[str] | None) -> list[str] | None:
    """The removals (in :data:`REMOVALS` order) a model with these training fills never saw; None when unknown."""
    return None if fills is None else [method for method in REMOVALS if method not in fills]


def grown(box: Box, shape: tuple[int, int], margin: float = MARGIN) -> Box:
    """The box grown by ``margin`` of its size on every side, clipped to the image."""
    x0, y0, x1, y1 = box
    dx, dy = round((x1 - x0) * margin), round((y1 - y0) * margin)
    return max(0, x0 - dx), max(0, y0 - dy), min(shape[1], x1 + dx), min(shape[0], y1 + dy)


def mirrored(box: Box, width: int) -> Box:
    """The box at the same height in the other half of the image (mirrored about the vertical midline)."""
    x0, y0, x1, y1 = box
    return width - x1, y0, width - x0, y1


def off_midline(box: Box, width: int) -> bool:
    """Whether the grown box lies wholly in one half of the image, clear of the midline."""
    x0, _, x1, _ = box
    gap = MIDLINE_GAP * width
    return x1 <= width / 2 - gap or x0 >= width / 2 + gap


def blend(image: np.ndarray, fill: np.ndarray, box: Box) -> np.ndarray:
    """``fill`` inside the box, ``image`` outside, with a feathered edge."""
    x0, y0, x1, y1 = box
    alpha = np.zeros(image.shape, np.float64)
    alpha[y0:y1, x0:x1] = 1.0
    alpha = np.clip(gaussian_filter(alpha, FEATHER) * 2.0, 0.0, 1.0)  # fully ``fill`` inside, fading at the edge
    alpha[alpha < 0.01] = 0.0  # and nothing beyond the fade: the rest of the image stays exactly as it was
    return np.clip(alpha * fill + (1 - alpha) * image, 0.0, 1.0).astype(np.float32)


def _ring(image: np.ndarray, box: Box) -> np.ndarray:
    outer = grown(box, image.shape, 0.3)
    mask = np.zeros(image.shape, bool)
    mask[outer[1] : outer[3], outer[0] : outer[2]] = True
    mask[box[1] : box[3], box[0] : box[2]] = False
    values = image[mask]
    return values if values.size else image.ravel()


def mirror_fill(image: np.ndarray, box: Box, rng: np.random.Generator) -> np.ndarray:
    """The other hemisphere's tissue, mirrored, in the box."""
    return blend(image, image[:, ::-1], box)


def inpaint_fill(image: np.ndarray, box: Box, rng: np.random.Generator) -> np.ndarray:
    """The box filled from its surroundings (normalised convolution) plus noise of the surrounding texture."""
    x0, y0, x1, y1 = box
    known = np.ones(image.shape)
    known[y0:y1, x0:x1] = 0.0
    sigma = max(2.0, max(x1 - x0, y1 - y0) / 3)
    smooth = gaussian_filter(image * known, sigma) / np.maximum(gaussian_filter(known, sigma), 1e-6)
    ring = _ring(image, box)
    texture = float(np.std(ring - np.mean(ring))) * 0.5
    noise = gaussian_filter(rng.normal(0.0, 1.0, image.shape), 1.0)
    noise *= texture / max(float(noise.std()), 1e-6)
    return blend(image, smooth + noise, box)


def biharmonic_fill(image: np.ndarray, box: Box, rng: np.random.Generator) -> np.ndarray:
    """The box filled by biharmonic inpainting from its edge: smooth, textureless, no randomness."""
    x0, y0, x1, y1 = box
    pad = 4  # the equation only needs the box's neighbourhood: solve on a crop, not the whole image
    top, left = max(0, y0 - pad), max(0, x0 - pad)
    crop = image[top : y1 + pad, left : x1 + pad].astype(np.float64)
    unknown = np.zeros(crop.shape, bool)
    unknown[y0 - top : y1 - top, x0 - left : x1 - left] = True
    fill = image.astype(np.float64).copy()
    fill[top : y1 + pad, left : x1 + pad] = inpaint_biharmonic(crop, unknown)
    return blend(image, fill, box)


def matched(source: np.ndarray, image: np.ndarray, box: Box) -> np.ndarray:
    """``source`` rescaled so that its ring around the box has the mean and spread of ``image``'s."""
    ours, theirs = _ring(image, box), _ring(source, box)
    scale = float(np.std(ours)) / max(float(np.std(theirs)), 1e-6)
    return (source - float(np.mean(theirs))) * scale + float(np.mean(ours))


def donor_fill_from(donor: np.ndarray) -> Fill:
    """A fill with the same place of ``donor`` (a no-tumour brain of the image's shape), intensity-matched."""

    def fill(image: np.ndarray, box: Box, rng: np.random.Generator) -> np.ndarray:
        return blend(image, matched(donor, image, box), box)

    return fill


def flip_in_place(image: np.ndarray, box: Box, rng: np.random.Generator) -> np.ndarray:
    """The box filled with its own up-down flip: the mirror removal's control (seams, no new tissue)."""
    x0, y0, x1, y1 = box
    flipped = image.copy()
    flipped[y0:y1, x0:x1] = image[y0:y1, x0:x1][::-1]
    return blend(image, flipped, box)


def removal(method: str, donor: np.ndarray | None = None) -> tuple[Fill, Fill]:
    """The removal ``method`` as (fill the tumour's box, the control's fill of the mirrored box)."""
    if method == "mirror":
        return mirror_fill, flip_in_place
    if method == "inpaint":
        return inpaint_fill, inpaint_fill
    if method == "biharmonic":
        return biharmonic_fill, biharmonic_fill
    if method == "donor":
        if donor is None:
            raise ValueError("the donor removal needs a no-tumour image")
        fill = donor_fill_from(donor)
        return fill, fill
    raise ValueError(f"unknown removal {method!r}; one of {REMOVALS}")


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


def box_of(mask: np.ndarray) -> Box | None:
    """The bounding box of a boolean mask, or None for an empty one."""
    rows, cols = np.nonzero(mask)
    if rows.size == 0:
        return None
    return int(cols.min()), int(rows.min()), int(cols.max()) + 1, int(rows.max()) + 1


@dataclass(frozen=True)
class CounterfactualTraining:
    """Counterfactual augmentation, a batch transform (:class:`training.batch.BatchTransform`): each training tumour
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
