"""The explainer interface: one override point (:meth:`Explainer.attribute`) over a shared base.

An explainer gets the loaded TorchScript module, one normalised input (1, 1, S, S), the target
class and its parameters; it returns an S×S relevance map. :meth:`Explainer.explain` turns that
into the contract every caller relies on: float32, S×S, in [0, 1], 0 = no relevance. Mapping
to the original image size is :func:`mlcore.preprocessing.map_to_original`'s job.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, ClassVar, Protocol

import numpy as np
import torch

from mlcore.errors import BrainxaiError


class ExplainerError(BrainxaiError):
    """Bad explainer parameters, or an explanation that could not be computed."""


class DeadlineExceeded(BrainxaiError):
    """An explanation ran past its deadline and was stopped."""


@dataclass(frozen=True)
class Parameter:
    """One tunable parameter of a method: its type, default and inclusive bounds."""

    kind: type
    default: Any
    minimum: float | None = None
    maximum: float | None = None
    description: str = ""


class Forward(Protocol):
    """What a method that only evaluates the model is given: ``logits = forward(x)``."""

    def __call__(self, x: torch.Tensor) -> torch.Tensor: ...


class Explainer(ABC):
    """Base of the explanation methods; subclasses set ``name``, ``parameters`` and ``attribute``.

    ``needs_gradients``: such methods are given the TorchScript artifact itself (with ``features``
    and ``classify``); the others may be given any faster :class:`Forward` of the same model.
    """

    name: ClassVar[str]
    parameters: ClassVar[Mapping[str, Parameter]] = {}
    needs_gradients: ClassVar[bool] = True

    def resolve(self, given: Mapping[str, Any]) -> dict[str, Any]:
        """Defaults filled in, types converted and bounds checked; :class:`ExplainerError` otherwise."""
        unknown = set(given) - set(self.parameters)
        if unknown:
            accepted = sorted(self.parameters) or "none"
            raise ExplainerError(f"{self.name} takes no parameter(s) {sorted(unknown)}; it takes {accepted}")
        resolved: dict[str, Any] = {}
        for key, spec in self.parameters.items():
            raw = given.get(key, spec.default)
            try:
                value = spec.kind(raw)
            except (TypeError, ValueError) as exc:
                raise ExplainerError(f"{self.name}: {key} must be a {spec.kind.__name__}, got {raw!r}") from exc
            too_low = spec.minimum is not None and value < spec.minimum
            too_high = spec.maximum is not None and value > spec.maximum
            if too_low or too_high:
                bounds = f"between {spec.minimum} and {spec.maximum}"
                raise ExplainerError(f"{self.name}: {key} must be {bounds}, got {value}")
            resolved[key] = value
        return resolved

    def explain(
        self,
        model: Forward,
        x: torch.Tensor,
        target: int,
        params: Mapping[str, Any] | None = None,
        deadline: float | None = None,
    ) -> np.ndarray:
        """An S×S float32 map in [0, 1] of how much each pixel supports class ``target``.

        ``deadline`` is a :func:`time.monotonic` instant; methods that evaluate the model many
        times stop with :class:`DeadlineExceeded` once it has passed.
        """
        relevance = self.attribute(model, x, target, self.resolve(params or {}), deadline)
        if relevance.shape != tuple(x.shape[-2:]):
            raise ExplainerError(f"{self.name} returned shape {relevance.shape}, expected {tuple(x.shape[-2:])}")
        return normalise_map(relevance)

    @abstractmethod
    def attribute(
        self,
        model: Forward,
        x: torch.Tensor,
        target: int,
        params: dict[str, Any],
        deadline: float | None,
    ) -> np.ndarray:
        """The method itself: a raw S×S relevance map (larger = more support for ``target``)."""


def normalise_map(relevance: np.ndarray) -> np.ndarray:
    """Keep the positive evidence and scale it to [0, 1]; an all-non-positive map becomes zeros."""
    positive = np.nan_to_num(np.maximum(relevance.astype(np.float32), 0.0))
    peak = float(positive.max(initial=0.0))
    return positive / peak if peak > 0 else np.zeros_like(positive)
