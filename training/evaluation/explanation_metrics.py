"""How good is a relevance map? Localisation against a box, faithfulness to the model, and baselines.

All maps are float arrays in [0, 1]; boxes are pixel rectangles (x0, y0, x1, y1), end-exclusive,
in the map's own coordinates.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
from scipy.ndimage import gaussian_filter
from scipy.stats import spearmanr

Box = tuple[int, int, int, int]


def box_from_fractions(fractions: tuple[float, float, float, float], shape: tuple[int, int]) -> Box:
    """A YOLO-style box (x_center, y_center, width, height as fractions) as pixel bounds for ``shape`` (H, W)."""
    x_center, y_center, width, height = fractions
    rows, cols = shape
    x0 = int(np.floor((x_center - width / 2) * cols))
    x1 = int(np.ceil((x_center + width / 2) * cols))
    y0 = int(np.floor((y_center - height / 2) * rows))
    y1 = int(np.ceil((y_center + height / 2) * rows))
    return max(0, x0), max(0, y0), min(cols, x1), min(rows, y1)


def box_mask(box: Box, shape: tuple[int, int], tolerance: int = 0) -> np.ndarray:
    """A boolean mask of the box, grown by ``tolerance`` pixels on every side."""
    x0, y0, x1, y1 = box
    mask = np.zeros(shape, dtype=bool)
    mask[max(0, y0 - tolerance) : y1 + tolerance, max(0, x0 - tolerance) : x1 + tolerance] = True
    return mask


def pointing_game(heatmap: np.ndarray, box: Box, tolerance: int) -> bool:
    """Whether the map's maximum falls in the box (grown by ``tolerance`` pixels).

    Ties (a flat top) count as a hit only when every maximal pixel is inside, so a constant map
    cannot score.
    """
    peak = heatmap >= heatmap.max()
    return bool(heatmap.max() > 0 and box_mask(box, heatmap.shape, tolerance)[peak].all())


def energy_in_box(heatmap: np.ndarray, box: Box) -> float:
    """The share of the map's (positive) mass inside the box; 0 for an all-zero map."""
    total = float(heatmap.sum())
    return float(heatmap[box_mask(box, heatmap.shape)].sum() / total) if total > 0 else 0.0


def deletion_insertion(
    probability: Callable[[np.ndarray], np.ndarray],
    image: np.ndarray,
    heatmap: np.ndarray,
    *,
    background: float | np.ndarray,
    steps: int = 20,
) -> tuple[float, float]:
    """Deletion and insertion AUC of the target's probability along the map's pixel order.

    Deletion replaces the most relevant pixels first with ``background`` (lower AUC = more
    faithful); insertion starts from the background and restores the most relevant pixels first
    (higher = more faithful). ``probability`` maps a (B, H, W) stack of images to (B,) probabilities.
    ``background``: a value (black fill), or an image of the same shape — e.g. the image blurred
    (:func:`blurred`), a fill that does not make an out-of-distribution artefact of its own.
    """
    order = np.argsort(-heatmap, axis=None, kind="stable")
    counts = np.linspace(0, order.size, steps + 1).round().astype(int)
    deleted, inserted = [], []
    flat_image = image.ravel()
    flat_background = np.broadcast_to(np.asarray(background, dtype=image.dtype), image.shape).ravel()
    for count in counts:
        chosen = np.zeros(order.size, dtype=bool)
        chosen[order[:count]] = True
        deleted.append(np.where(chosen, flat_background, flat_image).reshape(image.shape))
        inserted.append(np.where(chosen, flat_image, flat_background).reshape(image.shape))
    scores = probability(np.stack(deleted + inserted))
    deletion, insertion = scores[: steps + 1], scores[steps + 1 :]
    return float(np.trapezoid(deletion, dx=1 / steps)), float(np.trapezoid(insertion, dx=1 / steps))


def blurred(image: np.ndarray, sigma_fraction: float = 0.05) -> np.ndarray:
    """The image under a Gaussian blur of ``sigma_fraction`` × its side: the deletion fill that keeps the image's
    own intensities and only removes detail (no black holes the model never saw)."""
    return gaussian_filter(image.astype(np.float64), sigma_fraction * max(image.shape)).astype(image.dtype)


def rank_correlation(first: np.ndarray, second: np.ndarray) -> float:
    """Spearman correlation of two maps' pixel values (0 when either map is constant)."""
    if first.std() == 0 or second.std() == 0:
        return 0.0
    return float(spearmanr(first.ravel(), second.ravel()).statistic)


def centre_prior(shape: tuple[int, int], sigma_fraction: float = 0.25) -> np.ndarray:
    """The "tumours are near the middle" baseline: a centred Gaussian, peak 1."""
    rows, cols = shape
    yy, xx = np.mgrid[0:rows, 0:cols].astype(np.float64)
    distance = ((yy - (rows - 1) / 2) / (sigma_fraction * rows)) ** 2 + (
        (xx - (cols - 1) / 2) / (sigma_fraction * cols)
    ) ** 2
    return np.exp(-0.5 * distance).astype(np.float32)


def random_map(shape: tuple[int, int], rng: np.random.Generator) -> np.ndarray:
    """The chance baseline: uniform noise in [0, 1]."""
    return rng.random(shape, dtype=np.float32)
