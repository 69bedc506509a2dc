"""Synthetic MRI-like phantoms with lesion masks, in the shared dataset's layout.

``python -m training synth --out DIR --n N`` writes ``DIR/Training/<class>/*.png``, the lesion
masks under ``DIR/masks/<class>/`` and ``DIR/tumor-boxes.csv`` (same columns as the shared one:
``path,label,x_center,y_center,width,height`` as fractions of the image). The classes differ as
the real ones do, and only the lesion tells them apart:

- glioma: an irregular, heterogeneous intra-axial mass with a dark necrotic core and oedema;
- meningioma: a well-circumscribed, homogeneous mass against the inner skull (extra-axial);
- pituitary: a small midline mass near the skull base;
- notumor: no lesion.
"""

from __future__ import annotations

import csv
import logging
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image
from scipy.ndimage import gaussian_filter
from tqdm import tqdm

log = logging.getLogger(__name__)

CLASSES = ("glioma", "meningioma", "notumor", "pituitary")


@dataclass(frozen=True)
class Phantom:
    """One synthetic slice: float image in [0, 1], boolean lesion mask, and class name."""

    image: np.ndarray
    mask: np.ndarray
    label: str

    def box(self) -> tuple[float, float, float, float] | None:
        """The lesion's bounding box as (x_center, y_center, width, height) fractions, or None."""
        if not self.mask.any():
            return None
        rows, cols = np.nonzero(self.mask)
        height, width = self.mask.shape
        x0, x1, y0, y1 = cols.min(), cols.max() + 1, rows.min(), rows.max() + 1
        return ((x0 + x1) / 2 / width, (y0 + y1) / 2 / height, (x1 - x0) / width, (y1 - y0) / height)


def _smooth_noise(rng: np.random.Generator, shape: tuple[int, int], sigma: float) -> np.ndarray:
    field = gaussian_filter(rng.standard_normal(shape), sigma)
    return field / (field.std() + 1e-8)


def _brain(rng: np.random.Generator, height: int, width: int) -> tuple[np.ndarray, np.ndarray, dict[str, float]]:
    """Head anatomy: skull ring, brain tissue texture, ventricles. Returns image, brain mask, geometry."""
    yy, xx = np.mgrid[0:height, 0:width].astype(np.float64)
    cy, cx = height / 2 + rng.uniform(-0.03, 0.03) * height, width / 2 + rng.uniform(-0.03, 0.03) * width
    ry, rx = rng.uniform(0.36, 0.42) * height, rng.uniform(0.30, 0.36) * width
    r = np.sqrt(((yy - cy) / ry) ** 2 + ((xx - cx) / rx) ** 2)
    brain = r < 1.0
    tissue = 0.42 + 0.06 * _smooth_noise(rng, (height, width), 3) + 0.04 * _smooth_noise(rng, (height, width), 1)
    image = np.where(brain, tissue, 0.0)
    skull = (r >= 1.0) & (r < 1.12)
    image[skull] = 0.8 + 0.05 * rng.standard_normal(int(skull.sum()))
    image[(r >= 1.02) & (r < 1.06)] = 0.15  # cortical bone: dark line inside the fat ring
    for side in (-1, 1):  # lateral ventricles, dark, either side of the midline
        vy, vx = cy - 0.05 * ry, cx + side * 0.14 * rx
        ventricle = (((yy - vy) / (0.22 * ry)) ** 2 + ((xx - vx) / (0.07 * rx)) ** 2) < 1
        image[ventricle] = 0.12
    return image, brain, {"cy": cy, "cx": cx, "ry": ry, "rx": rx}


def _glioma(rng: np.random.Generator, image: np.ndarray, brain: np.ndarray, g: dict[str, float]) -> np.ndarray:
    height, width = image.shape
    yy, xx = np.mgrid[0:height, 0:width].astype(np.float64)
    angle, dist = rng.uniform(0, 2 * np.pi), rng.uniform(0.15, 0.5)
    ly, lx = g["cy"] + dist * g["ry"] * np.sin(angle), g["cx"] + dist * g["rx"] * np.cos(angle)
    radius = rng.uniform(0.2, 0.32) * min(g["ry"], g["rx"])
    theta = np.arctan2(yy - ly, xx - lx)
    wobble = 1 + sum(rng.uniform(0.05, 0.18) * np.cos(k * theta + rng.uniform(0, 6.3)) for k in range(2, 6))
    rel = np.hypot(yy - ly, xx - lx) / (radius * wobble)
    mass = (rel < 1.0) & brain
    oedema = (rel < 1.5) & brain & ~mass
    image[oedema] += 0.12
    texture = 0.12 * _smooth_noise(rng, image.shape, 1.2)
    image[mass] = (0.72 + texture)[mass]
    core = (rel < rng.uniform(0.4, 0.6)) & mass
    image[core] = (0.14 + 0.4 * texture)[core]
    return mass


