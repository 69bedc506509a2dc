"""DICOM in: the transfer syntaxes a PACS sends, display transforms, frames, and clear refusals."""

from __future__ import annotations

import io

import numpy as np
import pydicom
import pytest
from PIL import Image
from pydicom.encaps import encapsulate
from pydicom.uid import JPEGBaseline8Bit

from mlcore.errors import ImageError
from service.dicom.reading import body_part_reason, decode_dicom
from service.errors import ImageTooLarge
from service.image import DecodeOptions
from tests.images import dicom_bytes, multiframe_mr, pydicom_file_bytes, pydicom_testdata

OPTIONS = DecodeOptions(max_pixels=10_000_000)
LOSSLESS_VARIANTS = [
    "MR_small_implicit.dcm",
    "MR_small_bigendian.dcm",
    "MR_small_RLE.dcm",
    "MR_small_jp2klossless.dcm",
    "MR_small_jpeg_ls_lossless.dcm",
]


@pytest.mark.parametrize("name", LOSSLESS_VARIANTS)
def test_compressed_and_other_encodings_decode_to_the_same_pixels(name: str) -> None:
    reference = decode_dicom(pydicom_file_bytes("MR_small.dcm"), OPTIONS)
    variant = decode_dicom(pydicom_file_bytes(name), OPTIONS)
    assert variant.pixels.shape == (64, 64)
    assert np.allclose(variant.pixels, reference.pixels, atol=1e-6), name


def test_jpeg_baseline_decodes_close_to_the_source() -> None:
    dataset = pydicom_testdata("MR_small.dcm")
    reference = decode_dicom(dicom_bytes(dataset), OPTIONS).pixels
    eight_bit = np.round(reference * 255).astype(np.uint8)
    jpeg = io.BytesIO()
    Image.fromarray(eight_bit).save(jpeg, format="JPEG", quality=95)
    dataset.file_meta.TransferSyntaxUID = JPEGBaseline8Bit
    dataset.BitsAllocated, dataset.BitsStored, dataset.HighBit, dataset.PixelRepresentation = 8, 8, 7, 0
    for tag in ("RescaleSlope", "RescaleIntercept", "WindowCenter", "WindowWidth"):
        dataset.pop(tag, None)
    dataset.PixelData = encapsulate([jpeg.getvalue()])
    dataset["PixelData"].VR = "OB"
    decoded = decode_dicom(dicom_bytes(dataset), OPTIONS).pixels  # windowed anew: compare the pattern, not the scale
    assert np.corrcoef(decoded.ravel(), reference.ravel())[0, 1] > 0.98


def test_multiframe_takes_the_middle_frame_or_the_one_asked_for() -> None:
    data = dicom_bytes(multiframe_mr(3))
    assert decode_dicom(data, OPTIONS).source["frame"] == 1
    chosen = decode_dicom(data, DecodeOptions(max_pixels=10_000_000, frame=2))
    assert chosen.source["frame"] == 2 and chosen.source["frames"] == 3
    with pytest.raises(ImageError, match="frame 3 does not exist"):
        decode_dicom(data, DecodeOptions(max_pixels=10_000_000, frame=3))


def test_window_and_monochrome1() -> None:
    dataset = pydicom_testdata("MR_small.dcm")
    values = dataset.pixel_array.astype(np.float64) * float(dataset.get("RescaleSlope", 1)) + float(
        dataset.get("RescaleIntercept", 0)
    )
    dataset.WindowCenter, dataset.WindowWidth = float(np.median(values)), 2.0
    narrow = decode_dicom(dicom_bytes(dataset), OPTIONS).pixels
    assert (narrow == 0).mean() > 0.3 and (narrow == 1).mean() > 0.3  # a 2-wide window saturates both ways
    dataset.PhotometricInterpretation = "MONOCHROME1"
    inverted = decode_dicom(dicom_bytes(dataset), OPTIONS).pixels
    assert np.allclose(inverted, 1.0 - narrow)


def test_non_mr_colour_and_oversized_are_refused() -> None:
    ct = pydicom_file_bytes("CT_small.dcm")
    with pytest.raises(ImageError, match="modality CT is not MR"):
        decode_dicom(ct, OPTIONS)
    assert decode_dicom(ct, DecodeOptions(max_pixels=10_000_000, allow_non_mr=True)).source["modality"] == "CT"
    colour = pydicom_testdata("SC_rgb_small_odd.dcm")
    colour.Modality = "MR"
    with pytest.raises(ImageError, match="photometric interpretation 'RGB'"):
        decode_dicom(dicom_bytes(colour), OPTIONS)
    with pytest.raises(ImageTooLarge):
        decode_dicom(pydicom_file_bytes("MR_small.dcm"), DecodeOptions(max_pixels=4096 - 1))
    with pytest.raises(ImageError, match=r"cannot be decoded|not a readable"):
        decode_dicom(pydicom_file_bytes("MR_truncated.dcm"), OPTIONS)


@pytest.mark.parametrize(
    ("tags", "named"),
    [
        ({"BodyPartExamined": "SHOULDER"}, "BodyPartExamined 'SHOULDER'"),
        ({"BodyPartExamined": "ABDOMEN", "StudyDescription": "brain"}, "BodyPartExamined 'ABDOMEN'"),
        ({"StudyDescription": "MRI knee left"}, "StudyDescription 'MRI knee left'"),
        ({"SeriesDescription": "T2 whole body"}, "SeriesDescription 'T2 whole body'"),
        ({"BodyPartExamined": "HEAD"}, None),
        ({"BodyPartExamined": "BRAIN", "SeriesDescription": "knee"}, None),  # the coded body part counts first
        ({"StudyDescription": "MR brain w/o contrast"}, None),
        ({"StudyDescription": "pharmacology protocol 7"}, None),  # no body part named ("arm" is inside a word)
        ({}, None),
    ],
)
def test_body_part_reason_names_another_body_part_only(tags: dict[str, str], named: str | None) -> None:
    dataset = pydicom_testdata("MR_small.dcm")
    for tag in ("BodyPartExamined", "StudyDescription", "SeriesDescription"):
        dataset.pop(tag, None)
    for tag, value in tags.items():
        setattr(dataset, tag, value)
    reason = body_part_reason(dataset)
    if named is None:
        assert reason is None
    else:
        assert reason is not None and named in reason and "another body part than the head" in reason


@pytest.mark.parametrize(("meaning", "refused"), [("Knee", True), ("Brain", False), ("Head and Neck", False)])
def test_an_anatomic_region_naming_another_body_part_is_a_reason(meaning: str, refused: bool) -> None:
    dataset = pydicom_testdata("MR_small.dcm")
    for tag in ("BodyPartExamined", "StudyDescription", "SeriesDescription"):
        dataset.pop(tag, None)
    region = pydicom.Dataset()
    region.CodeValue, region.CodingSchemeDesignator, region.CodeMeaning = "T-D0000", "SRT", meaning
    dataset.AnatomicRegionSequence = pydicom.Sequence([region])
    reason = body_part_reason(dataset)
    assert (reason is not None and "AnatomicRegionSequence" in reason) if refused else reason is None
