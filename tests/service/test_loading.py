"""The model as the service serves it (service/loading.py): loaded, its runtimes built, warmed up — the same
analyser for the HTTP app and the DICOM node."""

from __future__ import annotations

from pathlib import Path

from service.analysis.pipeline import AnalysisRequest
from service.image import Upload
from service.loading import load_analyser
from service.metrics import Metrics
from service.settings import Settings
from tests.images import sample_path


def test_the_loaded_analyser_answers_and_counts_its_input_checks(tiny_model_path: Path) -> None:
    metrics = Metrics()
    analyser = load_analyser(Settings(model_path=tiny_model_path, runtime="torchscript"), metrics)
    analysis = analyser.analyse(Upload(sample_path().read_bytes(), "image/jpeg"), analyser.plan(AnalysisRequest()))
    assert analysis.prediction is not None and set(analysis.prediction.probabilities) == set(analyser.classes)
    counted = [sample.value for sample in metrics.input_checks.collect()[0].samples if sample.name.endswith("_total")]
    assert sum(counted) == 1  # this answer's check; the warm-up's is not counted
