"""The analysis pipeline: one prediction per image whatever the methods, the runtime each method runs on,
Grad-CAM from the shared pass equal to an independent Grad-CAM, the cache, checks before work, deadlines."""

from __future__ import annotations

import io
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
import torch
from captum.attr import LayerGradCam
from PIL import Image

from mlcore import artifact
from mlcore.errors import DeadlineExceeded, OutOfDistribution, ParameterError
from mlcore.evidence import EvidenceCheck
from mlcore.explainers import explainer_class, method_names
from mlcore.explainers.base import normalise_map
from mlcore.input_check.detector import pooled_features
from mlcore.preprocessing import PreprocessSpec, map_to_original, preprocess
from mlcore.runtimes import Runtimes
from service.analysis.pipeline import Analyser, AnalysisRequest, extrapolate
from service.errors import NotDicom
from service.image import DecodeOptions, Upload
from tests.helpers import CLASSES
from tests.images import pydicom_testdata
from training.fit.models import build_model


class _Counting:
    """A forward (and, for the artifact, a backbone) that counts the images it evaluates."""

    def __init__(self, module: torch.jit.ScriptModule, delay_s: float = 0.0) -> None:
        self.module = module
        self.delay_s = delay_s  # per call, to make a run long enough to be cut by its deadline
        self.calls = 0
        self.images = 0  # through forward
        self.backbone_images = 0  # through features (the backbone pass a prediction and Grad-CAM share)

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        time.sleep(self.delay_s)
        self.calls += 1
        self.images += len(x)
        return self.module(x)

    def outputs(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Logits, penultimate features and feature maps in one run, as the ONNX Runtime predict forward gives them."""
        self.calls += 1
        self.images += len(x)
        maps = self.module.features(x)
        return self.module.classify(maps), pooled_features(maps), maps

    def features(self, x: torch.Tensor) -> torch.Tensor:
        self.backbone_images += len(x)
        return self.module.features(x)

    def classify(self, features: torch.Tensor) -> torch.Tensor:
        return self.module.classify(features)


def _png(seed: int = 0, shape: tuple[int, int] = (60, 40)) -> Upload:
    pixels = (np.random.default_rng(seed).random(shape) * 255).astype(np.uint8)
    buffer = io.BytesIO()
    Image.fromarray(pixels, "L").save(buffer, format="PNG")
    return Upload(buffer.getvalue(), "image/png")


def _analyser(
    path: Path,
    cache_size: int = 0,
    delay_s: float = 0.0,
    *,
    evidence: bool = False,
    on_evidence: Callable[[EvidenceCheck], None] | None = None,
) -> tuple[Analyser, _Counting, _Counting, _Counting]:
    model = artifact.load(path)
    backbone, predict = _Counting(model.module, delay_s), _Counting(model.module)
    perturb = _Counting(model.module, delay_s)
    runtimes = Runtimes(module=backbone, predict=predict, perturb=perturb)  # type: ignore[arg-type]
    limits = DecodeOptions(max_pixels=10_000_000)
    analyser = Analyser(
        model,
        runtimes,
        decode_limits=limits,
        cache_size=cache_size,
        caps={"lime": {"seed": 5}},
        evidence=evidence,
        on_evidence=on_evidence,
    )
    return analyser, backbone, predict, perturb


def test_one_prediction_whatever_the_number_of_methods(tiny_model_path: Path) -> None:
    analyser, backbone, predict, perturb = _analyser(tiny_model_path)
    forward_only = {"lime": {"num_samples": 64, "n_segments": 8}, "occlusion": {"window": 24, "stride": 24}}
    analysis = analyser.analyse(_png(), analyser.plan(AnalysisRequest(methods=forward_only)))
    assert [e.method for e in analysis.explanations] == ["lime", "occlusion"]
    assert predict.images == 1 and backbone.images == backbone.backbone_images == 0  # one prediction, fast forward
    # LIME's samples, Occlusion's 2×2 patches and its unoccluded reference: all on the perturbation runtime
    assert perturb.images == 64 + 4 + 1
    with_gradients = {"gradcam": {}, "integrated_gradients": {"n_steps": 4}, "lime": {"num_samples": 64}}
    analyser.analyse(_png(), analyser.plan(AnalysisRequest(methods=with_gradients)))
    assert predict.images == 2  # one run: the prediction, its input check and the feature maps Grad-CAM weighs
    assert backbone.backbone_images == 0  # no second backbone pass for Grad-CAM
    assert backbone.images == 4  # Integrated Gradients' 4 path points, on the artifact (it needs gradients)
    assert perturb.images == 69 + 64


def test_the_evidence_check_costs_one_batch_of_two_on_the_predict_runtime_per_map(tiny_model_path: Path) -> None:
    """The region removed and the control: one forward of two images per explained method, whatever the method, on
    the predict runtime, against the answer's own probabilities; the check names the class it asked about, its
    "before" is the answer's probability, and it is told to the observer."""
    told: list[str] = []
    analyser, backbone, predict, perturb = _analyser(
        tiny_model_path, evidence=True, on_evidence=lambda check: told.append(check.verdict)
    )
    methods = {"gradcam": {}, "occlusion": {"window": 24, "stride": 24}}
    analysis = analyser.analyse(_png(), analyser.plan(AnalysisRequest(methods=methods)))
    assert predict.images == 1 + 2 * 2  # the prediction (its maps serve Grad-CAM), then the two checks
    assert perturb.images == 4 + 1 and backbone.backbone_images == 0  # Occlusion's patches and reference only
    checks = [explanation.evidence for explanation in analysis.explanations]
    assert all(check is not None and check.answered == analysis.prediction.label for check in checks)
    answered = analysis.prediction.probabilities[analysis.prediction.label]
    assert all(check is not None and check.probability_before == pytest.approx(answered, abs=1e-6) for check in checks)
    assert told == [check.verdict for check in checks if check is not None]


def test_gradcam_equals_an_independent_gradcam_and_the_prediction_the_model(tiny_model_path: Path) -> None:
    analyser, *_ = _analyser(tiny_model_path)
    torch.manual_seed(0)  # the eager twin of the tiny artifact (tests/conftest.py builds it with this seed)
    eager = build_model("brainxai_cnn", len(CLASSES), width=8, dropout=0.0).eval()
    upload = _png(1)
    spec = PreprocessSpec.from_manifest(analyser.model.manifest)
    x = preprocess(np.asarray(Image.open(io.BytesIO(upload.data)), dtype=np.float32) / 255, spec)
    with torch.no_grad():
        expected_probabilities = torch.softmax(eager(x), dim=1)[0].numpy()
    for target in (None, "notumor"):
        analysis = analyser.analyse(upload, analyser.plan(AnalysisRequest(methods={"gradcam": {}}, target=target)))
        got = np.array([analysis.prediction.probabilities[name] for name in CLASSES])
        np.testing.assert_allclose(got, expected_probabilities, atol=1e-5)
        index = CLASSES.index(target or analysis.prediction.label)
        attribution = LayerGradCam(eager, eager.backbone).attribute(x, target=index, relu_attributions=True)
        square = torch.nn.functional.interpolate(attribution, size=x.shape[-2:], mode="bilinear")[0, 0]
        expected = normalise_map(map_to_original(normalise_map(square.detach().numpy()), 60, 40))
        np.testing.assert_allclose(analysis.explanations[0].heatmap, expected, atol=1e-4)
        assert analysis.explanations[0].target == CLASSES[index]


def test_the_cache_answers_identical_requests_without_model_work_and_evicts(tiny_model_path: Path) -> None:
    analyser, _, predict, perturb = _analyser(tiny_model_path, cache_size=1)
    plan = analyser.plan(AnalysisRequest(methods={"lime": {"num_samples": 64}}))
    first = analyser.analyse(_png(), plan)
    again = analyser.analyse(_png(), plan)
    assert (predict.images, perturb.images) == (1, 64)
    assert again.explanations[0].cached and not first.explanations[0].cached
    np.testing.assert_array_equal(again.explanations[0].heatmap, first.explanations[0].heatmap)
    analyser.analyse(_png(seed=2), plan)  # a second image evicts the first (size 1)
    evicted = analyser.analyse(_png(), plan)
    assert not evicted.explanations[0].cached and perturb.images == 3 * 64


def test_a_disabled_cache_recomputes(tiny_model_path: Path) -> None:
    analyser, _, predict, perturb = _analyser(tiny_model_path, cache_size=0)
    plan = analyser.plan(AnalysisRequest(methods={"lime": {"num_samples": 64}}))
    results = [analyser.analyse(_png(), plan).explanations[0] for _ in range(2)]
    assert not any(result.cached for result in results)
    assert (predict.images, perturb.images) == (2, 128)


def test_plans_are_checked_before_any_work(tiny_model_path: Path) -> None:
    analyser, backbone, predict, perturb = _analyser(tiny_model_path)
    bad = [
        ({"shap": {}}, None, "unknown explanation method"),
        ({"lime": {"num_samples": 10}}, None, "num_samples must be between"),
        ({"lime": {"seed": 6}}, None, "seed must be at most 5 on this server"),
        ({"gradcam": {"window": 3}}, None, "takes no parameter"),
        ({}, "astrocytoma", "unknown target"),
    ]
    for methods, target, message in bad:
        with pytest.raises(ParameterError, match=message):
            analyser.plan(AnalysisRequest(methods=methods, target=target))
    with pytest.raises(NotDicom):
        analyser.analyse(_png(), analyser.plan(AnalysisRequest(dicom_result=True)))
    assert backbone.images == backbone.backbone_images == predict.images == perturb.images == 0


@pytest.mark.parametrize(
    ("method", "params", "batches"),
    [
        ("lime", {"num_samples": 5000}, 157),
        ("occlusion", {"window": 4, "stride": 2}, 17),
        ("integrated_gradients", {"n_steps": 256}, 32),
    ],
)
def test_heavy_methods_stop_at_their_deadline(
    tiny_model_path: Path, method: str, params: dict[str, int], batches: int
) -> None:
    """Each batch of model work takes 0.1 s here, so a full run would take ``batches`` / 10 seconds."""
    analyser, backbone, _, perturb = _analyser(tiny_model_path, delay_s=0.1)
    plan = analyser.plan(AnalysisRequest(methods={method: params}))
    with pytest.raises(DeadlineExceeded):
        analyser.analyse(_png(), plan, deadline=time.monotonic() - 1)
    assert perturb.calls == backbone.calls == 0  # not one batch of model work past the deadline
    with pytest.raises(DeadlineExceeded):
        analyser.analyse(_png(), plan, deadline=time.monotonic() + 0.25)
    assert perturb.calls + backbone.calls <= 4 < batches  # it stopped at the first check past the deadline


def _policy_analyser(path: Path, policy: str) -> tuple[Analyser, _Counting, list[tuple[bool, str]]]:
    model = artifact.load(path)
    perturb = _Counting(model.module)
    runtimes = Runtimes(module=model.module, predict=model.module, perturb=perturb)  # type: ignore[arg-type]
    seen: list[tuple[bool, str]] = []
    analyser = Analyser(
        model,
        runtimes,
        decode_limits=DecodeOptions(max_pixels=10_000_000, allow_non_mr=True),
        ood_policy=policy,  # type: ignore[arg-type]
        on_check=lambda check, outcome: seen.append((check.in_distribution, outcome)),
    )
    return analyser, perturb, seen


def test_the_reject_policy_stops_before_any_explanation_work(ood_model_path: Path) -> None:
    analyser, perturb, seen = _policy_analyser(ood_model_path, "reject")
    plan = analyser.plan(AnalysisRequest(methods={"lime": {"num_samples": 64}}))
    with pytest.raises(OutOfDistribution) as refused:
        analyser.analyse(_png(shape=(96, 96)), plan)
    assert refused.value.check.kind == "content" and refused.value.extra["reason"] == refused.value.check.reason
    assert perturb.images == 0 and seen == [(False, "refused")]


def test_the_flag_policy_answers_with_the_check_except_for_a_dicom_result(
    ood_model_path: Path, held_aside_phantoms: list[Path]
) -> None:
    analyser, _, seen = _policy_analyser(ood_model_path, "flag")
    flagged = analyser.analyse(_png(shape=(96, 96)), analyser.plan(AnalysisRequest()))
    assert not flagged.prediction.input_check.in_distribution and seen == [(False, "flagged")]
    dicom = pydicom_testdata("MR_small.dcm")
    dicom.PixelData = (np.random.default_rng(0).random((64, 64)) * 4000).astype(np.int16).tobytes()
    with pytest.raises(OutOfDistribution):
        analyser.analyse(dicom, analyser.plan(AnalysisRequest(dicom_result=True)))
    accepted = [
        analyser.analyse(Upload(path.read_bytes(), "image/png"), analyser.plan(AnalysisRequest()))
        for path in held_aside_phantoms
    ]
    assert sum(a.prediction.input_check.in_distribution for a in accepted) >= 0.8 * len(accepted)


def test_probabilities_are_calibrated_by_the_artifact_temperature(
    ood_model_path: Path, held_aside_phantoms: list[Path]
) -> None:
    analyser, *_ = _policy_analyser(ood_model_path, "flag")
    model = artifact.load(ood_model_path)
    assert model.feature_detector is not None and model.feature_detector.temperature != 1.0
    image = Upload(held_aside_phantoms[0].read_bytes(), "image/png")
    analysis = analyser.analyse(image, analyser.plan(AnalysisRequest()))
    x = preprocess(analysis.image.pixels, PreprocessSpec.from_manifest(model.manifest))
    with torch.inference_mode():
        expected = torch.softmax(model.module(x) / model.feature_detector.temperature, dim=1)[0]
    got = torch.tensor([analysis.prediction.probabilities[name] for name in model.classes])
    assert torch.allclose(got, expected.float(), atol=1e-5)


def test_the_start_up_estimate_extrapolates_the_probes_along_the_work() -> None:
    assert extrapolate([(50, 0.15), (150, 0.25)], 1000) == pytest.approx(1.1)  # 0.1 s fixed + 1 ms per unit
    assert extrapolate([(4, 0.2), (8, 0.19)], 32) == 0.2  # noise that falls: the larger probe's time, not less
    assert extrapolate([(4, 0.1), (8, 0.1)], 32) == 0.1
    assert extrapolate([(1, 0.01), (1, 0.02)], 16) == pytest.approx(0.32)  # equal work: in proportion


def test_measure_work_runs_heavy_methods_at_their_probes_not_their_defaults(tiny_model_path: Path) -> None:
    """Start-up cost: every heavy method is timed at its two cheap probes (one untimed run first), never at its
    defaults, and the estimates cover every cost class."""
    analyser, _backbone, _predict, perturb = _analyser(tiny_model_path)
    timings = analyser.measure_work()
    assert set(timings) == {"predict", "light", "heavy"} and all(seconds > 0 for seconds in timings.values())
    forward_only_probes = sum(
        explainer_class(m).work(analyser.plan(AnalysisRequest(methods={m: p})).parameters[m], analyser.spec.size)
        for m in method_names()
        if explainer_class(m).runtime == "forward"
        for p in (explainer_class(m).cost_probes[0], *explainer_class(m).cost_probes)
    )
    assert perturb.images <= forward_only_probes + 3 * len(method_names())  # the unperturbed inputs besides
