"""DICOM results: the explanation as a Secondary Capture (for viewers that show no Parametric Maps).

Made with highdicom from the input instance, so it belongs to the same patient and study, in a new series
with new UIDs, and says which model made it. The capture carries a burned-in "AI generated - not for
diagnostic use" banner. The report is :mod:`service.dicom.report`, the maps :mod:`service.dicom.parametric_map`.
"""

from __future__ import annotations

import io

import highdicom as hd
import numpy as np
import pydicom
from pydicom.uid import ExplicitVRLittleEndian

from mlcore.render import burn_in_banner, overlay_rgb
from service.dicom.geometry import patient_orientation
from service.dicom.mend import carry_character_set, mended_source
from service.dicom.report import MANUFACTURER, long_string
from service.errors import NotDicom
from service.image import DecodedImage
from service.schemas import ModelRef

# ASCII: the burned-in font has no em dash, and DICOM text attributes use the default character set.
WARNING_ASCII = "AI generated - not for diagnostic use"
CAPTURE_SERIES_NUMBER = 9701


def dicom_source(image: DecodedImage) -> pydicom.Dataset:
    """The DICOM header a result is made from, mended (:func:`service.dicom.mend.mended_source`); 406 when the input
    was not DICOM (no patient, no study), 422 when its UIDs cannot be referenced."""
    if image.dicom is None:
        raise NotDicom("a DICOM result needs a DICOM input (its patient and study); send application/dicom")
    return mended_source(image.dicom)


def to_bytes(dataset: pydicom.Dataset) -> bytes:
    """A dataset as a DICOM Part 10 file."""
    buffer = io.BytesIO()
    dataset.save_as(buffer, enforce_file_format=True)
    return buffer.getvalue()


def secondary_capture(
    source: pydicom.Dataset,
    gray: np.ndarray,
    heatmap: np.ndarray,
    *,
    method: str,
    target: str,
    model: ModelRef,
    opacity: float = 0.5,
    frame: int = 0,
) -> pydicom.Dataset:
    """The heatmap overlay (with its legend and the warning banner) as a Secondary Capture of the source's study
    (``source``: a mended header, :func:`service.dicom.mend.mended_source`); ``frame``: the source frame (0-based) it
    shows, for its orientation."""
    rgb = burn_in_banner(overlay_rgb(gray, heatmap, opacity, f"{method} · {target}"), WARNING_ASCII)
    capture = hd.sc.SCImage.from_ref_dataset(
        ref_dataset=source,
        pixel_array=np.ascontiguousarray(rgb),
        photometric_interpretation="RGB",
        bits_allocated=8,
        coordinate_system="PATIENT",
        patient_orientation=patient_orientation(source, frame),
        series_instance_uid=hd.UID(),
        series_number=CAPTURE_SERIES_NUMBER,
        sop_instance_uid=hd.UID(),
        instance_number=1,
        manufacturer=MANUFACTURER,
        manufacturer_model_name=long_string(f"{model.name} {model.version}"),
        series_description=long_string(f"AI {method} {target} - {model.name} {model.version}"),
        transfer_syntax_uid=ExplicitVRLittleEndian,
    )
    carry_character_set(capture, source)
    capture.BurnedInAnnotation = "YES"
    # General Series: Laterality is type 2C (paired body parts); a brain is unpaired, so empty unless the source says.
    capture.Laterality = source.get("Laterality", "") or ""
    capture.ImageComments = f"{WARNING_ASCII}. Model sha256 {model.sha256}."
    return capture
