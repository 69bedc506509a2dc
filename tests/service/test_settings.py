"""Settings from BRAINXAI_* variables: keys split, the former name of a setting still read, bad values refused."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import ValidationError

from service.settings import Settings


def test_environment_values_are_read_and_keys_split(tiny_model_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("BRAINXAI_MODEL_PATH", str(tiny_model_path))
    monkeypatch.setenv("BRAINXAI_API_KEYS", " a, b ,,c ")
    monkeypatch.setenv("BRAINXAI_EXPLAIN_CONCURRENCY", "5")  # the former name of light_explain_concurrency
    settings = Settings()
    assert settings.api_keys == ("a", "b", "c") and settings.light_explain_concurrency == 5
    monkeypatch.setenv("BRAINXAI_LIGHT_EXPLAIN_CONCURRENCY", "7")
    assert Settings().light_explain_concurrency == 7


def test_bad_values_are_refused_at_start(tiny_model_path: Path) -> None:
    with pytest.raises(ValidationError, match="no model file"):
        Settings(model_path=Path("/nonexistent.pt"))
    for bad in ({"runtime": "tensorrt"}, {"explain_precision": "int4"}, {"port": 0}, {"explain_timeout_s": 0}):
        with pytest.raises(ValidationError):
            Settings(model_path=tiny_model_path, **bad)


def test_the_dicom_node_settings_are_read_and_checked(tiny_model_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("BRAINXAI_MODEL_PATH", str(tiny_model_path))
    monkeypatch.setenv("BRAINXAI_DIMSE_ALLOWED_AES", "ORTHANC, SCANNER")
    monkeypatch.setenv("BRAINXAI_DIMSE_METHODS", "gradcam,occlusion")
    monkeypatch.setenv("BRAINXAI_DIMSE_DESTINATION", "PACS@pacs.example:104")
    settings = Settings()
    assert settings.dimse_allowed_aes == ("ORTHANC", "SCANNER") and settings.dimse_methods == ("gradcam", "occlusion")
    assert settings.dimse_ae_title == "BRAINXAI" and settings.dimse_port == 11112
    for bad in ({"dimse_destination": "PACS@host"}, {"dimse_ae_title": "A" * 17}, {"dimse_key_slices": 0}):
        with pytest.raises(ValidationError):
            Settings(model_path=tiny_model_path, **bad)
