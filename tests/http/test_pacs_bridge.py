"""The DICOMweb bridge against a real Orthanc PACS, and against a fake one that fails on purpose."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx
import pydicom
import pytest
import requests
from dicomweb_client.api import DICOMwebClient
from pydicom.data import get_testdata_file

from tests.dicom_series import mr_series
from tests.fake_pacs import FakePacs, OrthancServer, orthanc_missing
from tests.http.conftest import LiveServer, free_port
from tests.images import dicom_bytes

ANALYZE = "/v1/dicomweb/analyze"


def _mr() -> tuple[pydicom.Dataset, bytes]:
    path = get_testdata_file("MR_small.dcm")  # shipped inside pydicom: no download
    assert path is not None
    return pydicom.dcmread(str(path)), Path(str(path)).read_bytes()


def _uids(dataset: pydicom.Dataset) -> dict[str, str]:
    return {
        "study_instance_uid": str(dataset.StudyInstanceUID),
        "series_instance_uid": str(dataset.SeriesInstanceUID),
        "sop_instance_uid": str(dataset.SOPInstanceUID),
    }


@pytest.fixture(scope="module")
def orthanc(tmp_path_factory: pytest.TempPathFactory) -> Iterator[OrthancServer]:
    reason = orthanc_missing()
    if reason is not None:
        pytest.skip(reason)
    server = OrthancServer(tmp_path_factory.mktemp("orthanc"), free_port(), free_port()).start()
    yield server
    server.stop()


def test_the_bridge_round_trips_through_orthanc(
    orthanc: OrthancServer, start_server: Callable[..., LiveServer]
) -> None:
    source, _ = _mr()
    pacs = DICOMwebClient(orthanc.dicomweb)
    pacs.store_instances([source])  # STOW-RS: the PACS now holds a real MR instance
    service = start_server(dicomweb_url=orthanc.dicomweb)
    with service.client() as client:
        response = client.post(ANALYZE, json={**_uids(source), "methods": ["gradcam", "occlusion"]})
    assert response.status_code == 200, response.text
    answer = response.json()
    assert answer["study_instance_uid"] == source.StudyInstanceUID
    kinds = [(result["kind"], result["method"]) for result in answer["results"]]
    assert kinds == [("structured_report", None), ("secondary_capture", "gradcam"), ("secondary_capture", "occlusion")]
    assert all(result["stored"] for result in answer["results"])

    # QIDO-RS: the new series are in the source's study, and each instance decodes.
    series = {item["0020000E"]["Value"][0] for item in pacs.search_for_series(str(source.StudyInstanceUID))}
    assert {source.SeriesInstanceUID} | {result["series_instance_uid"] for result in answer["results"]} == series
    for result in answer["results"]:
        stored = pacs.retrieve_instance(
            str(source.StudyInstanceUID), result["series_instance_uid"], result["sop_instance_uid"]
        )
        assert stored.StudyInstanceUID == source.StudyInstanceUID and stored.PatientID == source.PatientID
        if result["kind"] == "secondary_capture":
            assert stored.pixel_array.shape[2] == 3 and result["method"] in stored.SeriesDescription
        else:
            assert stored.SOPClassUID == "1.2.840.10008.5.1.4.1.1.88.33"
            assert stored.ContentSequence  # the measurement report

    with service.client() as client:
        missing = client.post(ANALYZE, json={**_uids(source), "sop_instance_uid": "1.2.3.4"})
    assert missing.status_code == 404 and "fetch" in missing.json()["detail"]


def test_a_whole_series_is_analysed_when_no_instance_is_named(
    orthanc: OrthancServer, start_server: Callable[..., LiveServer]
) -> None:
    series = mr_series("glioma", 4)
    for dataset in series:  # Part 10 files, as a modality would send them
        assert httpx.post(f"{orthanc.url}/instances", content=dicom_bytes(dataset)).is_success
    service = start_server(dicomweb_url=orthanc.dicomweb)
    uids = {"study_instance_uid": series[0].StudyInstanceUID, "series_instance_uid": series[0].SeriesInstanceUID}
    with service.client() as client:
        response = client.post(ANALYZE, json={**uids, "methods": ["gradcam"]})
    assert response.status_code == 200, response.text
    answer = response.json()
    assert answer["series"]["slices"] == 4 and answer["series"]["accepted"] + len(answer["series"]["refused"]) == 4
    kinds = [result["kind"] for result in answer["results"]]
    assert kinds[0] == "structured_report" and kinds[1:] == ["parametric_map"] * len(answer["series"]["key_slices"])
    assert answer["label"] in answer["probabilities"] and all(result["stored"] for result in answer["results"])
    assert answer["input_check"] is None
    with service.client() as client:
        missing = client.post(ANALYZE, json={**uids, "series_instance_uid": "1.2.3.4"})
    assert missing.status_code == 404 and "fetch" in missing.json()["detail"]


def test_the_pacs_credentials_reach_a_pacs_that_requires_them(
    tmp_path: Path, start_server: Callable[..., LiveServer]
) -> None:
    reason = orthanc_missing()
    if reason is not None:
        pytest.skip(reason)
    orthanc = OrthancServer(tmp_path, free_port(), free_port(), users={"radiology": "s3cret"}).start()
    try:
        source, _ = _mr()
        session = requests.Session()
        session.auth = ("radiology", "s3cret")
        DICOMwebClient(orthanc.dicomweb, session=session).store_instances([source])
        anonymous = start_server(dicomweb_url=orthanc.dicomweb)
        with anonymous.client() as client:
            refused = client.post(ANALYZE, json=_uids(source))
        assert refused.status_code == 502 and "HTTP 401" in refused.json()["detail"]
        wrong = start_server(dicomweb_url=orthanc.dicomweb, dicomweb_username="radiology", dicomweb_password="no")
        with wrong.client() as client:
            assert client.post(ANALYZE, json=_uids(source)).status_code == 502
        service = start_server(dicomweb_url=orthanc.dicomweb, dicomweb_username="radiology", dicomweb_password="s3cret")
        with service.client() as client:
            response = client.post(ANALYZE, json=_uids(source))
        assert response.status_code == 200, response.text
        assert all(result["stored"] for result in response.json()["results"])
    finally:
        orthanc.stop()


def test_the_bridge_needs_an_api_key_when_keys_are_set(start_server: Callable[..., LiveServer]) -> None:
    source, data = _mr()
    with FakePacs(data) as fake:
        service = start_server(dicomweb_url=fake.url, api_keys=("k1",))
        with service.client() as client:
            refused = client.post(ANALYZE, json=_uids(source))
            assert refused.status_code == 401 and not fake.stored  # nothing stored for a refused caller
            accepted = client.post(ANALYZE, json=_uids(source), headers={"x-api-key": "k1"})
        assert accepted.status_code == 200 and len(fake.stored) == 2


def test_the_bridge_when_busy_and_past_its_deadline(
    start_server: Callable[..., LiveServer], monkeypatch: pytest.MonkeyPatch
) -> None:
    source, data = _mr()
    with FakePacs(data) as fake:
        service = start_server(dicomweb_url=fake.url, light_explain_concurrency=1, max_queue=0)
        analyser = service.app.state.brainxai.analyser
        original, started = analyser.analyse, threading.Event()

        def slow(*args: Any, **kwargs: Any) -> Any:
            started.set()
            time.sleep(1.5)
            return original(*args, **kwargs)

        monkeypatch.setattr(analyser, "analyse", slow)
        with service.client() as client, ThreadPoolExecutor(1) as pool:
            first = pool.submit(client.post, ANALYZE, json=_uids(source))
            assert started.wait(10)
            busy = client.post(ANALYZE, json=_uids(source))
            assert busy.status_code == 503 and busy.json()["type"].endswith(":busy") and busy.headers["retry-after"]
            assert first.result().status_code == 200
        timed = start_server(dicomweb_url=fake.url, explain_timeout_s=0.001)
        stored_before = len(fake.stored)
        with timed.client() as client:
            late = client.post(ANALYZE, json={**_uids(source), "methods": ["lime"]})
        assert late.status_code == 503 and late.json()["type"].endswith(":timeout")
        assert len(fake.stored) == stored_before  # nothing stored for an analysis that did not finish


def test_a_pacs_that_is_down_is_a_502_naming_the_step(start_server: Callable[..., LiveServer]) -> None:
    source, _ = _mr()
    service = start_server(dicomweb_url=f"http://127.0.0.1:{free_port()}/dicom-web")
    with service.client() as client:
        response = client.post(ANALYZE, json=_uids(source))
    assert response.status_code == 502
    assert response.json()["detail"].startswith("fetch: cannot reach the PACS")


def test_a_slow_pacs_is_a_504_naming_the_step(start_server: Callable[..., LiveServer]) -> None:
    source, data = _mr()
    with FakePacs(data, delay_s=3.0) as fake:
        service = start_server(dicomweb_url=fake.url, dicomweb_timeout_s=0.5)
        with service.client() as client:
            response = client.post(ANALYZE, json=_uids(source))
    assert response.status_code == 504
    assert response.json()["detail"].startswith("fetch: the PACS") and "0.5 s" in response.json()["detail"]


def test_a_refused_store_says_what_was_stored_and_what_was_not(start_server: Callable[..., LiveServer]) -> None:
    source, data = _mr()
    with FakePacs(data, refuse_store_after=1) as fake:
        service = start_server(dicomweb_url=fake.url)
        with service.client() as client:
            response = client.post(ANALYZE, json={**_uids(source), "methods": ["gradcam"]})
        assert len(fake.stored) == 1
    assert response.status_code == 502
    problem = response.json()
    assert problem["detail"].startswith("store: the PACS") and "HTTP 403" in problem["detail"]
    assert "stored 1 of 2" in problem["detail"]
    assert [(r["kind"], r["stored"]) for r in problem["results"]] == [
        ("structured_report", True),
        ("secondary_capture", False),
    ]


def test_the_bridge_without_a_pacs_or_with_bad_uids(start_server: Callable[..., LiveServer]) -> None:
    source, _ = _mr()
    service = start_server()
    with service.client() as client:
        unconfigured = client.post(ANALYZE, json=_uids(source))
        bad_uid = client.post(ANALYZE, json={**_uids(source), "study_instance_uid": "1.2.abc"})
        bad_method = client.post(ANALYZE, json={**_uids(source), "methods": ["shap"]})
    assert unconfigured.status_code == 503 and "BRAINXAI_DICOMWEB_URL" in unconfigured.json()["detail"]
    assert bad_uid.status_code == 422 and "study_instance_uid" in bad_uid.json()["detail"]
    assert bad_method.status_code == 422