def _meningioma(rng: np.random.Generator, image: np.ndarray, brain: np.ndarray, g: dict[str, float]) -> np.ndarray:
    height, width = image.shape
    yy, xx = np.mgrid[0:height, 0:width].astype(np.float64)
    angle = rng.uniform(-0.6, 0.6) * np.pi - np.pi / 2  # upper and lateral convexity, not the skull base
    radius = rng.uniform(0.14, 0.2) * min(g["ry"], g["rx"])
    ly = g["cy"] + (g["ry"] - 0.8 * radius) * np.sin(angle)
    lx = g["cx"] + (g["rx"] - 0.8 * radius) * np.cos(angle)
    mass = (np.hypot(yy - ly, xx - lx) < radius) & brain
    image[mass] = 0.86 + 0.02 * rng.standard_normal(int(mass.sum()))
    return mass


def _pituitary(rng: np.random.Generator, image: np.ndarray, brain: np.ndarray, g: dict[str, float]) -> np.ndarray:
    height, width = image.shape
    yy, xx = np.mgrid[0:height, 0:width].astype(np.float64)
    radius = rng.uniform(0.07, 0.1) * min(g["ry"], g["rx"])
    ly, lx = g["cy"] + rng.uniform(0.6, 0.7) * g["ry"], g["cx"] + rng.uniform(-0.03, 0.03) * g["rx"]
    mass = (((yy - ly) / (radius * 0.85)) ** 2 + ((xx - lx) / radius) ** 2 < 1) & brain
    image[mass] = 0.82 + 0.03 * rng.standard_normal(int(mass.sum()))
    return mass


def make_phantom(label: str, rng: np.random.Generator, size: int = 128) -> Phantom:
    """One phantom of class ``label``; some are not square, to exercise aspect-keeping."""
    height = size
    width = size if rng.random() < 0.5 else int(size * rng.uniform(0.8, 0.95))
    image, brain, geometry = _brain(rng, height, width)
    lesions = {"glioma": _glioma, "meningioma": _meningioma, "pituitary": _pituitary}
    mask = lesions[label](rng, image, brain, geometry) if label in lesions else np.zeros_like(brain)
    image = gaussian_filter(image, 0.6)
    sigma = rng.uniform(0.01, 0.03)  # Rician noise, as magnitude MRI has
    image = np.hypot(image + sigma * rng.standard_normal(image.shape), sigma * rng.standard_normal(image.shape))
    image = np.clip(image * rng.uniform(0.85, 1.15), 0, 1) ** rng.uniform(0.85, 1.2)
    return Phantom(image=image.astype(np.float32), mask=mask, label=label)


def write_phantoms(out: Path, n_per_class: int, *, seed: int = 0, size: int = 128, show_progress: bool = True) -> Path:
    """Write ``n_per_class`` phantoms per class in the shared layout; returns the ``Training`` root."""
    rng = np.random.default_rng(seed)
    rows = []
    jobs = [(label, i) for label in CLASSES for i in range(n_per_class)]
    for label, i in tqdm(jobs, desc="synth", unit="img", disable=not show_progress):
        phantom = make_phantom(label, rng, size)
        name = f"{label}/synth_{label[:2]}_{i:04d}.png"
        relative = f"Training/{name}"
        for path, array in ((out / relative, phantom.image), (out / "masks" / name, phantom.mask.astype(np.float32))):
            path.parent.mkdir(parents=True, exist_ok=True)
            Image.fromarray(np.round(array * 255).astype(np.uint8)).save(path)
        box = phantom.box()
        if box is not None:
            rows.append([relative, label, *(f"{v:.4f}" for v in box)])
    with open(out / "tumor-boxes.csv", "w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["path", "label", "x_center", "y_center", "width", "height"])
        writer.writerows(rows)
    log.info("wrote %d phantoms and %d boxes under %s", len(jobs), len(rows), out)
    return out / "Training"
