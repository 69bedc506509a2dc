"""The PACS client: every failure is a PacsError subclass that names the step and the PACS."""

from __future__ import annotations

import pydicom
import pytest
import requests

from service.dicom.dicomweb import Pacs
from service.errors import PacsNotFound, PacsTimeout, PacsUnreachable
from tests.fake_pacs import FakePacs
from tests.http.conftest import free_port
from tests.images import mr_dicom_bytes

UIDS = ("1.2.3", "1.2.3.4", "1.2.3.4.5")


def test_fetch_and_store_against_a_working_pacs() -> None:
    with FakePacs(mr_dicom_bytes()) as fake:
        pacs = Pacs(fake.url, timeout_s=5)
        dataset = pacs.fetch(*UIDS)
        assert isinstance(dataset, pydicom.Dataset) and dataset.Modality == "MR"
        pacs.store(dataset)
        assert len(fake.stored) == 1


def test_an_unreachable_pacs_names_the_step() -> None:
    pacs = Pacs(f"http://127.0.0.1:{free_port()}/dicom-web", timeout_s=2)
    with pytest.raises(PacsUnreachable, match="fetch: cannot reach the PACS"):
        pacs.fetch(*UIDS)


def test_a_slow_pacs_times_out_and_a_refusal_is_unreachable() -> None:
    with FakePacs(mr_dicom_bytes(), delay_s=1.5) as slow, pytest.raises(PacsTimeout, match=r"within 0\.5 s"):
        Pacs(slow.url, timeout_s=0.5).fetch(*UIDS)
    with FakePacs(mr_dicom_bytes(), refuse_store_after=0) as refusing:
        pacs = Pacs(refusing.url, timeout_s=5)
        with pytest.raises(PacsUnreachable, match=r"store: the PACS .* answered HTTP 403"):
            pacs.store(pacs.fetch(*UIDS))


def test_an_unknown_instance_is_not_found() -> None:
    pacs = Pacs(f"http://127.0.0.1:{free_port()}/dicom-web", timeout_s=2)
    response = requests.Response()
    response.status_code = 404
    error = pacs._failure("fetch", requests.HTTPError(response=response), {"instance": "1.2"})
    assert isinstance(error, PacsNotFound) and "nothing with instance 1.2" in error.message
