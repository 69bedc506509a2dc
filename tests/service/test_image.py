"""Image limits checked from the header: the pixel limit, a minimum size and the frame asked for."""

from __future__ import annotations

import pytest

from mlcore.errors import ImageError
from service.errors import ImageTooLarge
from service.image import check_frame, check_size


def test_sizes_over_the_limit_or_too_small_are_refused() -> None:
    check_size(100, 100, 10_000)
    with pytest.raises(ImageTooLarge, match="101×100"):
        check_size(101, 100, 10_000)
    with pytest.raises(ImageError, match="at least 8×8"):
        check_size(7, 100, 10_000)


def test_the_middle_frame_by_default_and_a_missing_frame_is_refused() -> None:
    assert check_frame(None, 5) == 2 and check_frame(4, 5) == 4 and check_frame(None, 1) == 0
    with pytest.raises(ImageError, match="frame 5 does not exist"):
        check_frame(5, 5)
