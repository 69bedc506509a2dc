"""brainxai from Python, and the ``brainxai`` command (the service, the DICOM node, training, folder analysis, the
MONAI Bundle) behind one installed script.

    import brainxai
    analyser = brainxai.load()                                   # the shipped model, the service's settings
    analysis = brainxai.analyse(analyser, "slice.jpg", explain=["gradcam"])
    analysis.prediction.label, analysis.prediction.probabilities  # or OutOfDistribution: not a brain MRI slice
    analysis.explanations[0].heatmap, analysis.explanations[0].evidence

Both functions import the service lazily, so that ``import brainxai`` (and the command's ``--help``) stays cheap.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from service.analysis.pipeline import Analyser, Analysis


def load(model: str | Path | None = None, **settings: Any) -> Analyser:
    """The analysis pipeline of the service for ``model`` (default: the shipped one), with the service's settings
    (``BRAINXAI_*`` variables) and any given here by name (e.g. ``explain_precision="fp32"``)."""
    from service.loading import load_analyser
    from service.settings import Settings

    if model is not None:
        settings["model_path"] = Path(model)
    return load_analyser(Settings(**settings))


def analyse(
    analyser: Analyser, path: str | Path, *, explain: Sequence[str] = (), target: str | None = None
) -> Analysis:
    """One image or DICOM file through the pipeline: the answer, and a map with its evidence check per method of
    ``explain``. Raises :class:`mlcore.errors.OutOfDistribution` for an image the input check refuses and
    :class:`mlcore.errors.BrainxaiError` for one that cannot be read."""
    from service.analysis.pipeline import AnalysisRequest
    from service.image import Upload

    plan = analyser.plan(AnalysisRequest(methods={method: {} for method in explain}, target=target))
    return analyser.analyse(Upload(Path(path).read_bytes(), None), plan)
