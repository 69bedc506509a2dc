"""Series gathered until idle; duplicates kept once; a full series refuses more."""

from __future__ import annotations

import pytest

from service.dimse.collector import SeriesCollector
from service.errors import Busy
from tests.dicom_series import mr_series


def test_a_series_is_complete_after_its_idle_time_and_duplicates_count_once() -> None:
    collector = SeriesCollector(idle_s=2.0, max_instances=10)
    first, second = mr_series("glioma", 2)
    collector.add(first, "SCANNER", now=100.0)
    collector.add(second, "SCANNER", now=101.0)
    collector.add(second, "SCANNER", now=101.5)
    assert collector.pending() == 2
    assert collector.complete(now=103.0) == []  # 1.5 s after the last instance
    [(uid, pending)] = collector.complete(now=103.6)
    assert uid == str(first.SeriesInstanceUID) and len(pending.instances) == 2 and pending.calling_ae == "SCANNER"
    assert collector.pending() == 0


def test_a_full_series_refuses_more_and_shutdown_takes_everything() -> None:
    collector = SeriesCollector(idle_s=60.0, max_instances=2)
    slices = mr_series("glioma", 3)
    collector.add(slices[0], now=1.0)
    collector.add(slices[1], now=1.0)
    with pytest.raises(Busy, match="limit"):
        collector.add(slices[2], now=1.0)
    assert len(collector.complete(now=2.0, everything=True)) == 1
