"""Mending a source header before results are made of it (service/dicom/mend.py)."""

from __future__ import annotations

import io
import logging

import pydicom
import pytest
from pydicom.dataelem import RawDataElement
from pydicom.tag import Tag

from mlcore.errors import ImageError
from service.dicom.mend import UTF8, mended_source
from tests.dicom_series import mr_series


def _raw(dataset: pydicom.Dataset, keyword: str, vr: str, value: bytes) -> None:
    tag = Tag(pydicom.datadict.tag_for_keyword(keyword))
    padded = value + (b" " if len(value) % 2 else b"")
    dataset._dict[tag] = RawDataElement(tag, vr, len(padded), padded, 0, False, True)


def _read_back(dataset: pydicom.Dataset) -> pydicom.Dataset:
    """The dataset as a receiver reads it from the wire."""
    buffer = io.BytesIO()
    dataset.save_as(buffer, enforce_file_format=True)
    return pydicom.dcmread(io.BytesIO(buffer.getvalue()))


def test_type_2_attributes_are_emptied_or_added_empty_and_type_3_removed(caplog: pytest.LogCaptureFixture) -> None:
    source = mr_series("glioma", 1)[0]
    del source.PatientBirthDate
    _raw(source, "PatientSex", "CS", b"0000")
    _raw(source, "Manufacturer", "LO", b"M" * 65)
    _raw(source, "InstitutionName", "LO", b"I" * 65)
    _raw(source, "PatientAge", "AS", b"45")
    with caplog.at_level(logging.INFO, logger="service.dicom.mend"):
        mended = mended_source(_read_back(source))
    assert mended.PatientSex == "" and mended.Manufacturer == "" and mended.PatientBirthDate == ""
    assert "InstitutionName" not in mended and "PatientAge" not in mended
    assert mended.PatientName == "Test^Series" and mended.StudyDate == "20261128"  # valid values stay
    assert "emptied" in caplog.text and "PatientSex" in caplog.text and "InstitutionName" in caplog.text


def test_several_values_keep_the_first_and_a_wrong_vr_is_read_again_as_its_own() -> None:
    source = mr_series("glioma", 1)[0]
    _raw(source, "PatientID", "LO", b"ID-1\\ID-2")
    _raw(source, "PatientName", "UN", b"Doe^Jane")
    mended = mended_source(_read_back(source))
    assert mended.PatientID == "ID-1"
    assert mended["PatientName"].VR == "PN" and str(mended.PatientName) == "Doe^Jane"


@pytest.mark.parametrize(
    ("declared", "raw", "expected"),
    [
        (None, "Müller^Zoë".encode(), "Müller^Zoë"),  # UTF-8 bytes, no character set declared
        ("ISO_IR 100", "Müller^Zoë".encode("latin-1"), "Müller^Zoë"),  # Latin-1, declared
        ("ISO_IR 999", "Müller".encode("latin-1"), "Müller"),  # an unknown character set, Latin-1 bytes
    ],
)
def test_text_that_is_not_ascii_is_decoded_and_declared_as_utf8(
    declared: str | None, raw: bytes, expected: str
) -> None:
    source = mr_series("glioma", 1)[0]
    if declared:
        _raw(source, "SpecificCharacterSet", "CS", declared.encode())
    _raw(source, "PatientName", "PN", raw)
    mended = mended_source(_read_back(source))
    assert str(mended.PatientName) == expected and mended.SpecificCharacterSet == UTF8


def test_ascii_only_results_declare_no_character_set() -> None:
    source = mr_series("glioma", 1)[0]
    source.SpecificCharacterSet = "ISO_IR 100"
    assert "SpecificCharacterSet" not in mended_source(_read_back(source))


def test_text_too_long_in_utf8_bytes_is_mended_like_any_over_long_value() -> None:
    source = mr_series("glioma", 1)[0]
    _raw(source, "StudyID", "SH", "Ünïcödé é".encode())  # 9 characters, 13 bytes: fits
    _raw(source, "AccessionNumber", "SH", ("é" * 10).encode())  # 10 characters, 20 bytes: does not
    mended = mended_source(_read_back(source))
    assert mended.StudyID == "Ünïcödé é" and mended.AccessionNumber == ""


def test_a_uid_that_cannot_be_referenced_refuses_and_the_source_is_never_changed() -> None:
    source = mr_series("glioma", 1)[0]
    _raw(source, "PatientSex", "CS", b"0000")
    mended_source(source)
    assert source.PatientSex == "0000" and "PixelData" in source
    source.StudyInstanceUID = "1.2.03.x"
    with pytest.raises(ImageError, match="StudyInstanceUID"):
        mended_source(source)
    del source.StudyInstanceUID
    with pytest.raises(ImageError, match="StudyInstanceUID is missing"):
        mended_source(source)
