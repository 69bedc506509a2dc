"""Reading the dataset layout ``<root>/<class>/*.jpg|png`` into memory, once, with a progress bar.

Every image goes through :func:`mlcore.preprocessing.fit_to_square` (the eval geometry), so the
in-memory tensor of a validation image is exactly what the service would feed the model before
normalisation. Unreadable files are collected and reported all together.
"""

from __future__ import annotations

import hashlib
import logging
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from PIL import Image, UnidentifiedImageError
from tqdm import tqdm

from mlcore.errors import DatasetError, ImageError
from mlcore.input_check.check import colour_of
from mlcore.preprocessing import fit_to_square, grayscale_from_pil
from training.data.dedup import exact_key, perceptual_hash

log = logging.getLogger(__name__)

IMAGE_SUFFIXES = frozenset({".jpg", ".jpeg", ".png"})
# Where the shared dataset lies beside a checkout (../shared/data): the commands' defaults, never part of a recipe.
SHARED_DATA = Path(__file__).resolve().parents[3] / "shared" / "data"
SHARED_TRAINING = SHARED_DATA / "brain-tumor-mri" / "Training"
SHARED_UNKNOWN_KIND = SHARED_DATA / "br35h-tumours"


@dataclass(frozen=True)
class Dataset:
    """Images of one folder tree, decoded and fitted to the model's square grid.

    ``images`` is float32 (N, 1, S, S) in [0, 1]; ``labels`` int64 (N,); ``paths`` are relative
    to the dataset root's parent (the form ``tumor-boxes.csv`` uses); ``original_sizes`` (H, W).
    """

    classes: list[str]
    images: torch.Tensor
    labels: np.ndarray
    paths: list[str]
    original_sizes: list[tuple[int, int]]
    exact_keys: list[str]
    phashes: list[int]
    fingerprint: str


def discover(root: Path) -> tuple[list[str], list[tuple[Path, int]]]:
    """Class names (sorted sub-folder names) and (file, label) pairs of a dataset root."""
    if not root.is_dir():
        raise DatasetError(f"dataset folder not found: {root}")
    classes = sorted(p.name for p in root.iterdir() if p.is_dir() and not p.name.startswith("."))
    if len(classes) < 2:
        raise DatasetError(f"{root} must hold one sub-folder per class; found {classes}")
    files = [
        (path, label)
        for label, name in enumerate(classes)
        for path in sorted((root / name).iterdir())
        if path.suffix.lower() in IMAGE_SUFFIXES
    ]
    if not files:
        raise DatasetError(f"no .jpg/.png images under {root}")
    return classes, files


def read_gray(path: Path) -> np.ndarray:
    """Decode one image file to a float32 H×W array in [0, 1]; :class:`ImageError` if it cannot."""
    try:
        with Image.open(path) as image:
            image.load()
            return grayscale_from_pil(image)
    except (OSError, UnidentifiedImageError, ValueError, SyntaxError) as exc:
        raise ImageError(f"{path}: {exc}") from exc


def read_gray_and_colour(path: Path) -> tuple[np.ndarray, float]:
    """Decode one image file as :func:`read_gray` does, with the share of its coloured pixels (the input check's
    colour measure, :func:`mlcore.input_check.check.colour_of`)."""
    try:
        with Image.open(path) as image:
            image.load()
            return grayscale_from_pil(image), colour_of(image)
    except (OSError, UnidentifiedImageError, ValueError, SyntaxError) as exc:
        raise ImageError(f"{path}: {exc}") from exc


def load_dataset(root: Path, size: int, skip_bad: bool = False, show_progress: bool = True) -> Dataset:
    """Read every image under ``root``, fit it to size×size and hash it for de-duplication.

    An unreadable image stops the run with a :class:`DatasetError` naming every bad file,
    unless ``skip_bad`` is set, in which case they are left out and logged by name.
    """
    classes, files = discover(root)
    images: list[torch.Tensor] = []
    labels: list[int] = []
    paths: list[str] = []
    sizes: list[tuple[int, int]] = []
    keys: list[str] = []
    phashes: list[int] = []
    bad: list[str] = []
    digest = hashlib.sha256()
    for path, label in tqdm(files, desc=f"reading {root.name}", unit="img", disable=not show_progress):
        try:
            gray = read_gray(path)
        except ImageError as exc:
            bad.append(str(exc))
            continue
        relative = f"{root.name}/{path.parent.name}/{path.name}"
        digest.update(relative.encode() + hashlib.sha256(path.read_bytes()).digest())
        images.append(fit_to_square(gray, size))
        labels.append(label)
        paths.append(relative)
        sizes.append((int(gray.shape[0]), int(gray.shape[1])))
        keys.append(exact_key(gray))
        phashes.append(perceptual_hash(gray))
    if bad:
        listing = "\n  ".join(bad)
        if not skip_bad:
            raise DatasetError(f"{len(bad)} unreadable image(s) (use --skip-bad to go on without them):\n  {listing}")
        log.warning("skipping %d unreadable image(s):\n  %s", len(bad), listing)
    if not images:
        raise DatasetError(f"no readable images under {root}")
    return Dataset(
        classes=classes,
        images=torch.stack(images),
        labels=np.array(labels, dtype=np.int64),
        paths=paths,
        original_sizes=sizes,
        exact_keys=keys,
        phashes=phashes,
        fingerprint=digest.hexdigest(),
    )
