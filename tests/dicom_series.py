"""DICOM series for the series, result-object and DICOM node tests, made in memory from committed images.

``mr_series``: a classic MR Image Storage series (one slice per instance, full geometry) of the committed sample
images of one class; ``enhanced_series``: the same slices as one Legacy Converted Enhanced MR instance (functional
groups); ``other_body_part_series``: an abdominal MR (pydicom's ``examples_overlay.dcm``) tagged as a shoulder.
"""

from __future__ import annotations

import datetime as dt

import highdicom as hd
import numpy as np
import pydicom
from PIL import Image
from pydicom.dataset import FileMetaDataset
from pydicom.uid import ExplicitVRLittleEndian, MRImageStorage, generate_uid

from tests.helpers import SAMPLES
from tests.images import pydicom_testdata


def sample_pixels(label: str) -> list[np.ndarray]:
    """The committed sample images of ``label`` as 16-bit grey arrays at 256×256."""
    paths = sorted((SAMPLES / label).iterdir())
    return [np.asarray(Image.open(path).convert("L").resize((256, 256)), dtype=np.uint16) * 16 for path in paths]


def _mr_slice(pixels: np.ndarray, index: int, uids: dict[str, str], body_part: str) -> pydicom.Dataset:
    ds = pydicom.Dataset()
    ds.file_meta = FileMetaDataset()
    ds.file_meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds.file_meta.MediaStorageSOPClassUID = MRImageStorage
    ds.SOPClassUID = MRImageStorage
    ds.SOPInstanceUID = ds.file_meta.MediaStorageSOPInstanceUID = generate_uid()
    ds.StudyInstanceUID, ds.SeriesInstanceUID = uids["study"], uids["series"]
    ds.FrameOfReferenceUID = uids["frame_of_reference"]
    ds.PatientName, ds.PatientID, ds.PatientBirthDate, ds.PatientSex = "Test^Series", "BXAI-0001", "19700101", "O"
    today = dt.date(2026, 11, 28).strftime("%Y%m%d")
    ds.StudyDate = ds.SeriesDate = ds.ContentDate = today
    ds.StudyTime = ds.SeriesTime = ds.ContentTime = "120000"
    ds.AccessionNumber, ds.StudyID, ds.ReferringPhysicianName = "A0001", "1", ""
    ds.Modality, ds.Manufacturer, ds.SeriesNumber, ds.InstanceNumber = "MR", "brainxai-tests", 3, index + 1
    ds.BodyPartExamined, ds.PatientPosition, ds.PositionReferenceIndicator = body_part, "HFS", ""
    ds.SeriesDescription = f"T1 axial post contrast ({body_part.lower()})"
    ds.ImageType = ["ORIGINAL", "PRIMARY", "M", "NONE"]
    ds.ScanningSequence, ds.SequenceVariant, ds.ScanOptions, ds.MRAcquisitionType = "SE", "NONE", "", "2D"
    ds.RepetitionTime, ds.EchoTime, ds.EchoTrainLength, ds.MagneticFieldStrength = 500.0, 15.0, 1, 1.5
    ds.ImagePositionPatient = [-115.0, -115.0, 5.0 * index]
    ds.ImageOrientationPatient = [1.0, 0.0, 0.0, 0.0, 1.0, 0.0]
    ds.PixelSpacing, ds.SliceThickness, ds.SliceLocation = [0.9, 0.9], 5.0, 5.0 * index
    ds.Rows, ds.Columns = pixels.shape
    ds.SamplesPerPixel, ds.PhotometricInterpretation = 1, "MONOCHROME2"
    ds.BitsAllocated, ds.BitsStored, ds.HighBit, ds.PixelRepresentation = 16, 12, 11, 0
    ds.WindowCenter, ds.WindowWidth = 2048, 4096
    ds.PixelData = pixels.astype(np.uint16).tobytes()
    return ds


def mr_series(label: str = "glioma", count: int = 24, *, body_part: str = "BRAIN") -> list[pydicom.Dataset]:
    """``count`` classic MR slices of one series: the committed samples of ``label`` in turn, each slightly
    brighter than the last (so that no two are the same)."""
    uids = {"study": generate_uid(), "series": generate_uid(), "frame_of_reference": generate_uid()}
    images = sample_pixels(label)
    slices = []
    for index in range(count):
        base = images[index % len(images)].astype(np.float64) * (1.0 + 0.01 * (index // len(images)))
        slices.append(_mr_slice(np.clip(base, 0, 4095).astype(np.uint16), index, uids, body_part))
    return slices


def enhanced_series(label: str = "glioma", count: int = 6) -> pydicom.Dataset:
    """The slices of :func:`mr_series` as one Legacy Converted Enhanced MR instance (per-frame functional groups)."""
    legacy = mr_series(label, count)
    return hd.legacy.LegacyConvertedEnhancedMRImage(
        legacy, series_instance_uid=generate_uid(), series_number=4, sop_instance_uid=generate_uid(), instance_number=1
    )


def photograph_series(count: int = 3) -> list[pydicom.Dataset]:
    """scikit-image's camera-man photograph stored as MR slices tagged BRAIN, shifted slice by slice: tags that lie."""
    from skimage import data

    image = np.asarray(Image.fromarray(data.camera()).resize((256, 256)), dtype=np.float64) / 255 * 4000
    uids = {"study": generate_uid(), "series": generate_uid(), "frame_of_reference": generate_uid()}
    shifted = [np.roll(image, 3 * index, axis=1).astype(np.uint16) for index in range(count)]
    return [_mr_slice(pixels, index, uids, "BRAIN") for index, pixels in enumerate(shifted)]


def other_body_part_series(count: int = 6) -> list[pydicom.Dataset]:
    """An abdominal MR slice (pydicom's ``examples_overlay.dcm``), shifted slice by slice, tagged SHOULDER."""
    abdomen = pydicom_testdata("examples_overlay.dcm").pixel_array.astype(np.float64)
    abdomen = abdomen / max(float(abdomen.max()), 1.0) * 4000
    image = np.asarray(Image.fromarray(abdomen.astype(np.float32)).resize((256, 256)), dtype=np.float64)
    uids = {"study": generate_uid(), "series": generate_uid(), "frame_of_reference": generate_uid()}
    shifted = [np.roll(image, 3 * index, axis=1).astype(np.uint16) for index in range(count)]
    return [_mr_slice(pixels, index, uids, "SHOULDER") for index, pixels in enumerate(shifted)]
