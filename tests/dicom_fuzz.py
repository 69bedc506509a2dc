"""A DICOM fuzz corpus made by code from the committed samples: what scanners and anonymisers write.

Every variant is a well-formed brain MR instance of the committed samples (a classic MR slice, or a Legacy Converted
Enhanced MR of several frames) with something broken:

- each attribute that result objects copy or a series is read by (:data:`ATTRIBUTES`) **removed**, **emptied**,
  **over-long**, of the **wrong VR**, an **invalid code string**, **non-ASCII** (with and without a declared character
  set), **multi-valued**, with a **control character**, or a **wrong date/time** (:data:`MUTATIONS`);
- seeded combinations of two to four of those at once;
- the pixel data one byte short or one byte long;
- each transfer syntax the node accepts that can be written here (explicit/implicit little endian, deflated, RLE,
  JPEG-LS, JPEG 2000, JPEG baseline 8-bit), the variants taking them in turn.

:func:`corpus` yields ``(name, dataset)``; the names say what was done (``classic/PatientSex/invalid-cs``).
"""

from __future__ import annotations

import copy
import io
from collections.abc import Iterator

import numpy as np
import pydicom
from PIL import Image
from pydicom.datadict import dictionary_VR, tag_for_keyword
from pydicom.dataelem import RawDataElement
from pydicom.encaps import encapsulate
from pydicom.tag import Tag
from pydicom.uid import (
    DeflatedExplicitVRLittleEndian,
    ExplicitVRLittleEndian,
    ImplicitVRLittleEndian,
    JPEG2000Lossless,
    JPEGBaseline8Bit,
    JPEGLSLossless,
    RLELossless,
    generate_uid,
)

from tests.dicom_series import enhanced_series, mr_series

ATTRIBUTES = (
    "PatientName", "PatientID", "PatientBirthDate", "PatientSex", "PatientAge", "PatientWeight", "PatientSize",
    "OtherPatientNames", "PatientComments", "IssuerOfPatientID", "PatientIdentityRemoved", "StudyDate", "StudyTime",
    "AccessionNumber", "ReferringPhysicianName", "StudyID", "StudyDescription", "Manufacturer", "InstitutionName",
    "StationName", "ManufacturerModelName", "SoftwareVersions", "DeviceSerialNumber", "SeriesDescription",
    "SeriesNumber", "InstanceNumber", "SeriesDate", "SeriesTime", "BodyPartExamined", "Laterality", "PatientPosition",
    "ProtocolName", "OperatorsName", "PerformingPhysicianName", "SpecificCharacterSet", "ContentDate", "ContentTime",
)  # fmt: skip
MUTATIONS = (
    "removed", "emptied", "over-long", "wrong-vr", "invalid-cs", "non-ascii", "non-ascii-declared", "multi-valued",
    "control-char", "bad-date",
)  # fmt: skip
SYNTAXES = (
    ExplicitVRLittleEndian, ImplicitVRLittleEndian, DeflatedExplicitVRLittleEndian, RLELossless, JPEGLSLossless,
    JPEG2000Lossless, JPEGBaseline8Bit,
)  # fmt: skip
MAX_LENGTH = {"CS": 16, "SH": 16, "LO": 64, "PN": 64, "DA": 8, "TM": 16, "AS": 4, "DS": 16, "IS": 12, "ST": 1024}


def _raw(dataset: pydicom.Dataset, tag: int, vr: str, value: bytes) -> None:
    """Put ``value`` into ``dataset`` as a sender wrote it: raw bytes, unchecked and unconverted."""
    padded = value + (b" " if len(value) % 2 else b"")
    dataset._dict[Tag(tag)] = RawDataElement(Tag(tag), vr, len(padded), padded, 0, False, True)


def _mutated(dataset: pydicom.Dataset, keyword: str, mutation: str) -> None:
    """Break one attribute of ``dataset`` in place (an attribute the dataset lacks is added first)."""
    tag = tag_for_keyword(keyword)
    assert tag is not None, keyword
    vr = dictionary_VR(tag)
    if mutation == "removed":
        dataset.pop(tag, None)
    elif mutation == "emptied":
        _raw(dataset, tag, vr, b"")
    elif mutation == "over-long":
        length = MAX_LENGTH.get(vr, 64) + 1
        _raw(dataset, tag, vr, (b"7" if vr in ("DS", "IS") else b"X") * length)
    elif mutation == "wrong-vr":  # what a converter writes: the right bytes under another VR
        value = str(dataset.get(keyword, "") or "ABC")
        _raw(dataset, tag, "UN" if vr != "UN" else "LO", value.encode("latin-1", "replace"))
    elif mutation == "invalid-cs":
        _raw(dataset, tag, vr, b"0000" if keyword == "PatientSex" else b"lower-case?!")
    elif mutation in ("non-ascii", "non-ascii-declared"):
        if keyword == "SpecificCharacterSet":
            _raw(dataset, tag, "CS", b"ISO_IR 999")  # a character set nobody knows
            return
        text = "Müller^Zoë" if vr == "PN" else "Ünïcödé é"
        if mutation == "non-ascii-declared":
            dataset.SpecificCharacterSet = "ISO_IR 100"
            _raw(dataset, tag, vr, text.encode("latin-1"))
        else:
            _raw(dataset, tag, vr, text.encode("utf-8"))  # UTF-8 bytes, no character set declared
    elif mutation == "multi-valued":
        _raw(dataset, tag, vr, b"1\\2" if vr in ("DS", "IS") else b"A\\B")
    elif mutation == "control-char":
        _raw(dataset, tag, vr, b"A\x07B")
    elif mutation == "bad-date":
        _raw(dataset, tag, vr, b"20261301" if vr in ("DA", "DT") else b"256000")


