"""DICOM results: the explanation as a Secondary Capture, the classification as a Structured Report.

Both are made with highdicom from the input instance, so they belong to the same patient and
study, in new series with new UIDs, and say which model made them. The capture carries a burned-in
"AI generated - not for diagnostic use" banner. Class names are coded in a private scheme
(``99BRAINXAI``): no standard code says "this model's class ``pituitary``".
"""

from __future__ import annotations

import io

import highdicom as hd
import numpy as np
import pydicom
from pydicom.sr.codedict import codes
from pydicom.uid import ExplicitVRLittleEndian

from mlcore.errors import ImageError, NotDicom
from mlcore.render import burn_in_banner, overlay_rgb
from service.image import DecodedImage
from service.schemas import ModelRef

CODING_SCHEME = "99BRAINXAI"
MANUFACTURER = "brainxai"
# ASCII: the burned-in font has no em dash, and DICOM text attributes use the default character set.
WARNING_ASCII = "AI generated - not for diagnostic use"
CAPTURE_SERIES_NUMBER = 9701
REPORT_SERIES_NUMBER = 9702
UNITY = hd.sr.CodedConcept("1", "UCUM", "no units")


def dicom_source(image: DecodedImage) -> pydicom.Dataset:
    """The DICOM header a result is made from; 406 when the input was not DICOM (no patient, no study)."""
    if image.dicom is None:
        raise NotDicom("a DICOM result needs a DICOM input (its patient and study); send application/dicom")
    return image.dicom


def _orientation_letter(direction: np.ndarray) -> str:
    """The patient-orientation letter (PS3.3 C.7.6.1.1.1) of a direction's dominant LPS axis."""
    axis = int(np.argmax(np.abs(direction)))
    return ("L", "P", "H")[axis] if direction[axis] > 0 else ("R", "A", "F")[axis]


def patient_orientation(source: pydicom.Dataset) -> tuple[str, str]:
    """The row and column directions of the source image as patient-orientation letters."""
    if "ImageOrientationPatient" in source:
        cosines = np.array([float(v) for v in source.ImageOrientationPatient])
        return _orientation_letter(cosines[:3]), _orientation_letter(cosines[3:])
    if "PatientOrientation" in source and len(source.PatientOrientation) == 2:
        return str(source.PatientOrientation[0]), str(source.PatientOrientation[1])
    raise ImageError(
        "the DICOM input has neither ImageOrientationPatient nor PatientOrientation; a DICOM result needs one"
    )


def _long_string(text: str) -> str:
    """Text cut to the 64 characters of DICOM's LO value representation."""
    return text[:64]


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
) -> pydicom.Dataset:
    """The heatmap overlay (with its legend and the warning banner) as a Secondary Capture of the source's study."""
    rgb = burn_in_banner(overlay_rgb(gray, heatmap, opacity, f"{method} · {target}"), WARNING_ASCII)
    capture = hd.sc.SCImage.from_ref_dataset(
        ref_dataset=source,
        pixel_array=np.ascontiguousarray(rgb),
        photometric_interpretation="RGB",
        bits_allocated=8,
        coordinate_system="PATIENT",
        patient_orientation=patient_orientation(source),
        series_instance_uid=hd.UID(),
        series_number=CAPTURE_SERIES_NUMBER,
        sop_instance_uid=hd.UID(),
        instance_number=1,
        manufacturer=MANUFACTURER,
        manufacturer_model_name=_long_string(f"{model.name} {model.version}"),
        series_description=_long_string(f"AI {method} {target} - {model.name} {model.version}"),
        transfer_syntax_uid=ExplicitVRLittleEndian,
    )
    capture.BurnedInAnnotation = "YES"
    capture.ImageComments = f"{WARNING_ASCII}. Model sha256 {model.sha256}."
    return capture


def structured_report(
    source: pydicom.Dataset, label: str, probabilities: dict[str, float], model: ModelRef
) -> pydicom.Dataset:
    """The classification as a Comprehensive SR (TID 1500) that references the source instance.

    One measurement group: the finding (the predicted class) and the probability of every class,
    with the algorithm's name and version.
    """
    observer = hd.sr.ObserverContext(
        observer_type=codes.DCM.Device,
        observer_identifying_attributes=hd.sr.DeviceObserverIdentifyingAttributes(
            uid=hd.UID(), name=MANUFACTURER, model_name=_long_string(f"{model.name} {model.version}")
        ),
    )
    group = hd.sr.MeasurementsAndQualitativeEvaluations(
        tracking_identifier=hd.sr.TrackingIdentifier(uid=hd.UID(), identifier="brainxai classification"),
        source_images=[hd.sr.SourceImageForMeasurementGroup.from_source_image(source)],
        algorithm_id=hd.sr.AlgorithmIdentification(name=model.name, version=model.version),
        qualitative_evaluations=[
            hd.sr.QualitativeEvaluation(name=codes.DCM.Finding, value=hd.sr.CodedConcept(label, CODING_SCHEME, label))
        ],
        measurements=[
            hd.sr.Measurement(
                name=hd.sr.CodedConcept(f"p-{name}", CODING_SCHEME, f"probability of {name}"),
                value=float(probability),
                unit=UNITY,
            )
            for name, probability in probabilities.items()
        ],
    )
    report = hd.sr.MeasurementReport(
        observation_context=hd.sr.ObservationContext(observer_device_context=observer),
        procedure_reported=codes.LN.BrainMRI,
        imaging_measurements=[group],
    )
    return hd.sr.ComprehensiveSR(
        evidence=[source],
        content=report[0],
        series_instance_uid=hd.UID(),
        series_number=REPORT_SERIES_NUMBER,
        sop_instance_uid=hd.UID(),
        instance_number=1,
        manufacturer=MANUFACTURER,
        is_complete=True,
        series_description=_long_string(f"AI classification - {model.name} {model.version}"),
    )
