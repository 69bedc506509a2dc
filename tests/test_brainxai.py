"""brainxai from Python (brainxai/__init__.py): the pipeline's answers and maps, and a cheap import."""

from __future__ import annotations

import subprocess
import sys
from typing import Any

import pytest

import brainxai
from mlcore.errors import OutOfDistribution
from service.analysis.pipeline import AnalysisRequest
from service.image import Upload
from tests.helpers import NOT_BRAIN, SAMPLES


def test_the_python_functions_give_the_pipelines_answer_and_maps(shipped_analyser: Any) -> None:
    sample = sorted(SAMPLES.glob("glioma/*.jpg"))[0]
    analysis = brainxai.analyse(shipped_analyser, sample, explain=["gradcam"])
    expected = shipped_analyser.analyse(Upload(sample.read_bytes(), None), shipped_analyser.plan(AnalysisRequest()))
    assert analysis.prediction.probabilities == pytest.approx(expected.prediction.probabilities, abs=1e-5)
    [explanation] = analysis.explanations
    assert explanation.method == "gradcam" and explanation.heatmap.shape == expected.image.pixels.shape
    with pytest.raises(OutOfDistribution):
        brainxai.analyse(shipped_analyser, NOT_BRAIN / "chest-radiograph.png")


def test_importing_brainxai_loads_no_model_library() -> None:
    code = "import sys, brainxai; print(sorted({'torch', 'service'} & set(sys.modules)))"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "[]"
