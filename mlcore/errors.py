"""The one error tree of brainxai: every error the project raises on purpose is a class here.

Code raises the error that says *what* went wrong; it never picks a protocol status. The entry points
translate, each in one place: ``service/problems.py`` to HTTP problem details (RFC 9457), the
training CLI (``training/__main__.py``) to a one-line message and exit code 2, the DICOM node
(``service/dimse/status.py``) to DIMSE statuses. ::

    BrainxaiError
    ├── ArtifactError            the model file is missing, truncated, foreign or inconsistent
    ├── DatasetError             a dataset folder, split or boxes file is unusable (training)
    ├── TrainingError            a training configuration cannot work (training)
    ├── ImageError               an image cannot be read or is not a usable 2D image
    │   ├── ImageTooLarge        over a size limit (bytes or pixels)
    │   ├── UnsupportedImageType a content type no decoder reads
    │   ├── UnsupportedSopClass  a DICOM instance of a SOP class the model does not read (the DICOM node)
    │   ├── DatasetMismatch      a DICOM instance lacks what its SOP class requires (the DICOM node)
    │   └── OutOfDistribution    not like the brain MRI slices the model knows: refused, no answer
    ├── NotDicom                 a DICOM answer was asked for a non-DICOM input
    ├── ParameterError           a bad method, target or method parameter
    ├── DeadlineExceeded         model work ran past its deadline and was stopped
    ├── RequestError             the request itself is malformed (empty body, bad multipart)
    ├── Unauthorized             no valid API key
    ├── NotAcceptable            no answer type the client accepts
    ├── Busy                     admission refused: the work would wait too long
    ├── NotReady                 the model is still loading
    ├── NotConfigured            a feature needs a setting that is not set (e.g. the PACS)
    ├── ModelNotFound            a model name or version this server does not serve
    ├── StorageFailed            what was received cannot be kept on the node's storage (full, read-only)
    └── PacsError                a PACS step failed (the message names the step)
        ├── PacsUnreachable      cannot connect, or it refused the step
        ├── PacsTimeout          it did not answer in time
        └── PacsNotFound         it has no such instance

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


class ImageTooLarge(ImageError):
    """An upload or a decoded image is over a size limit."""


class UnsupportedImageType(ImageError):
    """No decoder reads this content type."""


class UnsupportedSopClass(ImageError):
    """A DICOM instance of a SOP class the model does not read (e.g. CT sent to the DICOM node)."""


class DatasetMismatch(ImageError):
    """A DICOM instance lacks attributes its SOP class requires (pixel data, rows, UIDs)."""


class OutOfDistribution(ImageError):
    """The input check refused the image: it is not like the brain MRI slices the model was trained on."""

    def __init__(self, message: str, check: Any) -> None:
        # check: the mlcore.reliability.InputCheck; its score, threshold and reason travel in ``extra``.
        super().__init__(message)
        self.check = check
        self.extra = {
            "score": check.score,
            "threshold": check.threshold,
            "reason": check.reason,
            "input_check": check.as_dict(),
        }


class NotDicom(BrainxaiError):
    """A DICOM result was asked for an input that is not DICOM (it has no patient or study)."""


class ParameterError(BrainxaiError):
    """An unknown method or target, or a method parameter of the wrong type or out of bounds."""


class DeadlineExceeded(BrainxaiError):
    """Model work ran past its deadline and was stopped."""


class RequestError(BrainxaiError):
    """The request is malformed: no body, or a multipart body without the image part."""


class Unauthorized(BrainxaiError):
    """No valid API key was presented."""


class NotAcceptable(BrainxaiError):
    """The client accepts none of the answer types a route gives."""


class Busy(BrainxaiError):
    """Admission refused: the queue is full, or the expected wait exceeds the budget."""


class StorageFailed(BrainxaiError):
    """What was received cannot be kept on the node's storage (full, read-only, not writable)."""


class NotReady(BrainxaiError):
    """The model is still loading."""


class NotConfigured(BrainxaiError):
    """A feature needs a setting that is not set."""


class ModelNotFound(BrainxaiError):
    """A model name or version this server does not serve (the Open Inference Protocol's routes)."""


class PacsError(BrainxaiError):
    """A PACS step (fetch or store) failed."""


class PacsUnreachable(PacsError):
    """The PACS cannot be reached, answered with an error, or refused to store."""


class PacsTimeout(PacsError):
    """The PACS did not answer in time."""


class PacsNotFound(PacsError):
    """The PACS has no such instance."""
