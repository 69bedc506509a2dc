"""The evidence check: does the answer depend on the region the explanation marks?

A heatmap shows where the model looks, not that the answer rests there. The check takes the region the map marks —
the connected area around the map's maximum where the map is at least :data:`REGION_LEVEL` of it, as a box grown by
the fills' margin — replaces it with the surrounding tissue (:func:`mlcore.fills.inpaint_fill`: normalised
convolution plus the surroundings' texture, which leaves no trace of its own), and asks the model again. A
**control** removes a box of the same size elsewhere in the brain: mirrored to the other hemisphere, or where that
would overlap the region, the place of the brain farthest from it. The verdict, the same rule for both:
**depends on the region** when the answered class changes or its probability falls by more than
:data:`DEPENDS_DROP`. A removal that moves the control as much says "any removal of that size moves the answer".

It reads the map, not the method: every explanation method gets the same check. One forward of two images (the
region removed, the control) on the runtime that made the answer, whose probabilities are the "before".
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Literal

import numpy as np
import torch
from pydantic import BaseModel, ConfigDict, Field, computed_field, field_serializer
from scipy import ndimage

from mlcore.fills import MARGIN, Box, box_of, grown, inpaint_fill, mirrored
from mlcore.preprocessing import FOREGROUND_LEVEL

# The level and the margin were chosen for the shipped model on the selection part of its validation side and reported
# on the other part (research/evidence_refit/, docs/evaluation/evidence-refit.json).
REGION_LEVEL = 0.6  # of the map's maximum: the marked region's edge
DEPENDS_DROP = 0.25  # a fall of the answered class's calibrated probability by more than this counts as "depends"
MAX_REGION_SHARE = 0.25  # of the image: a larger marked box is cut down around the maximum (a map marking everything)
FILL = "inpaint"

Probabilities = Callable[[torch.Tensor], torch.Tensor]  # a batch of [0, 1] images (N×1×S×S) → calibrated (N×C)


class EvidenceCheck(BaseModel):
    """Does the answer depend on the region the map marks? The region is replaced by surrounding tissue and the model
    asked again; a control removes a box of the same size elsewhere in the head (docs/EXPLANATIONS.md). The one
    definition: the analysis makes it, the API, the viewer, the DICOM report and the metrics read it."""

    model_config = ConfigDict(frozen=True)

    answered: str = Field(description="the class explained")
    probability_before: float = Field(description="the class's calibrated probability in the answer")
    probability_after: float = Field(description="the class's probability with the marked region removed")
    answer_after: str = Field(description="the answer with the marked region removed")
    control_probability_after: float = Field(description="the class's probability with the control's area removed")
    control_answer_after: str = Field(description="the answer with the control's area removed")
    region_share: float = Field(description="share of the image removed")
    fill: str = Field(
        default=FILL, description="how the region was filled: inpaint (surrounding tissue and its texture)"
    )

    @field_serializer("probability_before", "probability_after", "control_probability_after", "region_share")
    def _rounded(self, value: float) -> float:
        return round(value, 4)

    @computed_field(description="the answered class changed, or its probability fell by more than margin")  # type: ignore[prop-decorator]
    @property
    def depends_on_region(self) -> bool:
        """The answered class changed, or its probability fell by more than :data:`DEPENDS_DROP`."""
        return self.answer_after != self.answered or self.probability_before - self.probability_after > DEPENDS_DROP

    @computed_field(description="the same rule applied to the control's removal")  # type: ignore[prop-decorator]
    @property
    def control_depends(self) -> bool:
        """The same rule applied to the control's removal: would any removal of that size move the answer?"""
        return (
            self.control_answer_after != self.answered
            or self.probability_before - self.control_probability_after > DEPENDS_DROP
        )

    @computed_field(description="inconclusive: removing the control changes the answer too")  # type: ignore[prop-decorator]
    @property
    def verdict(self) -> Literal["depends", "does_not_depend", "inconclusive"]:
        """``depends``, ``does_not_depend``, or ``inconclusive`` when the control moves the answer too."""
        if self.control_depends:
            return "inconclusive"
        return "depends" if self.depends_on_region else "does_not_depend"

    @computed_field(description="a fall of the class's probability larger than this counts as depending")  # type: ignore[prop-decorator]
    @property
    def margin(self) -> float:
        """:data:`DEPENDS_DROP`, on the calibrated probabilities' scale."""
        return DEPENDS_DROP

    @computed_field(description="the check in one plain sentence")  # type: ignore[prop-decorator]
    @property
    def sentence(self) -> str:
        """The check in one plain sentence, as the viewer and the report show it."""
        change = (
            f"{self.answered} {self.probability_before:.2f} → {self.probability_after:.2f} "
            "when it is replaced by surrounding tissue"
        )
        control = f"control elsewhere: {self.control_probability_after:.2f}"
        if self.verdict == "inconclusive":
            return f"Inconclusive: removing the same area elsewhere also changes the answer ({change}; {control})."
        if self.verdict == "depends":
            return f"The answer depends on the highlighted region: {change} ({control})."
        return f"The answer does not depend on the highlighted region: {change} ({control})."

    def as_dict(self) -> dict[str, Any]:
        """The JSON form an explanation carries."""
        return self.model_dump()


