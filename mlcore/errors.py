"""The one error tree of brainxai: every error the project raises on purpose is a class here.

Code raises the error that says *what* went wrong; it never picks a protocol status. The entry points
translate, each in one place: ``service/http/problems.py`` to HTTP problem details (RFC 9457), the
training CLI (``training/__main__.py``) to a one-line message and exit code 2, the DICOM node
(``service/dimse/status.py``) to DIMSE statuses. ::

    BrainxaiError
    ├── ArtifactError            the model file is missing, truncated, foreign or inconsistent
    ├── DatasetError             a dataset folder, split or boxes file is unusable (training)
    ├── TrainingError            a training configuration cannot work (training)
    ├── ImageError               an image cannot be read or is not a usable 2D image
    │   └── OutOfDistribution    not like the brain MRI slices the model knows: refused, no answer
    ├── ParameterError           a bad method, target or method parameter
    └── DeadlineExceeded         model work ran past its deadline and was stopped

The service's own errors (HTTP, the DICOM node, the PACS bridge) derive from these in :mod:`service.errors`.

``retry_after_s`` (seconds, or None) tells a client when to try again; ``extra`` holds
members an answer should carry besides the message (e.g. which results were stored).
"""

from __future__ import annotations

from typing import Any


class BrainxaiError(Exception):
    """Base of every error brainxai raises on purpose."""

    def __init__(self, message: str, *, retry_after_s: float | None = None) -> None:
        super().__init__(message)
        self.retry_after_s = retry_after_s
        self.extra: dict[str, Any] = {}

    @property
    def message(self) -> str:
        """The one-line, user-facing description."""
        return str(self.args[0]) if self.args else ""

    def append(self, text: str) -> None:
        """Add ``text`` to the message (e.g. what was done before the failure)."""
        self.args = (self.message + text,)


class ArtifactError(BrainxaiError):
    """A model artifact is missing, truncated, foreign or inconsistent."""


class DatasetError(BrainxaiError):
    """A dataset folder, split file or boxes file is missing or unusable."""


class TrainingError(BrainxaiError):
    """A training configuration that cannot work (e.g. fewer images than one batch)."""


class ImageError(BrainxaiError):
    """An image cannot be read or is not a usable 2D image."""


class OutOfDistribution(ImageError):
    """The input check refused the image: it is not like the brain MRI slices the model was trained on."""

    def __init__(self, message: str, check: Any) -> None:
        # check: the mlcore.input_check.check.InputCheck; its score, threshold and reason travel in ``extra``.
        super().__init__(message)
        self.check = check
        self.extra = {
            "score": check.score,
            "threshold": check.threshold,
            "reason": check.reason,
            "input_check": check.as_dict(),
        }


class ParameterError(BrainxaiError):
    """An unknown method or target, or a method parameter of the wrong type or out of bounds."""


class DeadlineExceeded(BrainxaiError):
    """Model work ran past its deadline and was stopped."""
