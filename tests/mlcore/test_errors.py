"""The error tree: one module, drawn in its docstring; every class derives from BrainxaiError and carries
a message, an optional Retry-After and extension members."""

from __future__ import annotations

import inspect

from mlcore import errors


def _classes() -> dict[str, type[errors.BrainxaiError]]:
    return {
        name: cls
        for name, cls in inspect.getmembers(errors, inspect.isclass)
        if issubclass(cls, errors.BrainxaiError) and cls.__module__ == errors.__name__
    }


def test_the_docstring_draws_every_class_under_its_parent() -> None:
    drawing = [line for line in (errors.__doc__ or "").splitlines() if "──" in line or line.strip() == "BrainxaiError"]
    depth_of = {}
    for line in drawing:
        name = line.split("──")[-1].split()[0] if "──" in line else "BrainxaiError"
        depth_of[name] = line.index(name)
    assert set(depth_of) == set(_classes())
    for name, cls in _classes().items():
        if cls is not errors.BrainxaiError:
            parent = cls.__mro__[1].__name__
            assert depth_of[parent] < depth_of[name], name  # drawn below its parent


def test_errors_carry_message_retry_after_and_extra() -> None:
    error = errors.Busy("all slots taken", retry_after_s=2.5)
    assert error.message == "all slots taken" and error.retry_after_s == 2.5 and error.extra == {}
    error.append("; see results")
    assert str(error) == "all slots taken; see results"