def marked_region(square_map: np.ndarray, level: float = REGION_LEVEL) -> Box | None:
    """The box of the connected area around the map's maximum at or above ``level`` of it (:data:`REGION_LEVEL`),
    grown by the fills' margin and at most :data:`MAX_REGION_SHARE` of the image; None for an empty map."""
    peak = float(square_map.max(initial=0.0))
    if peak <= 0:
        return None
    labels, _ = ndimage.label(square_map >= level * peak)
    top = np.unravel_index(int(np.argmax(square_map)), square_map.shape)
    box = box_of(labels == labels[top])
    if box is None:
        return None
    box = grown(box, square_map.shape, MARGIN)
    return _capped(box, (int(top[1]), int(top[0])), square_map.shape)


def _capped(box: Box, centre: tuple[int, int], shape: tuple[int, ...]) -> Box:
    x0, y0, x1, y1 = box
    limit = MAX_REGION_SHARE * shape[0] * shape[1]
    if (x1 - x0) * (y1 - y0) <= limit:
        return box
    scale = float(np.sqrt(limit / ((x1 - x0) * (y1 - y0))))
    half_w, half_h = max(1, round((x1 - x0) * scale / 2)), max(1, round((y1 - y0) * scale / 2))
    cx, cy = centre
    return max(0, cx - half_w), max(0, cy - half_h), min(shape[1], cx + half_w), min(shape[0], cy + half_h)


def control_region(box: Box, image: np.ndarray) -> Box:
    """A box of the same size elsewhere in the head: mirrored to the other hemisphere when that does not overlap
    ``box``, else centred on the head's pixel farthest from it (clipped to the image)."""
    height, width = image.shape
    other = mirrored(box, width)
    if other[2] <= box[0] or other[0] >= box[2]:
        return other
    x0, y0, x1, y1 = box
    head = image > FOREGROUND_LEVEL
    ys, xs = np.nonzero(head) if head.any() else np.nonzero(np.ones_like(head))
    far = int(np.argmax((xs - (x0 + x1) / 2) ** 2 + (ys - (y0 + y1) / 2) ** 2))
    w, h = x1 - x0, y1 - y0
    left = int(np.clip(xs[far] - w // 2, 0, width - w))
    top = int(np.clip(ys[far] - h // 2, 0, height - h))
    return left, top, left + w, top + h


def evidence_check(
    probabilities: Probabilities,
    image: np.ndarray,
    square_map: np.ndarray,
    *,
    answered: int,
    classes: list[str],
    original: np.ndarray | None = None,
    level: float = REGION_LEVEL,
) -> EvidenceCheck | None:
    """The evidence check of the answer ``answered`` (a class index) on ``image`` (the model's S×S grid, [0, 1])
    with the explanation's ``square_map`` (same grid); None when the map marks nothing. ``original``: the calibrated
    probabilities of ``image`` when the caller has them (the answer's own), else they are computed in the same batch.
    ``level``: the marked region's edge (the service's is :data:`REGION_LEVEL`; others are for refitting it). Seeded:
    the same inputs give the same check."""
    box = marked_region(square_map, level)
    if box is None:
        return None
    rng = np.random.default_rng(0)
    removed = inpaint_fill(image, box, rng)
    control = inpaint_fill(image, control_region(box, image), rng)
    images = [removed, control] if original is not None else [image, removed, control]
    batch = torch.from_numpy(np.stack(images).astype(np.float32))[:, None]
    with torch.inference_mode():
        probs = probabilities(batch).float().numpy()
    if original is not None:
        probs = np.concatenate([np.asarray(original, dtype=np.float32)[None], probs])
    x0, y0, x1, y1 = box
    return EvidenceCheck(
        answered=classes[answered],
        probability_before=float(probs[0, answered]),
        probability_after=float(probs[1, answered]),
        control_probability_after=float(probs[2, answered]),
        answer_after=classes[int(probs[1].argmax())],
        control_answer_after=classes[int(probs[2].argmax())],
        region_share=(x1 - x0) * (y1 - y0) / float(image.size),
    )
