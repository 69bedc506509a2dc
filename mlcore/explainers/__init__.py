"""Explanation methods behind one interface, by name."""

from __future__ import annotations

from mlcore.explainers.base import DeadlineExceeded, Explainer, ExplainerError, Parameter
from mlcore.explainers.gradcam import GradCAM
from mlcore.explainers.integrated_gradients import IntegratedGradients
from mlcore.explainers.lime import Lime
from mlcore.explainers.occlusion import Occlusion

EXPLAINERS: dict[str, type[Explainer]] = {cls.name: cls for cls in (GradCAM, Lime, IntegratedGradients, Occlusion)}


def get_explainer(name: str) -> Explainer:
    """A new explainer of method ``name``; :class:`ExplainerError` for an unknown one."""
    if name not in EXPLAINERS:
        raise ExplainerError(f"unknown explanation method {name!r}; choose from {sorted(EXPLAINERS)}")
    return EXPLAINERS[name]()


__all__ = ["EXPLAINERS", "DeadlineExceeded", "Explainer", "ExplainerError", "Parameter", "get_explainer"]
