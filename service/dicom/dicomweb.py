"""Talking to a PACS over DICOMweb: fetch an instance (WADO-RS), store results (STOW-RS).

Built on dicomweb-client. Every failure becomes a :class:`~service.errors.PacsError` that names the step
(``fetch`` or ``store``) and the PACS: unreachable or refusing (:class:`PacsUnreachable`), slower than
``BRAINXAI_DICOMWEB_TIMEOUT_S`` (:class:`PacsTimeout`), an instance the PACS does not have (:class:`PacsNotFound`).
"""

from __future__ import annotations

import logging

import pydicom
import requests
from dicomweb_client.api import DICOMwebClient

from service.errors import PacsError, PacsNotFound, PacsTimeout, PacsUnreachable

log = logging.getLogger(__name__)


class Pacs:
    """A DICOMweb PACS at ``url`` (its DICOMweb root)."""

    def __init__(self, url: str, timeout_s: float, username: str | None = None, password: str | None = None) -> None:
        session = requests.Session()
        if username is not None:
            session.auth = (username, password or "")
        self.url = url
        self._client = DICOMwebClient(url, session=session, timeout=timeout_s)
        # One quick retry for a PACS that blinks; the library's default (5 attempts, exponential back-off from
        # 1 s) would keep an interactive caller waiting for most of a minute before the 502.
        self._client.set_http_retry_params(retry=True, max_attempts=2, wait_exponential_multiplier=200)
        self.timeout_s = timeout_s

    def fetch(self, study: str, series: str, instance: str) -> pydicom.Dataset:
        """One instance by its UIDs (WADO-RS)."""
        try:
            return self._client.retrieve_instance(study, series, instance)
        except Exception as exc:
            raise self._failure("fetch", exc, {"study": study, "series": series, "instance": instance}) from exc

    def fetch_series(self, study: str, series: str) -> list[pydicom.Dataset]:
        """Every instance of a series: listed (QIDO-RS), then fetched one by one (WADO-RS), which PACSs answer more
        uniformly than a whole-series multipart answer; :class:`PacsNotFound` for a series the PACS does not have."""
        uids = {"study": study, "series": series}
        try:
            listed = self._client.search_for_instances(study, series, fields=["00080018"])
        except Exception as exc:
            raise self._failure("fetch", exc, uids) from exc
        instances = [str(item["00080018"]["Value"][0]) for item in listed if "00080018" in item]
        if not instances:
            raise PacsNotFound(f"fetch: the PACS at {self.url} has no instance in study {study}, series {series}")
        return [self.fetch(study, series, instance) for instance in instances]

    def store(self, dataset: pydicom.Dataset) -> None:
        """Store one instance in its study (STOW-RS); an answer listing it as failed is a refusal."""
        try:
            answer = self._client.store_instances([dataset], study_instance_uid=str(dataset.StudyInstanceUID))
        except Exception as exc:
            raise self._failure("store", exc, {}) from exc
        failed = answer.get("FailedSOPSequence") if answer is not None else None
        if failed:
            reason = failed[0].get("FailureReason", "unknown")
            raise PacsUnreachable(
                f"store: the PACS at {self.url} refused {dataset.SOPInstanceUID} (failure reason {reason})"
            )

    def _failure(self, step: str, exc: Exception, uids: dict[str, str]) -> PacsError:
        log.warning("PACS %s failed: %s", step, exc)
        if isinstance(exc, requests.Timeout):
            return PacsTimeout(f"{step}: the PACS at {self.url} did not answer within {self.timeout_s:g} s")
        if isinstance(exc, requests.ConnectionError):
            return PacsUnreachable(f"{step}: cannot reach the PACS at {self.url}: {type(exc).__name__}")
        if isinstance(exc, requests.HTTPError) and exc.response is not None:
            status = exc.response.status_code
            if step == "fetch" and status == 404:
                shown = ", ".join(f"{key} {value}" for key, value in uids.items())
                return PacsNotFound(f"fetch: the PACS at {self.url} has nothing with {shown}")
            return PacsUnreachable(f"{step}: the PACS at {self.url} answered HTTP {status}")
        return PacsUnreachable(f"{step}: the PACS at {self.url} gave an unusable answer: {type(exc).__name__}: {exc}")
