"""Fills that remove a region of an MRI slice and leave no trace of their own: the one implementation that training's
counterfactual augmentation, the counterfactual evaluation and the service's evidence check share.

Each fills a box (grown by a margin, blended with a feathered edge):

- ``mirror``: the tissue of the other hemisphere, mirrored (only for boxes off the midline);
- ``inpaint``: normalised-convolution inpainting from the surrounding tissue plus noise of the surrounding texture
  (ROAD-style noisy imputation rather than a flat patch);
- ``donor``: the same place of a no-tumour brain, its intensities matched to the ring around the box;
- ``biharmonic``: the smooth solution of the biharmonic equation from the box's edge (scikit-image), no texture.

Images are float H×W arrays in [0, 1]; boxes pixel rectangles (x0, y0, x1, y1), end-exclusive.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
from scipy.ndimage import gaussian_filter, gaussian_filter1d
from scipy.signal import fftconvolve
from skimage.restoration import inpaint_biharmonic

Box = tuple[int, int, int, int]
Fill = Callable[[np.ndarray, Box, np.random.Generator], np.ndarray]

FILLS = ("mirror", "inpaint", "donor", "biharmonic")
MARGIN = 0.15  # of the box's size, added on each side: the box is tight around the tumour
FEATHER = 2.0  # pixels: the blend's edge, so that no hard seam is left
MIDLINE_GAP = 0.02  # of the width: a box must keep this far from the vertical midline to count as off-midline


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


def smoothed(values: np.ndarray, sigma: float) -> np.ndarray:
    """scipy's ``gaussian_filter`` (reflecting edges, 4 σ), by FFT along each axis where the kernel is wide: equal to
    it to ~1e-15, twice as fast at the inpainting's σ of 15–40 pixels."""
    if sigma < 8:
        return gaussian_filter(values, sigma)
    radius = int(4.0 * sigma + 0.5)
    kernel = np.exp(-0.5 * (np.arange(-radius, radius + 1) / sigma) ** 2)
    kernel /= kernel.sum()
    padded = np.pad(values, radius, mode="symmetric")  # numpy's "symmetric" is ndimage's "reflect"
    across = fftconvolve(padded, kernel[None, :], mode="valid", axes=1)
    return np.asarray(fftconvolve(across, kernel[:, None], mode="valid", axes=0))


def _smoothed_box(shape: tuple[int, ...], box: Box, sigma: float) -> np.ndarray:
    """The Gaussian-smoothed indicator of ``box`` in an array of ``shape``: a rectangle is the outer product of two
    intervals, so it is the outer product of their 1D smoothings (equal to the 2D filter to ~1e-16)."""
    x0, y0, x1, y1 = box
    rows, cols = np.zeros(shape[0]), np.zeros(shape[1])
    rows[y0:y1], cols[x0:x1] = 1.0, 1.0
    return np.outer(gaussian_filter1d(rows, sigma), gaussian_filter1d(cols, sigma))


def blend(image: np.ndarray, fill: np.ndarray, box: Box) -> np.ndarray:
    """``fill`` inside the box, ``image`` outside, with a feathered edge."""
    alpha = np.clip(_smoothed_box(image.shape, box, FEATHER) * 2.0, 0.0, 1.0)  # fully ``fill`` inside, fading out
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
    """The box filled from its surroundings (normalised convolution) plus noise of the surrounding texture.

    Computed on a window around the box that holds every pixel the Gaussian reaches (4 σ and the blend's feather):
    the fill inside the box is the whole image's, at a fraction of the cost."""
    x0, y0, x1, y1 = box
    sigma = max(2.0, max(x1 - x0, y1 - y0) / 3)
    reach = int(np.ceil(4 * sigma)) + 2 * int(np.ceil(FEATHER)) + 2
    top, left = max(0, y0 - reach), max(0, x0 - reach)
    bottom, right = min(image.shape[0], y1 + reach), min(image.shape[1], x1 + reach)
    window = image[top:bottom, left:right]
    inside = (x0 - left, y0 - top, x1 - left, y1 - top)
    known = np.ones(window.shape)
    known[inside[1] : inside[3], inside[0] : inside[2]] = 0.0
    weight = 1.0 - _smoothed_box(window.shape, inside, sigma)  # the smoothed known-mask: ones less the box's
    smooth = smoothed(window * known, sigma) / np.maximum(weight, 1e-6)
    ring = _ring(image, box)
    texture = float(np.std(ring - np.mean(ring))) * 0.5
    noise = gaussian_filter(rng.normal(0.0, 1.0, window.shape), 1.0)
    noise *= texture / max(float(noise.std()), 1e-6)
    fill = image.astype(np.float64).copy()
    fill[top:bottom, left:right] = smooth + noise
    return blend(image, fill, box)


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
    raise ValueError(f"unknown removal {method!r}; one of {FILLS}")


def box_of(mask: np.ndarray) -> Box | None:
    """The bounding box of a boolean mask, or None for an empty one."""
    rows, cols = np.nonzero(mask)
    if rows.size == 0:
        return None
    return int(cols.min()), int(rows.min()), int(cols.max()) + 1, int(rows.max()) + 1
