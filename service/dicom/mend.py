"""The one place where a source instance's header is made fit to copy into a result object.

Structured Reports, Parametric Maps and Secondary Captures copy the source's patient, study and equipment modules
(highdicom copies every root attribute of them). Scanners and anonymisers write values no standard allows — a
``PatientSex`` of ``0000``, a 65-character LO, a date of ``20201301``, a name in a character set the file does not
declare, an element of the wrong VR, several values where one is allowed — and a PACS routes them anyway. A result
made of them is refused by highdicom (HTTP 500 before this module) or fails validation.

:func:`mended_source` returns a copy of the header (never the pixel data) in which every attribute of those modules
is checked against its VR (pydicom's validation: length, characters, format) and its enumerated values, and mended
by its type in the module:

- **type 1** (``StudyInstanceUID``) invalid or missing: no result can be made — :class:`~mlcore.errors.ImageError`
  (422), as for the instance's own UIDs;
- **type 2** (patient name and ID, birth date, sex, study date and time, referring physician, study ID, accession
  number, manufacturer) missing or invalid: written **empty**;
- **type 3** and conditional ones invalid: **removed**;
- several values where one is allowed: the first kept when it is valid;
- an element of the wrong VR (or UN): read again as its dictionary VR, then checked like the rest;
- sequences of these modules: removed (their items are not checked one by one; none is required);
- text that is not ASCII: decoded with the declared character set (without one, or with one nobody knows: as UTF-8
  when its bytes are UTF-8, else Latin-1), kept when it fits its VR's length in UTF-8 bytes, and the result objects
  declare UTF-8 (``ISO_IR 192``).

Every mend is logged once per instance (which attributes, and how), so that a site can fix its sender.
"""

from __future__ import annotations

import copy
import logging
from dataclasses import dataclass, field

import pydicom
from pydicom import config
from pydicom.charset import python_encoding
from pydicom.datadict import dictionary_VM, dictionary_VR, tag_for_keyword
from pydicom.dataelem import DataElement, RawDataElement
from pydicom.multival import MultiValue
from pydicom.valuerep import validate_value

from mlcore.errors import ImageError
from service.dicom.reading import header_of

log = logging.getLogger(__name__)

