"""A sample of the DICOM fuzz corpus (tests/dicom_fuzz.py) through the HTTP service: never a 5xx."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from tests.http.conftest import LiveServer


@pytest.fixture(scope="module")
def server(start_server: Callable[..., LiveServer]) -> LiveServer:
    return start_server(runtime="torchscript")


def test_http_answers_a_sample_of_the_corpus_without_a_5xx(
    server: LiveServer, dicom_variants: list[tuple[str, bytes]]
) -> None:
    """One variant in twelve, each as JSON and as DICOM from /predict and as a DICOM capture from /explain."""
    dicom = {"content-type": "application/dicom"}
    statuses: dict[str, list[int]] = {}
    with server.client() as http:
        for name, data in dicom_variants[::12]:
            answers = [
                http.post("/predict", content=data, headers=dicom),
                http.post("/predict", content=data, headers={**dicom, "accept": "application/dicom"}),
                http.post("/explain?method=gradcam", content=data, headers={**dicom, "accept": "application/dicom"}),
            ]
            statuses[name] = [answer.status_code for answer in answers]
            for answer in answers[1:]:
                if answer.status_code == 200:
                    assert answer.headers["content-type"] == "application/dicom"
    server_errors = {name: codes for name, codes in statuses.items() if any(code >= 500 for code in codes)}
    assert not server_errors, dict(list(server_errors.items())[:10])
    assert sum(codes == [200, 200, 200] for codes in statuses.values()) >= 0.8 * len(statuses)
