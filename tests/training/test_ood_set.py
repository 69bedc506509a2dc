"""The out-of-distribution set assembled from installed sample data and generators (training/ood_set.py)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
from PIL import Image

from training.ood_set import matplotlib_brain_slice, write_ood_set


def test_the_set_has_every_group_written_as_images_with_their_sources(tmp_path: Path) -> None:
    counts = write_ood_set(tmp_path)
    assert set(counts) == {"other-medical", "photographs", "faces", "documents", "synthetic"}
    assert all(count >= 10 for count in counts.values())
    sources = json.loads((tmp_path / "sources.json").read_text())
    assert len(sources) == sum(counts.values())
    files = sorted(tmp_path.glob("*/*.png"))
    assert len(files) == len(sources)
    for path in files[:: max(1, len(files) // 20)]:
        entry = sources[f"{path.parent.name}/{path.name}"]
        assert entry["group"] == path.parent.name and entry["source"]
        with Image.open(path) as image:
            assert min(image.size) >= 8
    # The abdominal MR and the head CT of pydicom's test files are in it (the examples).
    assert "other-medical/examples_overlay.png" in sources and "other-medical/J2K_pixelrep_mismatch.png" in sources


def test_the_set_is_the_same_for_the_same_seed(tmp_path: Path) -> None:
    write_ood_set(tmp_path / "a", seed=1)
    write_ood_set(tmp_path / "b", seed=1)
    for path in sorted((tmp_path / "a" / "synthetic").glob("*.png")):
        assert path.read_bytes() == (tmp_path / "b" / "synthetic" / path.name).read_bytes()


def test_the_matplotlib_brain_slice_is_a_full_range_image() -> None:
    brain = matplotlib_brain_slice()
    assert brain.shape == (256, 256) and brain.dtype == np.uint8 and brain.max() == 255
