"""The registry of explanation methods: every module of the package registers its method, names are unique,
and a new method is registered by defining it (what adding one file to mlcore/explainers/ does)."""

from __future__ import annotations

import pkgutil

import numpy as np
import pytest
import torch

import mlcore.explainers as explainers
from mlcore.errors import ParameterError
from mlcore.explainers import REGISTRY, declarations, explainer_class, get_explainer, method_names
from mlcore.explainers.base import Explainer


def test_every_module_of_the_package_declares_one_registered_method() -> None:
    modules = {module.name for module in pkgutil.iter_modules(explainers.__path__)} - {"base"}
    assert {cls.__module__.rsplit(".", 1)[1] for cls in REGISTRY.values()} == modules
    for declaration in declarations():
        assert declaration["runtime"] in ("gradients", "feature_maps", "forward") and declaration["cost"] in (
            "light",
            "heavy",
        )
        assert declaration["title"] and declaration["summary"]
        for spec in declaration["parameters"].values():
            assert spec["minimum"] <= spec["default"] <= spec["maximum"] and spec["description"]


def test_light_methods_are_listed_first() -> None:
    costs = [explainer_class(name).cost for name in method_names()]
    assert costs == sorted(costs, key=lambda cost: cost != "light")


def test_a_defined_method_is_registered_and_explains(toy_registered: type[Explainer]) -> None:
    assert "toy" in method_names() and explainer_class("toy") is toy_registered
    x = torch.linspace(0, 1, 16 * 16).reshape(1, 1, 16, 16)
    heatmap = get_explainer("toy").explain(lambda batch: batch, x, 0, {"strength": 2})
    np.testing.assert_allclose(heatmap, (x[0, 0].numpy() ** 2), atol=1e-6)
    with pytest.raises(ParameterError, match="strength must be between"):
        get_explainer("toy").resolve({"strength": 5})


def test_a_second_method_of_the_same_name_is_refused() -> None:
    with pytest.raises(TypeError, match="declared twice"):
        type("Impostor", (Explainer,), {"name": "gradcam", "title": "x", "summary": "y", "attribute": None})


def test_a_method_must_declare_its_title_and_summary() -> None:
    with pytest.raises(TypeError, match="must declare title"):
        type("Untitled", (Explainer,), {"name": "untitled", "attribute": None})
    assert "untitled" not in REGISTRY


def test_unknown_methods_are_parameter_errors() -> None:
    with pytest.raises(ParameterError, match="unknown explanation method 'shap'"):
        get_explainer("shap")
