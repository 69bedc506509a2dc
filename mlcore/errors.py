"""The one error hierarchy of brainxai.

Every error the project raises on purpose derives from :class:`BrainxaiError`. Callers
(the CLI, the service's single error handler) translate these to the outside in one place.
"""

from __future__ import annotations


class BrainxaiError(Exception):
    """Base of every error brainxai raises on purpose."""


class ArtifactError(BrainxaiError):
    """A model artifact is missing, truncated, foreign or inconsistent."""


class ImageError(BrainxaiError):
    """An image cannot be read or is not a usable 2D image."""
