"""The shipped model as a MONAI Bundle (brainxai/bundle.py), loaded the way MONAI loads bundles, offline."""

from __future__ import annotations

import csv
import json
from pathlib import Path
from typing import Any

import pytest
import torch

from brainxai.__main__ import main
from mlcore.artifact import DEFAULT_MODEL, load
from service.analysis.pipeline import AnalysisRequest
from service.image import Upload
from tests.helpers import SAMPLES

monai_bundle = pytest.importorskip("monai.bundle", reason="MONAI is the bundle extra: pip install 'brainxai[bundle]'")


@pytest.fixture(scope="module")
def bundle(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The shipped model exported by the command, as a user would."""
    out = tmp_path_factory.mktemp("bundle") / "brainxai_cnn"
    assert main(["export-bundle", "--out", str(out), "--model", str(DEFAULT_MODEL)]) == 0
    return out


def _service_probabilities(analyser: Any, path: Path) -> list[float]:
    analysis = analyser.analyse(Upload(path.read_bytes(), None), analyser.plan(AnalysisRequest()))
    return list(analysis.prediction.probabilities.values())


def test_the_bundle_gives_the_service_probabilities_on_every_committed_sample(
    bundle: Path, shipped_analyser: Any
) -> None:
    parser = monai_bundle.ConfigParser()
    parser.read_config(str(bundle / "configs" / "inference.json"))
    parser["bundle_root"] = str(bundle)
    predict = parser.get_parsed_content("predict")
    samples = sorted(SAMPLES.glob("*/*.jpg"))
    assert len(samples) == 8
    with torch.no_grad():
        for path in samples:
            assert predict(str(path)) == pytest.approx(_service_probabilities(shipped_analyser, path), abs=1e-5), path


def test_monai_bundle_run_writes_every_image_answer(bundle: Path, shipped_analyser: Any, tmp_path: Path) -> None:
    monai_bundle.run(
        config_file=str(bundle / "configs" / "inference.json"),
        bundle_root=str(bundle),
        dataset_dir=str(SAMPLES),
        output_dir=str(tmp_path),
    )
    assert torch.is_grad_enabled()  # the bundle's config leaves the process as it found it
    with open(tmp_path / "predictions.csv", newline="") as handle:
        rows = list(csv.DictReader(handle))
    assert [Path(row["path"]).name for row in rows] == [path.name for path in sorted(SAMPLES.glob("*/*.jpg"))]
    for row in rows:
        expected = shipped_analyser.analyse(Upload(Path(row["path"]).read_bytes(), None), shipped_analyser.plan(
            AnalysisRequest())).prediction  # fmt: skip
        assert row["answer"] == expected.label


def test_the_metadata_passes_monais_own_check_with_the_vendored_schema(bundle: Path, tmp_path: Path) -> None:
    schema = bundle / "configs" / "meta_schema_20240725.json"
    monai_bundle.verify_metadata(meta_file=str(bundle / "configs" / "metadata.json"), filepath=str(schema))
    metadata = json.loads((bundle / "configs" / "metadata.json").read_text())
    manifest = load(DEFAULT_MODEL).manifest
    assert metadata["version"] == manifest["version"]
    assert metadata["network_data_format"]["outputs"]["pred"]["channel_def"] == {
        str(i): name for i, name in enumerate(manifest["classes"])
    }
    broken = {key: value for key, value in metadata.items() if key != "task"}
    (tmp_path / "metadata.json").write_text(json.dumps(broken))
    with pytest.raises(ValueError, match="task"):
        monai_bundle.verify_metadata(meta_file=str(tmp_path / "metadata.json"), filepath=str(schema))


def test_the_bundle_says_what_it_does_not_carry(bundle: Path) -> None:
    readme = (bundle / "docs" / "README.md").read_text()
    for missing in ("input check", "explanations", "evidence check", "DICOM"):
        assert missing in readme
    assert (bundle / "models" / "model.ts").stat().st_size < DEFAULT_MODEL.stat().st_size  # the network alone
