"""The one analysis pipeline: every entry point calls :meth:`Analyser.analyse` and only translates.

One straight line of steps, each a function of its own module::

    source (upload bytes | DICOM dataset | a preprocessed tensor) → decode → preprocess → ONE prediction
        (calibrated probabilities, penultimate features) → the input check (refused: stop here) → each asked
        method's map (on the runtime its declaration needs) → maps at the original size

An input the check finds out of distribution raises :class:`~mlcore.errors.OutOfDistribution` under the
``reject`` policy, and always when the answer would be DICOM (no report or capture is made of it); under
``flag`` the analysis goes on and carries the check.

The HTTP routes (``/predict``, ``/explain``), the DICOMweb bridge and any later entry point build an
:class:`AnalysisRequest`, call :meth:`Analyser.plan` (parameters checked before any work) and
:meth:`Analyser.analyse` on a worker thread, and turn the :class:`Analysis` into their answer
(:mod:`service.analysis.results`). Nothing here knows about requests, responses or status codes.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np
import pydicom
import torch

from mlcore.artifact import LoadedModel
from mlcore.errors import ImageError, OutOfDistribution, ParameterError
from mlcore.evidence import EvidenceCheck, evidence_check
from mlcore.explainers import explainer_class, method_names
from mlcore.explainers.base import normalise_map
from mlcore.input_check.check import InputCheck, check_input, content_check
from mlcore.input_check.detector import probabilities
from mlcore.preprocessing import PreprocessSpec, map_to_original, normalise, preprocess
from mlcore.runtimes import Runtimes
from service.analysis.decoding import decode
from service.analysis.explanation_cache import ExplanationCache, cache_key
from service.dicom.capture import dicom_source
from service.dicom.reading import body_part_reason, decode_dataset
from service.image import DecodedImage, DecodeOptions, Upload
from service.schemas import ModelRef

OodPolicy = Literal["reject", "flag"]
TENSOR = "application/x-brainxai-tensor"


@dataclass(frozen=True)
class Preprocessed:
    """A model input a client preprocessed itself (1×1×S×S, the manifest's normalisation): decoding and
    preprocessing are skipped; the input check sees the image the tensor holds."""

    tensor: torch.Tensor


Source = Upload | pydicom.Dataset | Preprocessed


@dataclass(frozen=True)
class AnalysisRequest:
    """What to do with one image: the methods (each with its given parameters), the target, the frame."""

    methods: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)
    target: str | None = None
    frame: int | None = None
    dicom_result: bool = False  # the answer will be DICOM: refuse a non-DICOM input before the model work


@dataclass(frozen=True)
class Plan:
    """A checked request: each method's resolved parameters, in the order asked."""

    request: AnalysisRequest
    parameters: dict[str, dict[str, Any]]


@dataclass(frozen=True)
class Prediction:
    """Calibrated class probabilities for one image, in the model's class order, its input check and the time
    spent."""

    probabilities: dict[str, float]
    label: str
    inference_ms: float
    input_check: InputCheck


@dataclass(frozen=True)
class Explanation:
    """A relevance map at the image's original size (H×W in [0, 1]) and what produced it."""

    heatmap: np.ndarray
    method: str
    target: str
    parameters: dict[str, Any]
    explain_ms: float
    cached: bool = False
    evidence: EvidenceCheck | None = None  # does the answer depend on the region the map marks? (mlcore.evidence)


@dataclass(frozen=True)
class Analysis:
    """The decoded image, its one prediction and the asked explanations."""

    image: DecodedImage
    prediction: Prediction
    explanations: tuple[Explanation, ...]
    decode_ms: float

    @property
    def explain_ms(self) -> float:
        """Time spent on the maps (0 for cache hits)."""
        return sum(explanation.explain_ms for explanation in self.explanations)


def extrapolate(points: list[tuple[float, float]], work: float) -> float:
    """Seconds at ``work`` on the line through two (work, seconds) points measured at less work; never less than the
    larger point's seconds (a noisy, falling line is no reason to expect more work to be quicker). Two points of the
    same work (a small image, where both probes clip to one patch) give a line through zero."""
    (work_1, seconds_1), (work_2, seconds_2) = points
    if work_2 <= work_1:
        return max(seconds_1, seconds_2) * max(1.0, work / work_2)
    slope = max(0.0, (seconds_2 - seconds_1) / (work_2 - work_1))
    return max(seconds_2, seconds_1 + slope * (work - work_1))


class Analyser:
    """The loaded artifact, its runtimes and preprocessing: analyses of images, one prediction each."""

    def __init__(
        self,
        model: LoadedModel,
        runtimes: Runtimes,
        *,
        decode_limits: DecodeOptions,
        cache_size: int = 0,
        caps: Mapping[str, Mapping[str, float]] | None = None,
        ood_policy: OodPolicy = "reject",
        on_check: Callable[[InputCheck, str], None] | None = None,
        evidence: bool = True,
        on_evidence: Callable[[EvidenceCheck], None] | None = None,
        trust_body_part: bool = True,
    ) -> None:
        """``caps``: this server's upper bounds of method parameters (method → parameter → maximum),
        below the declared ones; ``cache_size``: explanations kept for identical requests; ``ood_policy``: what
        an out-of-distribution input gets; ``on_check``: told each input check and its outcome (accepted,
        flagged or refused), for metrics; ``evidence``: run the evidence check on every map (``on_evidence`` is told
        each one); ``trust_body_part``: DICOM tags naming another body part than the head refuse an input (False for
        sites that misuse them)."""
        self.model = model
        self.runtimes = runtimes
        self.spec = PreprocessSpec.from_manifest(model.manifest)
        self.classes = model.classes
        self._decode_limits = decode_limits
        self._cache: ExplanationCache[tuple[Explanation, Prediction]] = ExplanationCache(cache_size)
        self._caps = caps or {}
        self.ood_policy = ood_policy
        self._on_check = on_check
        self.evidence = evidence
        self._on_evidence = on_evidence
        self.trust_body_part = trust_body_part

    def model_ref(self) -> ModelRef:
        """Name, version and sha256 of the served model."""
        manifest = self.model.manifest
        return ModelRef(name=manifest["name"], version=manifest["version"], sha256=self.model.sha256)

    def plan(self, request: AnalysisRequest) -> Plan:
        """Check every method and parameter (and this server's caps) before any work; :class:`ParameterError`."""
        parameters: dict[str, dict[str, Any]] = {}
        for method, given in request.methods.items():
            resolved = explainer_class(method)().resolve(given)
            for key, cap in self._caps.get(method, {}).items():
                if key in resolved and resolved[key] > cap:
                    raise ParameterError(f"{method}: {key} must be at most {cap:g} on this server")
            parameters[method] = resolved
        if request.target is not None:
            self._target_index(request.target, None)
        return Plan(request, parameters)

    def decode(self, source: Source, plan: Plan) -> DecodedImage:
        """The source's image, decoded with this server's limits; a DICOM result needs a DICOM input."""
        options = dataclasses.replace(self._decode_limits, frame=plan.request.frame)
        if isinstance(source, pydicom.Dataset):
            image = decode_dataset(source, options)
        elif isinstance(source, Preprocessed):
            image = self._tensor_image(source.tensor)
        else:
            image = decode(source.data, source.content_type, options)
        if plan.request.dicom_result:
            dicom_source(image)  # refuse before the model work, not after
        return image

    def analyse(self, source: Source, plan: Plan, *, deadline: float | None = None) -> Analysis:
        """Decode, predict once, and explain each planned method; maps come at the original size."""
        started = time.perf_counter()
        image = self.decode(source, plan)
        decode_ms = (time.perf_counter() - started) * 1000
        x = source.tensor if isinstance(source, Preprocessed) else preprocess(image.pixels, self.spec)
        digest = cache_key(image.pixels) if plan.parameters else ""  # hashing the pixels costs ~0.5 ms: only to explain
        keys = {
            method: (digest, method, str(plan.request.target), params) for method, params in plan.parameters.items()
        }
        hits = {method: self._cache.get(key) for method, key in keys.items()}
        found = [hit for hit in hits.values() if hit is not None]
        if found and len(found) == len(hits):
            prediction, features = found[0][1], None
        else:
            prediction, features = self._predict(image, x, plan)
        self._enforce(prediction.input_check, plan)
        target = self._target_index(plan.request.target, prediction)
        explanations = []
        for method, params in plan.parameters.items():
            hit = hits[method]
            if hit is not None:
                explanations.append(dataclasses.replace(hit[0], explain_ms=0.0, cached=True))
                continue
            explanation = self._explain(
                image, x, method, params, target=target, deadline=deadline, features=features, prediction=prediction
            )
            self._cache.put(keys[method], (explanation, prediction))
            explanations.append(explanation)
        return Analysis(image, prediction, tuple(explanations), decode_ms)

    def _tensor_image(self, tensor: torch.Tensor) -> DecodedImage:
        """The image a preprocessed input holds (undoing the normalisation); 422 for a tensor of the wrong shape."""
        size = self.spec.size
        if tuple(tensor.shape) != (1, 1, size, size) or not bool(torch.isfinite(tensor).all()):
            shown = list(tensor.shape)
            raise ImageError(f"a preprocessed input must be finite FP32 of shape [1, 1, {size}, {size}]; got {shown}")
        pixels = (tensor[0, 0] * self.spec.std + self.spec.mean).clamp(0.0, 1.0).numpy().astype(np.float32)
        return DecodedImage(pixels, TENSOR, source={"format": "tensor", "width": size, "height": size})

    def warm_up(self) -> None:
        """One analysis of a blank image, so that the first request does not pay for lazy set-up."""
        blank = DecodedImage(np.zeros((self.spec.size, self.spec.size), np.float32), "image/png")
        self._predict(blank, preprocess(blank.pixels, self.spec), self.plan(AnalysisRequest()))

    def measure_work(self) -> dict[str, float]:
        """Seconds of one piece of each kind of work on a brain-like image: a prediction, and for each cost class
        (``light``, ``heavy``) the slowest of its declared methods at their default parameters — what the work queues
        take as their service times before the first request, so that a cold burst is refused at once instead of
        waiting out its budget. The slowest, not the mean: a burst of the slowest method must not be under-estimated
        (the running mean corrects the estimate as soon as work finishes). A method that declares cost probes is
        timed at those two cheap settings (after one untimed run) and extrapolated along its work, not run at its
        defaults: the start-up takes ~1 s instead of every heavy method's full run."""
        size = self.spec.size
        yy, xx = np.mgrid[0:size, 0:size] / size
        pixels = (np.hypot(xx - 0.5, yy - 0.5) < 0.4) * (0.4 + 0.1 * np.sin(xx * 40) * np.cos(yy * 30))
        image = DecodedImage(pixels.astype(np.float32), "image/png")
        x = preprocess(image.pixels, self.spec)
        started = time.perf_counter()
        self._predict(image, x, self.plan(AnalysisRequest()))
        timings = {"predict": time.perf_counter() - started}

        def resolved(method: str, given: Mapping[str, Any]) -> dict[str, Any]:
            return self.plan(AnalysisRequest(methods={method: given})).parameters[method]

        def seconds_of(method: str, params: dict[str, Any]) -> float:
            started = time.perf_counter()
            self._explain(image, x, method, params, target=0, deadline=None, features=None, observed=False)
            return time.perf_counter() - started

        for method in method_names():
            declared = explainer_class(method)
            defaults = resolved(method, {})
            if declared.cost_probes:
                probes = [resolved(method, given) for given in declared.cost_probes]
                seconds_of(method, probes[0])  # imports and first-run compilation: not the method's cost
                points = [(declared.work(params, size), seconds_of(method, params)) for params in probes]
                seconds = extrapolate(points, declared.work(defaults, size))
            else:
                seconds = seconds_of(method, defaults)
            timings[declared.cost] = max(timings.get(declared.cost, 0.0), seconds)
        return timings

    def _predict(self, image: DecodedImage, x: torch.Tensor, plan: Plan) -> tuple[Prediction, torch.Tensor | None]:
        """The one prediction and its input check; when a method weighs the feature maps (Grad-CAM), the same run's
        maps, which it reuses."""
        started = time.perf_counter()
        wants_maps = any(explainer_class(method).runtime == "feature_maps" for method in plan.parameters)
        with torch.no_grad():  # not inference mode: Grad-CAM differentiates the head at these maps
            logits, pooled, feature_maps = self.runtimes.forward_outputs(x, maps=wants_maps)
        probs = probabilities(logits, self.model.feature_detector)[0].tolist()
        by_class = {name: float(p) for name, p in zip(self.classes, probs, strict=True)}
        label = max(by_class, key=by_class.__getitem__)
        check = check_input(image.pixels, image.colour, self._content(x, pooled), tags_reason=self.tags_reason(image))
        return Prediction(by_class, label, (time.perf_counter() - started) * 1000, check), feature_maps

    def tags_reason(self, image: DecodedImage) -> str | None:
        """Why the image's DICOM tags say it is not the head (:func:`service.dicom.reading.body_part_reason`), unless
        this server does not trust them; None for other formats."""
        if image.dicom is None or not self.trust_body_part:
            return None
        return body_part_reason(image.dicom)

    def _content(self, x: torch.Tensor, pooled: torch.Tensor) -> tuple[float, float] | None:
        """The content check's (score, threshold): the input gate's (on its fastest runtime), or the detector's."""
        gate = self.runtimes.gate or self.model.gate
        return content_check(gate, self.model.feature_detector, x, pooled[0].numpy())

    def _enforce(self, check: InputCheck, plan: Plan) -> None:
        """Refuse an out-of-distribution input under the reject policy, or when the answer would be DICOM."""
        refused = not check.in_distribution and (self.ood_policy == "reject" or plan.request.dicom_result)
        if self._on_check is not None:
            self._on_check(check, "accepted" if check.in_distribution else "refused" if refused else "flagged")
        if refused:
            raise OutOfDistribution(f"Not answered. {check.summary}", check)

    def _explain(
        self,
        image: DecodedImage,
        x: torch.Tensor,
        method: str,
        params: dict[str, Any],
        *,
        target: int,
        deadline: float | None,
        features: torch.Tensor | None,
        prediction: Prediction | None = None,
        observed: bool = True,
    ) -> Explanation:
        """One method's map of class ``target``, on the runtime its declaration needs, at the original size
        (``observed``: its evidence check is told to the observer — not the warm-up's)."""
        started = time.perf_counter()
        explainer = explainer_class(method)()
        forward = self.runtimes.for_method(explainer)
        square = explainer.explain(forward, x, target, params, deadline=deadline, features=features)
        # Resampling can lower a sharp peak: rescale so that the most relevant pixel is 1 again.
        heatmap = normalise_map(map_to_original(square, image.height, image.width))
        evidence = self._evidence(x, square, target, prediction, observed=observed) if self.evidence else None
        elapsed = (time.perf_counter() - started) * 1000
        return Explanation(heatmap, method, self.classes[target], params, elapsed, evidence=evidence)

    def _evidence(
        self, x: torch.Tensor, square: np.ndarray, target: int, prediction: Prediction | None, *, observed: bool
    ) -> EvidenceCheck | None:
        """The evidence check of one map (on the model's grid): the region removed and the control in one run of the
        predict runtime with the artifact's temperature, against the answer's own probabilities (int8 moved them by
        up to 0.05 and turned verdicts)."""
        pixels = (x[0, 0] * self.spec.std + self.spec.mean).clamp(0.0, 1.0).numpy()

        def calibrated(batch: torch.Tensor) -> torch.Tensor:
            return probabilities(self.runtimes.predict(normalise(batch, self.spec)), self.model.feature_detector)

        original = None if prediction is None else np.array([prediction.probabilities[name] for name in self.classes])
        check = evidence_check(
            calibrated, pixels, normalise_map(square), answered=target, classes=self.classes, original=original
        )
        if check is not None and observed and self._on_evidence is not None:
            self._on_evidence(check)
        return check

    def _target_index(self, target: str | None, prediction: Prediction | None) -> int:
        """The class to explain: a class name, its index as text, or None for the predicted class."""
        if target is None and prediction is not None:
            return self.classes.index(prediction.label)
        if target in self.classes:
            return self.classes.index(target)
        if target is not None and target.isdigit() and int(target) < len(self.classes):
            return int(target)
        raise ParameterError(f"unknown target {target!r}; choose one of {self.classes}")
