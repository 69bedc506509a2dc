"""The explainer interface: a declaration and one override point (:meth:`Explainer.attribute`).

A method is one class in one file of this package. Its class attributes *declare* everything the
rest of the project needs to know about it, and nothing else lists methods:

- ``name``, ``title``, ``summary``: how the API, the viewer and the CLI name and describe it;
- ``parameters``: each tunable value's type, inclusive bounds, default and description (the API's
  query parameters, their OpenAPI schema and the CLI's ``--param`` read these);
- ``runtime``: ``"gradients"`` — it differentiates the whole model, so it is given the TorchScript artifact
  (with ``features`` and ``classify``); ``"feature_maps"`` — it differentiates only the head at the last feature
  maps, so it is given the artifact for ``classify`` and the feature maps of whichever runtime predicted (ONNX
  Runtime's: no second backbone pass); ``"forward"`` — it only evaluates the model, so it may be given any faster
  forward of it (ONNX Runtime, int8);
- ``cost``: ``"light"`` (about one forward and backward) or ``"heavy"`` (hundreds of forwards); the
  service queues the two apart.

Defining a subclass with a ``name`` registers it (:data:`REGISTRY`). An explainer gets the model, one
normalised input (1, 1, S, S), the target class and its resolved parameters; it returns an S×S relevance
map. :meth:`Explainer.explain` turns that into the contract every caller relies on: float32, S×S, in
[0, 1], 0 = no relevance. Mapping to the original image size is :func:`mlcore.preprocessing.map_to_original`'s.
"""

from __future__ import annotations

import time
from abc import ABC, abstractmethod
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, ClassVar, Literal, Protocol, runtime_checkable

import numpy as np
import torch

from mlcore.errors import DeadlineExceeded, ParameterError

Runtime = Literal["gradients", "feature_maps", "forward"]
Cost = Literal["light", "heavy"]


@dataclass(frozen=True)
class Parameter:
    """One tunable parameter of a method: its type, default, inclusive bounds and a description."""

    kind: type
    default: Any
    minimum: float | None = None
    maximum: float | None = None
    description: str = ""

    def as_dict(self) -> dict[str, Any]:
        """The declaration as JSON-ready values (for the API and the viewer)."""
        kind = {int: "integer", float: "number", bool: "boolean"}.get(self.kind, "string")
        return {
            "type": kind,
            "default": self.default,
            "minimum": self.minimum,
            "maximum": self.maximum,
            "description": self.description,
        }


class Forward(Protocol):
    """What a method that only evaluates the model is given: ``logits = forward(x)``."""

    def __call__(self, x: torch.Tensor) -> torch.Tensor: ...


@runtime_checkable
class Backbone(Protocol):
    """What a ``"gradients"`` or ``"feature_maps"`` method is given: the artifact, whose forward is
    ``classify(features(x))``."""

    def __call__(self, x: torch.Tensor) -> torch.Tensor: ...

    def features(self, x: torch.Tensor) -> torch.Tensor: ...

    def classify(self, features: torch.Tensor) -> torch.Tensor: ...


REGISTRY: dict[str, type[Explainer]] = {}


