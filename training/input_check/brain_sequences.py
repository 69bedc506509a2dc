"""Brain MRI slices in sequences the dataset has few or none of: what the input check must still accept.

The dataset's brains are mostly T1 with contrast (one collection) and T2 (another). These are brains of other
sequences, from packages on this disk (:mod:`training.input_check.sample_sources`) or synthesised
(:mod:`training.input_check.mni_phantoms`); no fit or threshold reads them, they only measure false refusals:

- ``t1-native``: T1 without contrast — slices of the MNI template (an average brain, smooth);
- ``other-scanner``: matplotlib's sample head MRI (sagittal, 16-bit), in four views;
- ``epi``: a BOLD EPI volume (nibabel) and a diffusion b0 EPI volume (dipy): low resolution, distortion, ghosts;
- ``flair-synthetic``: FLAIR synthesised from the MNI tissue maps — a contrast the gate's fit never sees (it fits
  synthetic T1, T2 and PD of the same anatomy: :data:`FIT_CONTRASTS`).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np

from training.input_check.mni_phantoms import mr_slices
from training.input_check.ood_set import LICENCES, matplotlib_brain_slice
from training.input_check.sample_sources import VOLUME_SAMPLES, axial_slices, volume

SLICES = 12  # per source volume


@dataclass(frozen=True)
class SequenceSlice:
    """One brain slice of another sequence: its kind, name, uint8 pixels, origin and licence."""

    kind: str
    name: str
    pixels: np.ndarray
    source: str
    licence: str


def _uint8(image: np.ndarray) -> np.ndarray:
    low, high = np.percentile(image, [0.0, 99.8])
    scaled = np.clip((image - low) / (high - low), 0.0, 1.0) if high > low else np.zeros_like(image)
    return (scaled * 255).round().astype(np.uint8)


def sequence_slices(seed: int = 0) -> Iterator[SequenceSlice]:
    """Every slice, kind by kind (a kind whose package is missing is skipped, logged by the reader)."""
    for name in ("mni-t1", "bold-epi", "dwi-b0"):
        origin = VOLUME_SAMPLES[name]
        data = volume(origin)
        if data is None:
            continue
        kind = "t1-native" if name == "mni-t1" else "epi"
        for index, plane in enumerate(axial_slices(data, SLICES, low=0.25, high=0.75)):
            source = f"{origin.package}: {origin.path} ({origin.shows}), axial slice"
            yield SequenceSlice(kind, f"{name}-{index:02d}", _uint8(plane), source, origin.licence)
    sample = matplotlib_brain_slice()
    for index, pixels in enumerate((sample, sample[:, ::-1], sample[16:-16, 16:-16], sample[:, 24:-8])):
        source = "matplotlib sample data s1045.ima (a head MRI, sagittal)"
        yield SequenceSlice("other-scanner", f"s1045-{index}", np.ascontiguousarray(pixels), source, MATPLOTLIB)
    for index, plane in enumerate(mr_slices("flair", SLICES, seed)):
        source = "synthesised FLAIR from the MNI template's tissue maps (training/input_check/mni_phantoms.py)"
        pixels = (plane * 255).round().astype(np.uint8)
        yield SequenceSlice("flair-synthetic", f"flair-{index:02d}", pixels, source, MNI_LICENCE)


def fit_slices(seed: int = 1, count: int = 40) -> list[np.ndarray]:
    """Synthetic brain slices the gate *fits* on (float, [0, 1]): :data:`FIT_CONTRASTS` of the MNI anatomy, from
    low in the head to its top, with their own seed."""
    return [plane for contrast in FIT_CONTRASTS for plane in mr_slices(contrast, count, seed, low=0.2, high=0.85)]


FIT_CONTRASTS = ("t1", "t2", "pd")


MNI_LICENCE = VOLUME_SAMPLES["mni-gm"].licence
MATPLOTLIB = LICENCES["matplotlib"]
