"""The spool: an acknowledged instance is on disk before the success, kept once, refused when it cannot be kept."""

from __future__ import annotations

import os
from pathlib import Path

import pydicom
import pytest

from service.dimse.spool import Spool
from service.dimse.status import status_of
from service.errors import StorageFailed
from tests.dicom_series import mr_series


def test_instances_are_kept_by_series_once_each_and_read_back(tmp_path: Path) -> None:
    spool = Spool(tmp_path / "spool")
    series = mr_series("glioma", 3)
    assert [spool.keep(dataset, "SCANNER") for dataset in series] == [True, True, True]
    assert spool.keep(series[0], "SCANNER") is False  # a PACS's retry: kept once
    uid = str(series[0].SeriesInstanceUID)
    [(found, paths)] = spool.series().items()
    assert found == uid and len(paths) == 3 and spool.calling_ae(uid) == "SCANNER"
    assert {str(pydicom.dcmread(path).SOPInstanceUID) for path in paths} == {str(d.SOPInstanceUID) for d in series}
    assert not list((tmp_path / "spool" / uid).glob("*.tmp"))  # no temporary file left behind
    count, instances, oldest = spool.waiting()
    assert (count, instances) == (1, 3) and oldest >= 0
    spool.remove(uid)
    assert spool.series() == {} and spool.waiting()[:2] == (0, 0)


def test_a_series_that_failed_is_set_aside_not_taken_back(tmp_path: Path) -> None:
    spool = Spool(tmp_path)
    dataset = mr_series("meningioma", 1)[0]
    spool.keep(dataset)
    spool.set_aside(str(dataset.SeriesInstanceUID))
    assert spool.series() == {} and len(list((tmp_path / "failed").rglob("*.dcm"))) == 1


@pytest.mark.skipif(os.geteuid() == 0, reason="root writes into a read-only folder anyway")
def test_an_unwritable_spool_is_out_of_resources_never_a_success(tmp_path: Path) -> None:
    spool = Spool(tmp_path / "spool")
    (tmp_path / "spool").chmod(0o500)
    try:
        with pytest.raises(StorageFailed) as refused:
            spool.keep(mr_series("glioma", 1)[0])
    finally:
        (tmp_path / "spool").chmod(0o700)
    assert status_of(refused.value)[0] == 0xA700


def test_a_full_disk_is_out_of_resources_never_a_success(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The write fails as it does on a full volume (ENOSPC): the C-STORE status is 0xA700 and nothing is kept."""
    spool = Spool(tmp_path)

    def full(*args: object, **kwargs: object) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "fsync", full)
    with pytest.raises(StorageFailed, match="No space left"):
        spool.keep(mr_series("glioma", 1)[0])
    assert spool.series() == {} and not list(tmp_path.rglob("*.tmp"))
