"""The DICOM fuzz corpus (tests/dicom_fuzz.py) through the service: every variant is answered or refused with a 4xx,
never a 5xx, and every DICOM object made of it passes dciodvfy.

The whole corpus goes through decoding and the making of each result object (report, capture, map) in this process;
a seeded sample of it through the HTTP service (JSON and ``Accept: application/dicom``) in
tests/http/test_dicom_fuzz_http.py; a series of variants through the DICOM node in tests/service/dimse/test_node.py.
The corpus is the session fixture ``dicom_variants`` (tests/conftest.py).
"""

from __future__ import annotations

import logging
import warnings
from collections.abc import Iterator

import numpy as np
import pydicom
import pytest

from mlcore.errors import BrainxaiError, ImageError
from service.dicom.capture import dicom_source, secondary_capture
from service.dicom.parametric_map import parametric_map
from service.dicom.reading import decode_dicom
from service.dicom.report import structured_report
from service.image import DecodeOptions
from service.schemas import ModelRef
from tests.dicom_peers import dciodvfy_errors, needs_dciodvfy

MODEL = ModelRef(name="brainxai-cnn", version="0.0.0", sha256="0" * 64)
PROBABILITIES = {"glioma": 0.9, "meningioma": 0.05, "notumor": 0.03, "pituitary": 0.02}
OPTIONS = DecodeOptions(max_pixels=10_000_000)


def results_of(data: bytes) -> Iterator[tuple[str, pydicom.Dataset]]:
    """Decode one file and make each result object of it, as the service does (a report, a capture, a map)."""
    image = decode_dicom(data, OPTIONS)
    source = dicom_source(image)
    frame = int(image.source.get("frame", 0))
    heatmap = np.zeros(image.pixels.shape, np.float32)
    heatmap[8:24, 8:24] = 1.0
    yield "report", structured_report(source, "glioma", PROBABILITIES, MODEL)
    yield "capture", secondary_capture(source, image.pixels, heatmap, method="gradcam", target="glioma", model=MODEL,
                                       frame=frame)  # fmt: skip
    try:
        yield "map", parametric_map(source, heatmap, method="gradcam", target="glioma", model=MODEL, frame=frame)
    except ImageError:
        return  # a source without plane geometry has no map: a 422 for the map alone


def test_the_corpus_has_thousands_of_variants_of_every_kind(dicom_variants: list[tuple[str, bytes]]) -> None:
    names = [name for name, _ in dicom_variants]
    assert len(names) >= 1500
    kinds = {name.split("/")[2] for name in names if "/combined/" not in name}
    assert {"removed", "emptied", "over-long", "wrong-vr", "invalid-cs", "non-ascii", "multi-valued"} <= kinds
    assert any("TransferSyntax/JPEG 2000" in name for name in names) and any(n.startswith("enhanced/") for n in names)


def test_every_variant_is_read_and_its_results_are_made_or_it_is_refused(
    dicom_variants: list[tuple[str, bytes]], caplog: pytest.LogCaptureFixture
) -> None:
    """No exception but the service's own (a 4xx) on any variant; most must give every result object."""
    failures: dict[str, str] = {}
    made = 0
    with warnings.catch_warnings(), caplog.at_level(logging.ERROR):
        warnings.simplefilter("ignore")
        for name, data in dicom_variants:
            try:
                made += sum(1 for _ in results_of(data)) == 3
            except BrainxaiError:
                continue
            except Exception as exc:  # what would be a 500
                failures[name] = f"{type(exc).__name__}: {exc}"
    assert not failures, dict(list(failures.items())[:10])
    assert made >= 0.9 * len(dicom_variants)


@needs_dciodvfy
def test_every_object_made_of_a_sample_of_the_corpus_passes_dciodvfy(dicom_variants: list[tuple[str, bytes]]) -> None:
    """One variant in nine of the single breaks (every kind of break of most attributes), and some combinations."""
    sample = [item for index, item in enumerate(dicom_variants) if index % 9 == 0][:220]
    errors: dict[str, list[str]] = {}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for name, data in sample:
            try:
                objects = list(results_of(data))
            except BrainxaiError:
                continue
            for kind, dataset in objects:
                found = dciodvfy_errors(dataset)
                if found:
                    errors[f"{name} {kind}"] = found
    assert not errors, dict(list(errors.items())[:5])