UTF8 = "ISO_IR 192"
# Root attributes of the modules result objects copy (PS3.3 C.7.1.1, C.7.2.1, C.7.2.2, C.7.5.1, C.7.1.3, C.7.2.3),
# by type. Keywords missing here are not copied: see _PRUNED.
TYPE_2 = (
    "PatientName", "PatientID", "PatientBirthDate", "PatientSex", "StudyDate", "StudyTime", "AccessionNumber",
    "ReferringPhysicianName", "StudyID", "Manufacturer",
)  # fmt: skip
TYPE_3 = (
    "IssuerOfPatientID", "TypeOfPatientID", "PatientBirthTime", "QualityControlSubject", "OtherPatientNames",
    "PatientComments", "PatientIdentityRemoved", "DeidentificationMethod", "ConsultingPhysicianName",
    "StudyDescription", "PhysiciansOfRecord", "NameOfPhysiciansReadingStudy", "RequestingService",
    "AdmittingDiagnosesDescription", "PatientAge", "PatientSize", "PatientBodyMassIndex", "MeasuredAPDimension",
    "MeasuredLateralDimension", "PatientWeight", "MedicalAlerts", "Allergies", "Occupation", "SmokingStatus",
    "AdditionalPatientHistory", "PregnancyStatus", "LastMenstrualDate", "ReasonForVisit", "AdmissionID",
    "ServiceEpisodeID", "ServiceEpisodeDescription", "PatientState", "InstitutionName", "InstitutionAddress",
    "StationName", "InstitutionalDepartmentName", "ManufacturerModelName", "DeviceSerialNumber", "DeviceUID",
    "GantryID", "SoftwareVersions", "SpatialResolution", "DateOfLastCalibration", "TimeOfLastCalibration",
    "DateOfManufacture", "DateOfInstallation", "Laterality",
)  # fmt: skip
# Attributes of those modules that are removed whatever their value: sequences (items unchecked), the veterinary and
# clinical-trial ones (conditional on others a source rarely fills consistently), alternative calendars.
PRUNED = (
    "ReferencedPatientSequence", "IssuerOfPatientIDQualifiersSequence", "SourcePatientGroupIdentificationSequence",
    "GroupOfPatientsIdentificationSequence", "PatientBirthDateInAlternativeCalendar",
    "PatientDeathDateInAlternativeCalendar", "PatientAlternativeCalendar", "StrainDescription", "StrainNomenclature",
    "StrainStockSequence", "StrainAdditionalInformation", "StrainCodeSequence", "GeneticModificationsSequence",
    "OtherPatientIDsSequence", "ReferencedPatientPhotoSequence", "EthnicGroupCodeSequence", "PatientSpeciesDescription",
    "PatientSpeciesCodeSequence", "PatientBreedDescription", "PatientBreedCodeSequence", "BreedRegistrationSequence",
    "ResponsiblePerson", "ResponsiblePersonRole", "ResponsibleOrganization", "DeidentificationMethodCodeSequence",
    "IssuerOfAccessionNumberSequence", "ReferringPhysicianIdentificationSequence",
    "ConsultingPhysicianIdentificationSequence", "ProcedureCodeSequence", "PhysiciansOfRecordIdentificationSequence",
    "PhysiciansReadingStudyIdentificationSequence", "ReferencedStudySequence", "RequestingServiceCodeSequence",
    "ReasonForPerformedProcedureCodeSequence", "AdmittingDiagnosesCodeSequence", "PatientSizeCodeSequence",
    "PatientSexNeutered", "ReasonForVisitCodeSequence", "IssuerOfAdmissionIDSequence",
    "IssuerOfServiceEpisodeIDSequence", "InstitutionalDepartmentTypeCodeSequence", "UDISequence",
    "ManufacturerDeviceClassUID", "ClinicalTrialSponsorName", "ClinicalTrialProtocolID", "ClinicalTrialProtocolName",
    "IssuerOfClinicalTrialProtocolID", "OtherClinicalTrialProtocolIDsSequence", "ClinicalTrialSiteID",
    "ClinicalTrialSiteName", "IssuerOfClinicalTrialSiteID", "ClinicalTrialSubjectID",
    "IssuerOfClinicalTrialSubjectID", "ClinicalTrialSubjectReadingID", "IssuerOfClinicalTrialSubjectReadingID",
    "ClinicalTrialProtocolEthicsCommitteeName", "ClinicalTrialProtocolEthicsCommitteeApprovalNumber",
    "ClinicalTrialTimePointID", "ClinicalTrialTimePointDescription", "LongitudinalTemporalOffsetFromEvent",
    "LongitudinalTemporalEventType", "ClinicalTrialTimePointTypeCodeSequence", "IssuerOfClinicalTrialTimePointID",
    "ConsentForClinicalTrialUseSequence",
)  # fmt: skip
# The UIDs results reference: type 1 wherever they are used.
REFERENCED_UIDS = ("StudyInstanceUID", "SeriesInstanceUID", "SOPInstanceUID", "SOPClassUID")
# Enumerated values (PS3.3) highdicom or dciodvfy checks.
ENUMERATED: dict[str, set[str]] = {
    "PatientSex": {"M", "F", "O"},
    "PatientIdentityRemoved": {"YES", "NO"},
    "QualityControlSubject": {"YES", "NO"},
    "SmokingStatus": {"YES", "NO", "UNKNOWN"},
    "PregnancyStatus": {"1", "2", "3", "4"},
    "TypeOfPatientID": {"TEXT", "RFID", "BARCODE"},
    "Laterality": {"R", "L"},
}
# Maximum lengths in bytes as written (PS3.5 6.2; a multi-byte character counts its bytes, as checkers do).
MAX_BYTES = {
    "AE": 16,
    "AS": 4,
    "CS": 16,
    "DA": 8,
    "DS": 16,
    "IS": 12,
    "LO": 64,
    "SH": 16,
    "TM": 14,
    "UI": 64,
    "ST": 1024,
}
PN_GROUP_BYTES = 64
TEXT_VRS = {"AE", "CS", "DA", "DS", "DT", "IS", "LO", "LT", "PN", "SH", "ST", "TM", "UC", "UI", "UR", "UT", "AS"}


