"""Slices synthesised from the MNI ICBM152 template (nilearn's copy): other MR contrasts, and a head CT.

The template ships grey- and white-matter probability maps of a skull-stripped brain. Cerebrospinal fluid is what is
neither grey nor white matter within the brain's hull (grown by two voxels); a skull and a scalp are grown around it.
Each tissue gets the relative intensity it has in a sequence, then a smooth bias field and Rician-like noise, and the
result is windowed like a scanner's display:

- **T1** (no contrast): white above grey, CSF dark, scalp fat bright; **T2**: CSF bright, grey above white matter;
  **FLAIR**: CSF dark, grey above white; **PD**: grey ≈ CSF above white (brain MRI slices the dataset has few or
  none of: some fit the input gate, FLAIR measures it);
- **CT**: each tissue in Hounsfield units (:data:`CT_UNITS`, air far below them), shown in a brain, subdural or bone
  window — a head CT, which is *not* an MRI (for the check's negatives).

Synthetic, and smooth (the template is an average of 152 brains): a stand-in for real scans of those sequences, said
so wherever it is measured.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.ndimage import binary_closing, binary_dilation, binary_fill_holes, gaussian_filter

from training.input_check.sample_sources import VOLUME_SAMPLES, axial_slices, volume

# Relative intensities (CSF, grey, white, scalp, skull) per MR contrast.
MR_CONTRASTS = {
    "t1": (0.12, 0.5, 0.78, 0.85, 0.05),
    "t2": (1.0, 0.55, 0.38, 0.45, 0.05),
    "flair": (0.06, 0.62, 0.45, 0.5, 0.05),
    "pd": (0.75, 0.8, 0.6, 0.6, 0.05),
}
CT_UNITS = (8.0, 40.0, 28.0, 40.0, 1000.0)
CT_WINDOWS = {"brain": (40.0, 80.0), "subdural": (75.0, 215.0), "bone": (600.0, 2800.0)}


@dataclass(frozen=True)
class Tissues:
    """Tissue fractions of the template's head, each (x, y, z) in [0, 1]."""

    csf: np.ndarray
    grey: np.ndarray
    white: np.ndarray
    scalp: np.ndarray
    skull: np.ndarray


def template_tissues() -> Tissues | None:
    """The template's tissues, or None when nilearn is not installed."""
    grey = volume(VOLUME_SAMPLES["mni-gm"])
    white = volume(VOLUME_SAMPLES["mni-wm"])
    if grey is None or white is None:
        return None
    grey, white = grey / grey.max(), white / white.max()
    brain_hull = binary_fill_holes(binary_closing((grey + white) > 0.3, iterations=4))
    # The template is skull-stripped: a CSF rim, the skull and the scalp are grown around the brain's hull.
    inner = binary_dilation(brain_hull, iterations=2)
    outer_skull = binary_dilation(inner, iterations=5)
    head = binary_dilation(outer_skull, iterations=4)
    csf = np.clip(inner.astype(np.float64) - grey - white, 0.0, 1.0)
    skull = gaussian_filter((outer_skull & ~inner).astype(np.float64), 0.7)
    scalp = gaussian_filter((head & ~outer_skull).astype(np.float64), 0.7)
    return Tissues(csf, grey, white, scalp, skull)


def _mix(tissues: Tissues, values: tuple[float, float, float, float, float]) -> np.ndarray:
    parts = (tissues.csf, tissues.grey, tissues.white, tissues.scalp, tissues.skull)
    return sum(value * part for value, part in zip(values, parts, strict=True))  # type: ignore[return-value]


def _bias_and_noise(image: np.ndarray, rng: np.random.Generator, noise: float) -> np.ndarray:
    """A smooth multiplicative bias field and magnitude (Rician-like) noise."""
    field = 1.0 + 0.25 * gaussian_filter(rng.normal(size=image.shape), sigma=max(image.shape) / 6) * 8
    noisy = np.hypot(image * field + rng.normal(0, noise, image.shape), rng.normal(0, noise, image.shape))
    return gaussian_filter(noisy, 0.6)


def mr_slices(contrast: str, count: int, seed: int, *, low: float = 0.3, high: float = 0.75) -> list[np.ndarray]:
    """``count`` axial slices (between the fractions ``low`` and ``high`` of the head's height) of a synthetic
    ``contrast`` (``t1``, ``t2``, ``flair``, ``pd``) as float images in [0, 1]."""
    tissues = template_tissues()
    if tissues is None:
        return []
    rng = np.random.default_rng(seed)
    head = _mix(tissues, MR_CONTRASTS[contrast])
    slices = []
    for plane in axial_slices(head, count, low=low, high=high):
        image = _bias_and_noise(plane, rng, noise=0.02)
        slices.append(np.clip(image / np.percentile(image, 99.7), 0.0, 1.0))
    return slices


def ct_slices(count: int, seed: int, *, skull_stripped: bool = False) -> list[tuple[np.ndarray, str]]:
    """``count`` axial slices of a synthetic head CT, each in one of the usual windows (and the window's name);
    ``skull_stripped``: the brain alone on air, as brain-extraction tools and perfusion maps show it."""
    tissues = template_tissues()
    if tissues is None:
        return []
    rng = np.random.default_rng(seed)
    values = CT_UNITS[:3] + ((0.0, 0.0) if skull_stripped else CT_UNITS[3:])
    head = _mix(tissues, values)
    parts = tissues.csf + tissues.grey + tissues.white + (0.0 if skull_stripped else tissues.scalp + tissues.skull)
    air = 1.0 - np.clip(parts, 0.0, 1.0)
    units = head - 1000.0 * air
    slices = []
    names = list(CT_WINDOWS)
    for index, plane in enumerate(axial_slices(units, count, low=0.25, high=0.8)):
        noisy = gaussian_filter(plane, 0.5) + rng.normal(0, 4.0, plane.shape)
        window = names[index % len(names)]
        centre, width = CT_WINDOWS[window]
        slices.append((np.clip((noisy - (centre - width / 2)) / width, 0.0, 1.0), window))
    return slices
