"""The assembled set of images that are not brain MRI slices (training/input_check/ood_set.py)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from mlcore.artifact import DEFAULT_MODEL
from tests.helpers import REPO_ROOT, SHARED_DATA
from training.input_check.ood_set import PARTS, dataset_slices, matplotlib_brain_slice, write_ood_set

KINDS = {
    "ct-head", "ct-body", "mr-body", "radiograph", "nuclear", "ultrasound", "microscopy", "photographs", "faces",
    "documents", "screenshots", "synthetic",
}  # fmt: skip


@pytest.fixture(scope="module")
def written(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, dict[str, int]]]:
    folder = tmp_path_factory.mktemp("ood-set")
    return folder, write_ood_set(folder)


def test_both_parts_have_every_kind_and_the_measure_part_is_large_enough(
    written: tuple[Path, dict[str, dict[str, int]]],
) -> None:
    _, counts = written
    assert set(counts) == set(PARTS)
    assert set(counts["fit"]) >= KINDS and KINDS | {"colour-overlay", "brain-tiled"} <= set(counts["measure"])
    assert sum(counts["measure"].values()) >= 300 and all(count >= 10 for count in counts["measure"].values())


def test_no_source_is_in_both_parts_and_every_image_names_its_origin_and_licence(
    written: tuple[Path, dict[str, dict[str, int]]],
) -> None:
    folder, counts = written
    sources = json.loads((folder / "sources.json").read_text())
    assert len(sources) == sum(sum(part.values()) for part in counts.values())
    by_part = {part: {entry["source"] for entry in sources.values() if entry["part"] == part} for part in PARTS}
    assert by_part["fit"].isdisjoint(by_part["measure"])
    assert all(entry["licence"] and entry["source"] for entry in sources.values())
    files = sorted(folder.glob("*/*/*.png"))
    assert len(files) == len(sources)
    for path in files[:: max(1, len(files) // 20)]:
        with Image.open(path) as image:
            assert min(image.size) >= 8
    # The examples are measured, never fitted: pydicom's abdominal MR, a chest radiograph, a head CT.
    measured = by_part["measure"]
    assert any("examples_overlay" in s for s in measured) and any("RG1_UNCR" in s for s in measured)
    assert any("693_J2KI" in s for s in measured)


@pytest.mark.skipif(not SHARED_DATA.is_dir(), reason="the committed page lists mosaics of the dataset's slices")
def test_the_committed_sources_page_is_the_one_the_command_writes(tmp_path: Path) -> None:
    slices = dataset_slices(SHARED_DATA / "Training", DEFAULT_MODEL.with_suffix(".split.json"))
    write_ood_set(tmp_path, dataset_slices=slices)
    committed = REPO_ROOT / "docs" / "evaluation" / "ood-set-SOURCES.md"
    assert committed.read_text() == (tmp_path / "SOURCES.md").read_text(), "python -m training ood-set, copy SOURCES.md"


def test_the_set_is_the_same_for_the_same_seed(tmp_path: Path) -> None:
    write_ood_set(tmp_path / "a", seed=1)
    write_ood_set(tmp_path / "b", seed=1)
    for path in sorted((tmp_path / "a" / "measure" / "synthetic").glob("*.png")):
        assert path.read_bytes() == (tmp_path / "b" / "measure" / "synthetic" / path.name).read_bytes()


def test_the_matplotlib_brain_slice_is_a_full_range_image() -> None:
    brain = matplotlib_brain_slice()
    assert brain.shape == (256, 256) and brain.dtype == np.uint8 and brain.max() == 255
