"""Request schemas: the bridge's UIDs must be DICOM UIDs; methods default to Grad-CAM."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from service.schemas import AnalyzeRequest


def test_uids_are_checked_and_methods_default_to_gradcam() -> None:
    request = AnalyzeRequest(study_instance_uid="1.2", series_instance_uid="1.2.3", sop_instance_uid="1.2.3.4")
    assert request.methods == ["gradcam"] and request.frame is None
    for bad in ("1..2", "abc", "1.2" * 40):
        with pytest.raises(ValidationError):
            AnalyzeRequest(study_instance_uid=bad, series_instance_uid="1.2", sop_instance_uid="1.2")