@dataclass
class Mends:
    """What was mended in one instance's header, by how."""

    emptied: list[str] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)
    shortened: list[str] = field(default_factory=list)
    revalued: list[str] = field(default_factory=list)  # read again as their dictionary VR

    def __bool__(self) -> bool:
        return bool(self.emptied or self.removed or self.shortened or self.revalued)

    def describe(self) -> str:
        """One line for the log."""
        parts = [f"{what} {', '.join(names)}" for what, names in vars(self).items() if names]
        return "; ".join(parts)


def mended_source(dataset: pydicom.Dataset) -> pydicom.Dataset:
    """A copy of ``dataset``'s header fit to make result objects from (see the module); :class:`ImageError` when a
    UID the results must reference is missing or invalid."""
    header = copy.deepcopy(header_of(dataset))  # raw elements stay raw: decoded below with the right character set
    for keyword in REFERENCED_UIDS:
        value = header.get(keyword)
        if not value or not _valid("UI", str(value)):
            shown = repr(str(value)) if value else "missing"
            raise ImageError(f"the DICOM input's {keyword} is {shown}: no DICOM result can reference it")
    mends = Mends()
    text = _decoded_text(header)
    for keyword in PRUNED:
        if keyword in header:
            del header[keyword]
            mends.removed.append(keyword)
    for keyword in TYPE_2:
        _mend(header, keyword, required=True, mends=mends)
    for keyword in TYPE_3:
        _mend(header, keyword, required=False, mends=mends)
    if header.get("PatientIdentityRemoved") == "YES" and "DeidentificationMethod" not in header:
        del header.PatientIdentityRemoved  # 1C: YES needs a method, and its code sequence is pruned above
        mends.removed.append("PatientIdentityRemoved")
    if text or any(not str(v).isascii() for v in _copied_text_values(header)):
        header.SpecificCharacterSet = UTF8
    elif "SpecificCharacterSet" in header:
        del header.SpecificCharacterSet
    if mends:
        log.info("source %s mended for its results: %s", header.SOPInstanceUID, mends.describe())
    return header


def carry_character_set(result: pydicom.Dataset, source: pydicom.Dataset) -> None:
    """Give ``result`` the mended source's character set (UTF-8 when copied text is not ASCII)."""
    if source.get("SpecificCharacterSet") == UTF8:
        result.SpecificCharacterSet = UTF8


def _decoded_text(header: pydicom.Dataset) -> bool:
    """Decode every text element with the source's declared character set — or, when it declares none or one
    nobody knows, as UTF-8 if its bytes are UTF-8 (what modern senders write) and Latin-1 otherwise; True when any
    copied text is not ASCII."""
    declared = header.get("SpecificCharacterSet")
    terms = list(declared) if isinstance(declared, MultiValue | list) else [declared] if declared else []
    if not terms or not all(str(term).strip() in python_encoding or not str(term).strip() for term in terms):
        raw = [
            item.value
            for item in (header.get_item(tag) for tag in header.keys())  # noqa: SIM118
            if isinstance(item, RawDataElement) and isinstance(item.value, bytes) and item.VR in TEXT_VRS
        ]
        foreign = [value for value in raw if value and not value.isascii()]
        header.SpecificCharacterSet = UTF8 if all(_is_utf8(value) for value in foreign) else "ISO_IR 100"
    try:
        header.decode()
    except (LookupError, UnicodeError, ValueError) as exc:
        log.info("source %s: its text could not all be decoded (%s)", header.get("SOPInstanceUID"), exc)
    return any(not str(value).isascii() for value in _copied_text_values(header))


