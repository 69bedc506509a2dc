"""The service's own errors: drawn in their module's docstring under the mlcore classes they derive from."""

from __future__ import annotations

from service import errors
from tests.mlcore.test_errors import drawn_tree_problems


def test_the_docstring_draws_every_service_error_under_its_parent() -> None:
    assert drawn_tree_problems(errors, {"BrainxaiError", "ImageError"}) == []


def test_a_service_error_is_a_brainxai_error_with_its_retry_after() -> None:
    busy = errors.Busy("all slots taken", retry_after_s=2.5)
    assert busy.retry_after_s == 2.5 and busy.message == "all slots taken"
    assert isinstance(errors.ImageTooLarge("big"), errors.ImageError)
