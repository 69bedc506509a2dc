"""What the input gate is fitted on and measured with, as gate features (:mod:`training.input_check.gate_features`).

- **Brains**: the model's train side of the dataset and the train-side tumours of the other collection (each image,
  and a *scanner view* of some: another gamma, resolution, noise, bias, zoom, turn — the variation a new scanner or
  sequence brings), with the dedup group of each for cross-fitting; held-aside brains (the validation side, the
  held-aside groups) for measuring only.
- **Not brains**: the ``fit`` part of the assembled set (``python -m training ood-set``), each image and one more
  view of it.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from PIL import Image
from scipy.ndimage import binary_erosion, binary_fill_holes, gaussian_filter
from tqdm import tqdm

from mlcore.preprocessing import PreprocessSpec, preprocess
from training.data.dataset import read_gray

log = logging.getLogger(__name__)

BATCH = 64


@dataclass(frozen=True)
class FeatureSet:
    """Gate features of some images (N×D), with a group per image (copies of one slice or views of one source
    share one) and the collection or kind each comes from."""

    features: np.ndarray
    groups: np.ndarray
    origins: np.ndarray

    @staticmethod
    def join(sets: Sequence[FeatureSet]) -> FeatureSet:
        """The sets one after the other."""
        return FeatureSet(
            np.concatenate([s.features for s in sets]),
            np.concatenate([s.groups for s in sets]),
            np.concatenate([s.origins for s in sets]),
        )


def gate_features(
    module: torch.nn.Module, images: Iterable[np.ndarray], spec: PreprocessSpec, *, total: int, desc: str
) -> np.ndarray:
    """Gate features of float H×W images in [0, 1], each through THE eval preprocessing, in batches."""
    rows: list[np.ndarray] = []
    batch: list[torch.Tensor] = []

    def flush() -> None:
        if batch:
            with torch.inference_mode():
                rows.append(module(torch.cat(batch)).numpy())
            batch.clear()

    for image in tqdm(images, total=total, desc=desc, unit="image"):
        batch.append(preprocess(image, spec))
        if len(batch) == BATCH:
            flush()
    flush()
    return np.concatenate(rows) if rows else np.zeros((0, 0), np.float32)


def scanner_view(gray: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """A brain slice as another scanner or sequence might show it: a lower resolution and a stretch (EPI-like),
    the skull stripped, a ghost, a smooth bias field, magnitude noise, blur, a gamma, a small turn, a zoom in or out
    — each with some chance."""
    image = np.asarray(gray, dtype=np.float64)
    height, width = image.shape
    if rng.random() < 0.5:
        side = int(rng.integers(48, 128))
        stretch = float(rng.uniform(0.85, 1.15))
        small = Image.fromarray(image.astype(np.float32)).resize((side, max(8, int(side * stretch * height / width))))
        image = np.asarray(small.resize((width, height), Image.Resampling.BILINEAR), dtype=np.float64)
    if rng.random() < 0.2:
        image = skull_stripped(image)
    if rng.random() < 0.2:  # an N/2 ghost: a faint copy shifted by half the field of view along the phase axis
        image = image + float(rng.uniform(0.05, 0.15)) * np.roll(image, height // 2, axis=0)
    if rng.random() < 0.4:
        field = gaussian_filter(rng.normal(size=(height, width)), sigma=max(height, width) / 5)
        image = image * (1 + 0.3 * field / (np.abs(field).max() + 1e-9))
    if rng.random() < 0.3:
        sigma = float(rng.uniform(0.01, 0.05))
        image = np.hypot(image + rng.normal(0, sigma, image.shape), rng.normal(0, sigma, image.shape))
    if rng.random() < 0.2:
        image = gaussian_filter(image, float(rng.uniform(0.5, 1.5)))
    image = np.clip(image / max(float(np.percentile(image, 99.8)), 1e-6), 0.0, 1.0) ** float(rng.uniform(0.6, 1.6))
    picture = Image.fromarray(image.astype(np.float32))
    if rng.random() < 0.4:
        picture = picture.rotate(float(rng.uniform(-15, 15)), resample=Image.Resampling.BILINEAR)
    if rng.random() < 0.2:  # a smaller head in the field of view (a wider FOV, the top of the head)
        shrink = float(rng.uniform(0.55, 0.9))
        small = picture.resize((max(8, int(width * shrink)), max(8, int(height * shrink))), Image.Resampling.BILINEAR)
        picture = Image.new("F", (width, height), 0.0)
        picture.paste(small, ((width - small.width) // 2, (height - small.height) // 2))
    elif rng.random() < 0.4:
        keep = float(rng.uniform(0.8, 1.0))
        box = (width * (1 - keep) / 2, height * (1 - keep) / 2, width * (1 + keep) / 2, height * (1 + keep) / 2)
        picture = picture.resize((width, height), Image.Resampling.BILINEAR, box=box)
    out = np.asarray(picture, dtype=np.float32)
    return np.array(out[:, ::-1] if rng.random() < 0.5 else out)  # a writable copy


def skull_stripped(image: np.ndarray) -> np.ndarray:
    """The slice with its outer rim (scalp and skull: about 7 % of the side) set to 0, as brain-extraction tools and
    fat-suppressed EPI show it."""
    head = binary_fill_holes(image > 0.1 * float(image.max()))
    inner = binary_erosion(head, iterations=max(1, int(0.07 * min(image.shape))))
    return np.where(inner, image, 0.0)


def brain_features(
    module: torch.nn.Module,
    paths: Sequence[Path],
    spec: PreprocessSpec,
    *,
    groups: Sequence[str],
    origin: str,
    views: float = 0.0,
    seed: int = 0,
) -> FeatureSet:
    """Gate features of brain image files (and of a scanner view of a ``views`` share of them, in the same group)."""
    rng = np.random.default_rng(seed)
    chosen = [index for index in range(len(paths)) if rng.random() < views]

    def images() -> Iterable[np.ndarray]:
        for path in paths:
            yield read_gray(path)
        for index in chosen:
            yield scanner_view(read_gray(paths[index]), rng)

    features = gate_features(module, images(), spec, total=len(paths) + len(chosen), desc=f"gate features: {origin}")
    all_groups = [*groups, *(groups[index] for index in chosen)]
    return FeatureSet(features, np.array(all_groups, dtype=object), np.full(len(all_groups), origin, dtype=object))


def ood_part(folder: Path, part: str) -> tuple[list[Path], list[str], list[str]]:
    """The files of one part of an assembled set (``python -m training ood-set``), their kinds and their sources."""
    sources = json.loads((folder / "sources.json").read_text())
    chosen = sorted(name for name, entry in sources.items() if entry["part"] == part)
    if not chosen:
        raise FileNotFoundError(f"{folder} has no images of part {part!r}; run python -m training ood-set")
    return (
        [folder / name for name in chosen],
        [sources[n]["kind"] for n in chosen],
        [sources[n]["source"] for n in chosen],
    )


def negative_features(module: torch.nn.Module, folder: Path, spec: PreprocessSpec, *, seed: int = 0) -> FeatureSet:
    """Gate features of the assembled set's ``fit`` part: each image and one more view of it (grouped by source)."""
    paths, kinds, sources = ood_part(folder, "fit")
    rng = np.random.default_rng(seed)

    def images() -> Iterable[np.ndarray]:
        for path in paths:
            yield read_gray(path)
        for path in paths:
            image = read_gray(path)
            image = image[:, ::-1] if rng.random() < 0.5 else image
            yield np.clip(image, 0, 1) ** float(rng.uniform(0.6, 1.6))

    features = gate_features(module, images(), spec, total=2 * len(paths), desc="gate features: not brains")
    return FeatureSet(features, np.array(sources * 2, dtype=object), np.array(kinds * 2, dtype=object))
