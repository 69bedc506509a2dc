"""The error tree: one module, drawn in its docstring; every class derives from BrainxaiError and carries
a message, an optional Retry-After and extension members."""

from __future__ import annotations

import inspect
from types import ModuleType

from mlcore import errors


def drawn_tree_problems(module: ModuleType, roots: set[str]) -> list[str]:
    """What is wrong with a module's drawing of its error classes (its docstring's tree): classes missing from it,
    or drawn that it does not define, and classes not drawn below their parent. ``roots``: drawn classes another
    module defines (the parents of the drawn ones)."""
    drawing = [
        line
        for line in (module.__doc__ or "").splitlines()
        if "──" in line or line.split()[:1] in ([root] for root in roots)
    ]
    depth_of = {}
    for line in drawing:
        name = line.split("──")[-1].split()[0] if "──" in line else line.split()[0]
        depth_of[name] = line.index(name)
    defined = {
        name: cls
        for name, cls in inspect.getmembers(module, inspect.isclass)
        if issubclass(cls, errors.BrainxaiError) and cls.__module__ == module.__name__
    }
    problems = [f"not drawn: {name}" for name in set(defined) - set(depth_of)]
    problems += [f"drawn, not defined: {name}" for name in set(depth_of) - set(defined) - roots]
    for name, cls in defined.items():
        parent = cls.__mro__[1].__name__
        if cls is not errors.BrainxaiError and not depth_of.get(parent, 99) < depth_of.get(name, -1):
            problems.append(f"not below its parent: {name}")
    return problems


def test_the_docstring_draws_every_class_under_its_parent() -> None:
    assert drawn_tree_problems(errors, {"BrainxaiError"}) == []


def test_errors_carry_message_retry_after_and_extra() -> None:
    error = errors.DeadlineExceeded("all slots taken", retry_after_s=2.5)
    assert error.message == "all slots taken" and error.retry_after_s == 2.5 and error.extra == {}
    error.append("; see results")
    assert str(error) == "all slots taken; see results"
