"""Store int8 calibration images in an artifact: a seeded, class-balanced draw from the train side.

The service quantizes the model to int8 for LIME and Occlusion when it starts
(:func:`mlcore.onnx_forward.int8_forward`); the activation ranges come from these images, which
travel inside the artifact so that every start quantizes the same way. Only the *train* side of the
split is drawn from: the validation images stay unseen by everything that shapes the model.
"""

from __future__ import annotations

import logging
import random
from pathlib import Path

import numpy as np

from mlcore import artifact
from mlcore.preprocessing import fit_to_square
from mlcore.render import to_uint8
from training.data.dataset import read_gray
from training.evaluation.evaluate import select_files

log = logging.getLogger(__name__)


def calibration_images(
    data_root: Path, split_file: Path, size: int, *, per_class: int = 8, seed: int = 0
) -> tuple[np.ndarray, list[str]]:
    """``per_class`` train-side images of each class, fitted to size×size, as uint8 N×S×S; and their names."""
    classes, files = select_files(data_root, split_file, "train")
    chooser = random.Random(seed)
    chosen: list[Path] = []
    for label in range(len(classes)):
        of_class = sorted(path for path, file_label in files if file_label == label)
        chosen.extend(chooser.sample(of_class, min(per_class, len(of_class))))
    images = np.stack([to_uint8(fit_to_square(read_gray(path), size)[0].numpy()) for path in chosen])
    return images, [f"{path.parent.name}/{path.name}" for path in chosen]


def add_calibration(model_path: Path, data_root: Path, split_file: Path, *, per_class: int = 8, seed: int = 0) -> str:
    """Rewrite ``model_path`` with calibration images (module and weights unchanged); return the new sha256.

    The manifest gains a ``calibration`` section naming the images and the draw.
    """
    loaded = artifact.load(model_path)
    size = int(loaded.manifest["input"]["size"])
    images, names = calibration_images(data_root, split_file, size, per_class=per_class, seed=seed)
    manifest = {
        **loaded.manifest,
        "calibration": {
            "purpose": "activation ranges of the int8 forward used by LIME and Occlusion",
            "side": "train",
            "per_class": per_class,
            "seed": seed,
            "images": names,
        },
    }
    digest = artifact.save(
        loaded.module,
        manifest,
        model_path,
        calibration=images,
        feature_detector=loaded.feature_detector,
        gate=loaded.gate,
    )
    log.info("stored %d calibration images in %s (sha256 %s)", len(images), model_path, digest[:12])
    return digest
