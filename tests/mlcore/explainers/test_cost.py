"""Each method's declared work is what it costs: the model evaluations it makes (the service's start-up estimates)."""

from __future__ import annotations

import pytest
import torch

from mlcore.explainers import explainer_class, get_explainer, method_names
from tests.mlcore.explainers.conftest import SIZE, region_image


class CountingForward:
    """A forward-only model that counts the images it is given."""

    def __init__(self, model: torch.jit.ScriptModule) -> None:
        self.model = model
        self.images = 0

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        self.images += len(x)
        return self.model(x)


@pytest.mark.parametrize("method", [m for m in method_names() if explainer_class(m).runtime == "forward"])
def test_the_declared_work_counts_the_model_evaluations(method: str, region_model: torch.jit.ScriptModule) -> None:
    """Work is proportional to the images the model evaluates, at every probe and at the defaults (one extra image at
    most: the unperturbed input)."""
    declared = explainer_class(method)
    assert len(declared.cost_probes) == 2  # a heavy forward-only method is estimated from two probes
    explainer = get_explainer(method)
    for given in (*declared.cost_probes, {}):
        params = explainer.resolve(given)
        forward = CountingForward(region_model)
        explainer.explain(forward, region_image(), 0, params)
        assert forward.images - declared.work(params, SIZE) in (0, 1), (method, given)


def test_the_probes_differ_in_work_and_cost_less_than_the_defaults() -> None:
    for method in method_names():
        declared = explainer_class(method)
        if not declared.cost_probes:
            assert declared.cost == "light", method  # a heavy method without probes would be run in full at start
            continue
        explainer = get_explainer(method)
        defaults, probes = explainer.resolve({}), [explainer.resolve(given) for given in declared.cost_probes]
        works = [declared.work(params, 224) for params in probes]
        assert works[0] < works[1] < declared.work(defaults, 224), method
