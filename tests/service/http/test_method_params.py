"""The /explain query parameters come from the methods' declarations, bounds included; clashes are refused."""

from __future__ import annotations

import inspect
from collections.abc import Iterator
from typing import Any, ClassVar

import pytest

from mlcore.explainers import REGISTRY, method_names
from mlcore.explainers.base import Explainer, Parameter
from service.http.method_params import method_enum, method_parameters_dependency, shared_parameters


def test_every_declared_parameter_is_a_query_parameter_with_its_bounds() -> None:
    signature = inspect.signature(method_parameters_dependency())
    for name in method_names():
        for key, spec in REGISTRY[name].parameters.items():
            query = signature.parameters[key].annotation.__metadata__[0]
            bounds = {type(m).__name__: getattr(m, type(m).__name__.lower(), None) for m in query.metadata}
            assert bounds == {"Ge": spec.minimum, "Le": spec.maximum}, key
            assert REGISTRY[name].title in query.description


def test_the_dependency_returns_only_what_was_given() -> None:
    given = method_parameters_dependency()
    assert given(num_samples=100, seed=None) == {"num_samples": 100}


def test_the_method_enum_lists_the_registry() -> None:
    assert [member.value for member in method_enum()] == method_names()


@pytest.fixture()
def clashing() -> Iterator[None]:
    class Clash(Explainer):
        name: ClassVar[str] = "clash"
        title: ClassVar[str] = "Clash"
        summary: ClassVar[str] = "declares LIME's num_samples with other bounds"
        parameters: ClassVar[dict[str, Parameter]] = {"num_samples": Parameter(int, 10, 1, 20, "samples")}

        def attribute(self, *args: Any, **kwargs: Any) -> Any:
            raise NotImplementedError

    yield
    REGISTRY.pop("clash", None)


def test_a_name_two_methods_declare_differently_is_refused(clashing: None) -> None:
    with pytest.raises(TypeError, match="num_samples"):
        shared_parameters()
