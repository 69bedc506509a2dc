"""Explanation methods by name: every module of this package that declares an :class:`Explainer`.

Importing this package imports each of its modules; each method's class registers itself when it is
defined (:data:`~mlcore.explainers.base.REGISTRY`). Adding a method is adding one file here.
"""

from __future__ import annotations

import importlib
import pkgutil
from typing import Any

from mlcore.errors import ParameterError
from mlcore.explainers.base import REGISTRY, Backbone, Explainer, Forward, Parameter

for _module in pkgutil.iter_modules(__path__):
    if _module.name != "base":
        importlib.import_module(f"{__name__}.{_module.name}")


# The method /explain and the PACS bridge use when none is named: the cheapest one that points at the evidence.
DEFAULT_METHOD = "gradcam"


def method_names() -> list[str]:
    """The registered methods' names, in the order the API and viewer list them (light before heavy)."""
    return sorted(REGISTRY, key=lambda name: (REGISTRY[name].cost != "light", name))


def explainer_class(name: str) -> type[Explainer]:
    """The class of method ``name``; :class:`ParameterError` for an unknown one."""
    if name not in REGISTRY:
        raise ParameterError(f"unknown explanation method {name!r}; choose from {method_names()}")
    return REGISTRY[name]


def get_explainer(name: str) -> Explainer:
    """A new explainer of method ``name``; :class:`ParameterError` for an unknown one."""
    return explainer_class(name)()


def declarations() -> list[dict[str, Any]]:
    """Every method's declaration (name, title, summary, runtime, cost, parameters), as JSON-ready values."""
    return [REGISTRY[name].declaration() for name in method_names()]


__all__ = [
    "DEFAULT_METHOD",
    "REGISTRY",
    "Backbone",
    "Explainer",
    "Forward",
    "Parameter",
    "declarations",
    "explainer_class",
    "get_explainer",
    "method_names",
]