def _is_utf8(value: bytes) -> bool:
    try:
        value.decode("utf-8")
    except UnicodeDecodeError:
        return False
    return True


def _copied_text_values(header: pydicom.Dataset) -> list[object]:
    values: list[object] = []
    for keyword in (*TYPE_2, *TYPE_3):
        element = header[keyword] if keyword in header else None  # noqa: SIM401 (get() gives the value)
        if element is not None and element.VR in TEXT_VRS and element.value is not None:
            values.extend(element.value if isinstance(element.value, MultiValue | list) else [element.value])
    return values


def _mend(header: pydicom.Dataset, keyword: str, *, required: bool, mends: Mends) -> None:
    """Check one attribute and mend it by its type (see the module)."""
    tag = tag_for_keyword(keyword)
    assert tag is not None, keyword
    vr = dictionary_VR(tag)
    if tag not in header:
        if required:
            header[tag] = _empty(tag, vr)
            mends.emptied.append(keyword)
        return
    element = header[tag]
    value = element.value
    if vr != element.VR:
        value = _as_vr(element, vr)
        mends.revalued.append(keyword)
    values = list(value) if isinstance(value, MultiValue | list | tuple) else ([] if value in (None, "") else [value])
    if dictionary_VM(tag) == "1" and len(values) > 1:
        values = values[:1]
        mends.shortened.append(keyword)
    good = [item for item in values if _valid(vr, item) and _allowed(keyword, item)]
    if len(good) == len(values):
        if vr != element.VR or len(values) != _count(element.value):
            header[tag] = DataElement(tag, vr, _join(values))
        return
    if required:
        header[tag] = _empty(tag, vr)
        mends.emptied.append(keyword)
    else:
        del header[tag]
        mends.removed.append(keyword)


def _empty(tag: int, vr: str) -> DataElement:
    """An element of no value (type 2: present, empty)."""
    return DataElement(tag, vr, "" if vr in TEXT_VRS else None)


def _as_vr(element: DataElement, vr: str) -> object:
    """An element's value read again as ``vr`` (text VRs from its bytes or its text); None when it cannot be."""
    value = element.value
    if vr not in TEXT_VRS:
        return None  # a numeric VR written as another: not worth guessing
    if isinstance(value, bytes):
        try:
            text = value.decode("utf-8").rstrip("\x00 ")
        except UnicodeDecodeError:
            text = value.decode("latin-1").rstrip("\x00 ")
        return text.split("\\") if "\\" in text else text
    if isinstance(value, MultiValue | list):
        return [str(item) for item in value]
    return None if value is None else str(value)


def _valid(vr: str, value: object) -> bool:
    if vr in TEXT_VRS and not isinstance(value, str | pydicom.valuerep.PersonName | float | int):
        return False
    text = str(value)
    if any(ord(character) < 32 and character not in "\x1b" for character in text):
        return False  # control characters (other than ESC of ISO 2022) are never allowed in these VRs
    written = len(text.encode("utf-8"))
    if written > MAX_BYTES.get(vr, 1 << 30):
        return False
    if vr == "PN" and any(len(group.encode("utf-8")) > PN_GROUP_BYTES for group in text.split("=")):
        return False
    try:
        validate_value(vr, value, config.RAISE)
    except (ValueError, TypeError):
        return False
    return True


def _allowed(keyword: str, value: object) -> bool:
    allowed = ENUMERATED.get(keyword)
    return allowed is None or str(value) in allowed


def _count(value: object) -> int:
    if isinstance(value, MultiValue | list | tuple):
        return len(value)
    return 0 if value in (None, "") else 1


def _join(values: list[object]) -> object:
    if not values:
        return None
    return values[0] if len(values) == 1 else values