class Explainer(ABC):
    """Base of the explanation methods; a subclass declares itself and implements :meth:`attribute`."""

    name: ClassVar[str]
    title: ClassVar[str]
    summary: ClassVar[str]
    parameters: ClassVar[Mapping[str, Parameter]] = {}
    runtime: ClassVar[Runtime] = "gradients"
    cost: ClassVar[Cost] = "light"
    # Two cheap parameter sets whose timings, set against :meth:`work`, extrapolate the time at any parameters (the
    # service's start-up estimate of a heavy method without running it at its defaults); none: timed as asked.
    cost_probes: ClassVar[tuple[Mapping[str, Any], ...]] = ()

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        name = cls.__dict__.get("name")
        if name is None:
            return  # an intermediate base, not a method
        if name in REGISTRY and REGISTRY[name].__qualname__ != cls.__qualname__:
            raise TypeError(f"explanation method {name!r} is declared twice ({REGISTRY[name]} and {cls})")
        for attribute in ("title", "summary"):
            if not isinstance(getattr(cls, attribute, None), str):
                raise TypeError(f"explanation method {name!r} must declare {attribute}")
        REGISTRY[name] = cls

    @classmethod
    def declaration(cls) -> dict[str, Any]:
        """Everything the method declares, as JSON-ready values."""
        return {
            "name": cls.name,
            "title": cls.title,
            "summary": cls.summary,
            "runtime": cls.runtime,
            "cost": cls.cost,
            "parameters": {key: spec.as_dict() for key, spec in cls.parameters.items()},
        }

    @classmethod
    def work(cls, params: Mapping[str, Any], size: int) -> float:
        """The work ``params`` ask for on a size×size input, in a unit the method's time grows linearly with (model
        evaluations); declared by a method with :attr:`cost_probes`."""
        raise NotImplementedError(f"{cls.name} declares no work measure")

    def resolve(self, given: Mapping[str, Any]) -> dict[str, Any]:
        """Defaults filled in, types converted and bounds checked; :class:`ParameterError` otherwise."""
        unknown = set(given) - set(self.parameters)
        if unknown:
            accepted = sorted(self.parameters) or "none"
            raise ParameterError(f"{self.name} takes no parameter(s) {sorted(unknown)}; it takes {accepted}")
        resolved: dict[str, Any] = {}
        for key, spec in self.parameters.items():
            raw = given.get(key, spec.default)
            try:
                value = spec.kind(raw)
            except (TypeError, ValueError) as exc:
                raise ParameterError(f"{self.name}: {key} must be a {spec.kind.__name__}, got {raw!r}") from exc
            too_low = spec.minimum is not None and value < spec.minimum
            too_high = spec.maximum is not None and value > spec.maximum
            if too_low or too_high:
                bounds = f"between {spec.minimum} and {spec.maximum}"
                raise ParameterError(f"{self.name}: {key} must be {bounds}, got {value}")
            resolved[key] = value
        return resolved

    def explain(
        self,
        model: Forward,
        x: torch.Tensor,
        target: int,
        params: Mapping[str, Any] | None = None,
        *,
        deadline: float | None = None,
        features: torch.Tensor | None = None,
    ) -> np.ndarray:
        """An S×S float32 map in [0, 1] of how much each pixel supports class ``target``.

        ``deadline`` is a :func:`time.monotonic` instant; methods stop with :class:`DeadlineExceeded`
        once it has passed (checked between batches of model work). ``features``: ``model.features(x)``
        when the caller already ran the backbone (methods that can use it skip that pass).
        """
        resolved = self.resolve(params or {})
        check_deadline(deadline, self.name)
        relevance = self.attribute(model, x, target, resolved, deadline=deadline, features=features)
        if relevance.shape != tuple(x.shape[-2:]):
            raise ParameterError(f"{self.name} returned shape {relevance.shape}, expected {tuple(x.shape[-2:])}")
        return normalise_map(relevance)

    @abstractmethod
    def attribute(
        self,
        model: Forward,
        x: torch.Tensor,
        target: int,
        params: dict[str, Any],
        *,
        deadline: float | None,
        features: torch.Tensor | None,
    ) -> np.ndarray:
        """The method itself: a raw S×S relevance map (larger = more support for ``target``)."""


def check_deadline(deadline: float | None, what: str) -> None:
    """Raise :class:`DeadlineExceeded` when the :func:`time.monotonic` ``deadline`` has passed."""
    if deadline is not None and time.monotonic() > deadline:
        raise DeadlineExceeded(f"{what} ran past its deadline and was stopped")


def softmax(logits: np.ndarray) -> np.ndarray:
    """Row-wise softmax in NumPy, for the perturbation methods' many small batches: torch's would wake its OpenMP
    threads, whose spinning after each call takes the cores from the next forward (measured with LIME on 2 cores:
    0.4 s more per 1,000 samples)."""
    exponentials = np.exp(logits - logits.max(axis=1, keepdims=True))
    return exponentials / exponentials.sum(axis=1, keepdims=True)


def normalise_map(relevance: np.ndarray) -> np.ndarray:
    """Keep the positive evidence and scale it to [0, 1]; an all-non-positive map becomes zeros."""
    positive = np.nan_to_num(np.maximum(relevance.astype(np.float32), 0.0))
    peak = float(positive.max(initial=0.0))
    return positive / peak if peak > 0 else np.zeros_like(positive)
