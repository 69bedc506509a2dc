"""The evidence check: a model whose answer rests on a region is caught depending on it, one that does not is not,
and a control elsewhere tells a region from any removal of that size."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import torch

from mlcore.evidence import DEPENDS_DROP, REGION_LEVEL, control_region, evidence_check, marked_region

CLASSES = ["lesion", "none"]
SIZE = 64


def _brain() -> np.ndarray:
    yy, xx = np.mgrid[0:SIZE, 0:SIZE] / SIZE
    rng = np.random.default_rng(0)
    image = (np.hypot(xx - 0.5, yy - 0.5) < 0.45) * (0.4 + 0.03 * rng.standard_normal((SIZE, SIZE)))
    image[20:30, 12:22] = 0.95  # a bright lesion in the left half
    return np.clip(image, 0, 1).astype(np.float32)


def _lesion_detector(batch: torch.Tensor) -> torch.Tensor:
    """p(lesion) from the brightest pixels: a model whose answer rests on the lesion."""
    bright = (batch > 0.8).float().flatten(1).mean(1) * 200
    p = torch.sigmoid(bright - 2.0)
    return torch.stack([p, 1 - p], 1)


def _fragile(batch: torch.Tensor) -> torch.Tensor:
    """Sure of "lesion" for the untouched image only: any removal anywhere moves it."""
    untouched = (batch - torch.from_numpy(_brain())).abs().flatten(1).amax(1) == 0
    p = torch.where(untouched, torch.tensor(0.95), torch.tensor(0.1))
    return torch.stack([p, 1 - p], 1)


def _map_on(box: tuple[int, int, int, int]) -> np.ndarray:
    heat = np.zeros((SIZE, SIZE), np.float32)
    x0, y0, x1, y1 = box
    heat[y0:y1, x0:x1] = 1.0
    return heat


def test_a_model_that_rests_on_the_marked_lesion_depends_on_it() -> None:
    check = evidence_check(_lesion_detector, _brain(), _map_on((12, 20, 22, 30)), answered=0, classes=CLASSES)
    assert check is not None and check.verdict == "depends" and check.depends_on_region
    assert (
        check.probability_before > 0.9
        and check.probability_after < check.probability_before - DEPENDS_DROP
        and check.answer_after == "none"
    )
    assert not check.control_depends and check.control_probability_after > 0.9
    assert 0 < check.region_share < 0.1 and check.fill == "inpaint"
    assert check.sentence.startswith("The answer depends on the highlighted region: lesion")
    assert check.as_dict()["verdict"] == "depends"


def test_a_map_on_healthy_tissue_does_not_carry_the_answer() -> None:
    check = evidence_check(_lesion_detector, _brain(), _map_on((40, 40, 50, 50)), answered=0, classes=CLASSES)
    assert check is not None and check.verdict == "does_not_depend"
    assert check.sentence.startswith("The answer does not depend on the highlighted region")


def test_a_model_moved_by_any_removal_is_inconclusive() -> None:
    check = evidence_check(_fragile, _brain(), _map_on((12, 20, 22, 30)), answered=0, classes=CLASSES)
    assert check is not None and check.depends_on_region and check.control_depends
    assert check.verdict == "inconclusive" and check.sentence.startswith("Inconclusive")


def test_the_region_follows_the_maps_peak_and_the_control_lies_elsewhere() -> None:
    heat = np.zeros((SIZE, SIZE), np.float32)
    heat[20:30, 12:22] = 1.0
    heat[40:44, 40:44] = 0.8  # a second, separate area: not part of the region
    box = marked_region(heat)
    assert box is not None and box[0] <= 12 and box[2] >= 22 and box[2] < 40
    assert marked_region(np.zeros((SIZE, SIZE))) is None
    other = control_region(box, _brain())
    assert other[0] >= SIZE // 2  # mirrored to the other hemisphere
    centre = marked_region(_map_on((26, 20, 38, 30)))
    assert centre is not None
    away = control_region(centre, _brain())
    assert (away[2] - away[0], away[3] - away[1]) == (centre[2] - centre[0], centre[3] - centre[1])
    assert away[3] <= centre[1] or away[1] >= centre[3] or away[2] <= centre[0] or away[0] >= centre[2]


def test_the_level_sets_the_regions_edge() -> None:
    """A map falling off from its peak: a lower level takes in more of the slope (the refit compares levels)."""
    yy, xx = np.mgrid[0:SIZE, 0:SIZE]
    slope = np.clip(1.0 - np.hypot(xx - 20, yy - 25) / 20, 0, None).astype(np.float32)
    low, high = marked_region(slope, 0.5), marked_region(slope, 0.8)
    assert low is not None and high is not None
    assert (low[2] - low[0]) > (high[2] - high[0]) and low[0] <= high[0] and low[2] >= high[2]
    assert marked_region(slope) == marked_region(slope, REGION_LEVEL)


def test_a_map_marking_everything_removes_at_most_a_quarter() -> None:
    box = marked_region(np.ones((SIZE, SIZE), np.float32))
    assert box is not None
    assert (box[2] - box[0]) * (box[3] - box[1]) <= 0.26 * SIZE * SIZE


def test_the_answers_own_probabilities_stand_for_the_original_and_are_its_before() -> None:
    """Given the answer's probabilities, the check runs only the two altered images and reports them as "before";
    with the same model's probabilities it is the check that computes them itself."""
    calls: list[int] = []

    def counted(batch: torch.Tensor) -> torch.Tensor:
        calls.append(len(batch))
        return _lesion_detector(batch)

    image, heat = _brain(), _map_on((12, 20, 22, 30))
    computed = evidence_check(counted, image, heat, answered=0, classes=CLASSES)
    own = _lesion_detector(torch.from_numpy(image)[None, None]).numpy()[0]
    given = evidence_check(counted, image, heat, answered=0, classes=CLASSES, original=own)
    assert calls == [3, 2] and given == computed
    moved = evidence_check(counted, image, heat, answered=0, classes=CLASSES, original=np.array([0.7, 0.3]))
    assert moved is not None and moved.probability_before == np.float32(0.7)


def test_only_a_fall_beyond_the_margin_counts_as_depending() -> None:
    """The answered class kept but less sure: a fall of less than DEPENDS_DROP does not count, a larger one does."""

    def falling_by(drop: float) -> Callable[[torch.Tensor], torch.Tensor]:
        def model(batch: torch.Tensor) -> torch.Tensor:
            lesion_left = (batch[:, 0, 20:30, 12:22] > 0.8).float().mean(dim=(1, 2))
            p = 0.95 - drop * (1 - lesion_left)  # lower once the lesion is gone, still the top class below 0.45
            return torch.stack([p, 1 - p], 1)

        return model

    heat = _map_on((12, 20, 22, 30))
    small = evidence_check(falling_by(DEPENDS_DROP - 0.1), _brain(), heat, answered=0, classes=CLASSES)
    large = evidence_check(falling_by(DEPENDS_DROP + 0.05), _brain(), heat, answered=0, classes=CLASSES)
    assert small is not None and small.answer_after == "lesion" and small.verdict == "does_not_depend"
    assert large is not None and large.verdict == "depends" and not large.control_depends
