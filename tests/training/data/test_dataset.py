"""Dataset loading: unreadable images are all named; a missing dataset is a clear error."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from mlcore.errors import DatasetError
from training.data.dataset import load_dataset


def test_unreadable_images_stop_the_run_and_are_all_named(synth_root: Path, tmp_path: Path) -> None:
    root = tmp_path / "Training"
    shutil.copytree(synth_root, root)
    (root / "glioma" / "broken.jpg").write_bytes(b"\xff\xd8\xff\xe0 truncated jpeg")
    (root / "notumor" / "empty.png").write_bytes(b"")
    with pytest.raises(DatasetError) as caught:
        load_dataset(root, size=32, show_progress=False)
    assert "broken.jpg" in str(caught.value) and "empty.png" in str(caught.value)
    assert "--skip-bad" in str(caught.value)
    data = load_dataset(root, size=32, skip_bad=True, show_progress=False)
    assert len(data.paths) == 64


def test_missing_dataset_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(DatasetError, match="not found"):
        load_dataset(tmp_path / "nowhere", size=32)
