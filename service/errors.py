"""The errors only the service raises (HTTP, the DICOM node, the PACS bridge), in the one tree of :mod:`mlcore.errors`.

Translated in the same places as the rest of the tree: ``service/http/problems.py`` to HTTP problem details, the
DICOM node (``service/dimse/status.py``) to DIMSE statuses. ::

    BrainxaiError (mlcore.errors)
    ├── ImageError (mlcore.errors)
    │   ├── ImageTooLarge        over a size limit (bytes or pixels)
    │   ├── UnsupportedImageType a content type no decoder reads
    │   ├── UnsupportedSopClass  a DICOM instance of a SOP class the model does not read (the DICOM node)
    │   └── DatasetMismatch      a DICOM instance lacks what its SOP class requires (the DICOM node)
    ├── NotDicom                 a DICOM answer was asked for a non-DICOM input
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
"""

from __future__ import annotations

from mlcore.errors import BrainxaiError, ImageError


class ImageTooLarge(ImageError):
    """An upload or a decoded image is over a size limit."""


class UnsupportedImageType(ImageError):
    """No decoder reads this content type."""


class UnsupportedSopClass(ImageError):
    """A DICOM instance of a SOP class the model does not read (e.g. CT sent to the DICOM node)."""


class DatasetMismatch(ImageError):
    """A DICOM instance lacks attributes its SOP class requires (pixel data, rows, UIDs)."""


class NotDicom(BrainxaiError):
    """A DICOM result was asked for an input that is not DICOM (it has no patient or study)."""


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