def _pixel_mutated(dataset: pydicom.Dataset, how: str) -> None:
    data = bytes(dataset.PixelData)
    dataset.PixelData = data[:-1] if how == "short" else data + b"\x00"


def _encoded(dataset: pydicom.Dataset, syntax: pydicom.uid.UID) -> pydicom.Dataset:
    """The dataset in ``syntax`` (its pixels compressed where the syntax compresses); uncompressed syntaxes only
    change the file meta."""
    if syntax == JPEGBaseline8Bit:
        if int(dataset.get("NumberOfFrames", 1) or 1) > 1:
            syntax = RLELossless  # a baseline JPEG of several frames is not worth making here
        else:
            pixels = dataset.pixel_array.astype(np.float64)
            eight = (pixels / max(float(pixels.max()), 1.0) * 255).astype(np.uint8)
            buffer = io.BytesIO()
            Image.fromarray(eight).save(buffer, format="JPEG", quality=90)
            dataset.PixelData = encapsulate([buffer.getvalue()])
            dataset["PixelData"].VR = "OB"
            dataset.BitsAllocated, dataset.BitsStored, dataset.HighBit = 8, 8, 7
            dataset.PhotometricInterpretation = "MONOCHROME2"
            dataset.file_meta.TransferSyntaxUID = syntax
            dataset.pop("WindowCenter", None)
            dataset.pop("WindowWidth", None)
            return dataset
    if syntax in (RLELossless, JPEGLSLossless, JPEG2000Lossless):
        dataset.compress(syntax, encoding_plugin="pylibjpeg" if syntax == JPEG2000Lossless else "")
        return dataset
    dataset.file_meta.TransferSyntaxUID = syntax
    return dataset


def _fresh(base: pydicom.Dataset) -> pydicom.Dataset:
    dataset = copy.deepcopy(base)
    dataset.SOPInstanceUID = generate_uid()
    dataset.file_meta.MediaStorageSOPInstanceUID = dataset.SOPInstanceUID
    return dataset


def bases() -> dict[str, pydicom.Dataset]:
    """The well-formed instances every variant starts from."""
    return {"classic": mr_series("glioma", 1)[0], "enhanced": enhanced_series("meningioma", 3)}


def corpus(*, combinations: int = 2000, seed: int = 0) -> Iterator[tuple[str, pydicom.Dataset]]:
    """Every variant: single mutations of each base, ``combinations`` seeded multi-mutations, pixel-length
    variants; transfer syntaxes taken in turn."""
    rng = np.random.default_rng(seed)
    made = 0
    for base_name, base in bases().items():
        for keyword in ATTRIBUTES:
            for mutation in MUTATIONS:
                dataset = _fresh(base)
                _mutated(dataset, keyword, mutation)
                yield f"{base_name}/{keyword}/{mutation}", _safely_encoded(dataset, SYNTAXES[made % len(SYNTAXES)])
                made += 1
        for how in ("short", "long"):
            dataset = _fresh(base)
            _pixel_mutated(dataset, how)
            yield f"{base_name}/PixelData/{how}", dataset
        for syntax in SYNTAXES:
            yield f"{base_name}/TransferSyntax/{syntax.name}", _safely_encoded(_fresh(base), syntax)
    names = list(bases())
    for index in range(combinations):
        base_name = names[index % len(names)]
        dataset = _fresh(bases_cache(base_name))
        picks = []
        for _ in range(int(rng.integers(2, 5))):
            keyword, mutation = str(rng.choice(ATTRIBUTES)), str(rng.choice(MUTATIONS))
            _mutated(dataset, keyword, mutation)
            picks.append(f"{keyword}:{mutation}")
        yield f"{base_name}/combined/{index}/{'+'.join(picks)}", _safely_encoded(dataset, SYNTAXES[index % 7])


_BASES: dict[str, pydicom.Dataset] = {}


def bases_cache(name: str) -> pydicom.Dataset:
    """:func:`bases`, made once per process."""
    if not _BASES:
        _BASES.update(bases())
    return _BASES[name]


def _safely_encoded(dataset: pydicom.Dataset, syntax: pydicom.uid.UID) -> pydicom.Dataset:
    """The dataset in ``syntax``, or as it is when the mutation made its pixels unencodable (then it tests the
    uncompressed path)."""
    try:
        return _encoded(dataset, syntax)
    except Exception:  # an encoder refusing a mutated header (e.g. BitsStored gone) is not what this corpus tests
        dataset.file_meta.TransferSyntaxUID = ExplicitVRLittleEndian
        return dataset


def to_bytes(dataset: pydicom.Dataset) -> bytes:
    """The variant as a Part 10 file, written as a sender would (without checking its values)."""
    buffer = io.BytesIO()
    dataset.save_as(buffer, enforce_file_format=True)
    return buffer.getvalue()
