"""What the benchmark scripts share (bench/common.py): the previous model *version* they compare with by default."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest
from common import MODEL, manifest_version, previous_model  # bench/common.py (tests/bench/conftest.py)

from tests.helpers import REPO_ROOT

SHALLOW = subprocess.run(
    ["git", "rev-parse", "--is-shallow-repository"], capture_output=True, text=True, cwd=REPO_ROOT, check=False
).stdout.strip() in ("true", "")


def test_the_manifest_version_is_read_without_loading_the_model() -> None:
    from mlcore.artifact import load

    assert manifest_version(MODEL.read_bytes()) == load(MODEL).manifest["version"]
    assert manifest_version(b"not an archive") is None


@pytest.mark.skipif(SHALLOW, reason="a shallow clone holds no earlier shipped model")
def test_make_bench_compares_with_the_previous_version_not_an_earlier_export(tmp_path: Path) -> None:
    found = previous_model(tmp_path)
    assert found is not None
    path, version = found
    current = manifest_version(MODEL.read_bytes())
    assert version != current and manifest_version(path.read_bytes()) == version
    assert tuple(int(part) for part in version.split(".")) < tuple(int(part) for part in str(current).split("."))
