"""Parametric Maps on the source's grid and plane (classic and enhanced sources), conformant."""

from __future__ import annotations

import highdicom as hd
import numpy as np
import pydicom
import pytest

from mlcore.errors import ImageError
from service.dicom.parametric_map import parametric_map
from service.dicom.reading import header_of
from service.schemas import ModelRef
from tests.dicom_peers import dciodvfy_errors, needs_dciodvfy
from tests.dicom_series import enhanced_series, mr_series

MODEL = ModelRef(name="brainxai-cnn", version="9.9.9", sha256="ab" * 32)


@needs_dciodvfy
def test_maps_of_classic_and_enhanced_slices_lie_on_their_planes() -> None:
    heatmap = np.linspace(0, 1, 256 * 256, dtype=np.float32).reshape(256, 256)
    classic = header_of(mr_series("glioma", 3)[2])
    enhanced = header_of(enhanced_series("glioma", 3))
    for source, frame, z in ((classic, 0, 10.0), (enhanced, 1, 5.0)):
        pm = parametric_map(source, heatmap, method="gradcam", target="glioma", model=MODEL, frame=frame)
        assert dciodvfy_errors(pm) == []
        plane = pm.PerFrameFunctionalGroupsSequence[0].PlanePositionSequence[0].ImagePositionPatient
        assert [float(v) for v in plane] == [-115.0, -115.0, z]
        assert pm.FrameOfReferenceUID == source.FrameOfReferenceUID
        np.testing.assert_allclose(hd.pm.ParametricMap.from_dataset(pm).pixel_array.squeeze(), heatmap)
        assert "gradcam relevance of glioma" in pm.ContentDescription


def test_a_source_without_geometry_gets_no_map() -> None:
    source = header_of(mr_series("glioma", 1)[0])
    del source.ImagePositionPatient
    with pytest.raises(ImageError, match="geometry"):
        parametric_map(source, np.zeros((256, 256)), method="gradcam", target="glioma", model=MODEL)
    assert isinstance(source, pydicom.Dataset)
