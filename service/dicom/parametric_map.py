"""A relevance map as a Parametric Map: float values in [0, 1] on the source slice's own grid and plane.

Made with highdicom from the source instance, so it shares the source's frame of reference, position,
orientation and pixel spacing (classic headers, or the functional groups of an Enhanced MR frame) and a viewer
can lay it over the slice. The method and the target class are named in the content label and description and
in the real-world value mapping, whose quantity is DCM 130404 "Saliency".
"""

from __future__ import annotations

import highdicom as hd
import numpy as np
import pydicom
from pydicom.sr.codedict import codes

from mlcore.errors import ImageError
from service.dicom.geometry import frame_geometry
from service.dicom.mend import carry_character_set
from service.dicom.report import MANUFACTURER, UNITY, long_string
from service.schemas import ModelRef

PARAMETRIC_MAP_SERIES_NUMBER = 9703
PARAMETRIC_MAP = "1.2.840.10008.5.1.4.1.1.30"


def _placement(source: pydicom.Dataset, frame: int) -> dict[str, object]:
    """The plane of ``frame`` as highdicom's functional-group arguments; 422 when the source has no geometry."""
    geometry = frame_geometry(source, frame)
    if geometry.orientation is None or geometry.position is None or geometry.spacing is None:
        raise ImageError(
            "the DICOM input has no complete plane geometry (orientation, position, pixel spacing); a Parametric "
            "Map needs one"
        )
    return {
        "plane_positions": [hd.PlanePositionSequence("PATIENT", list(geometry.position))],
        "plane_orientation": hd.PlaneOrientationSequence("PATIENT", list(geometry.orientation)),
        "pixel_measures": hd.PixelMeasuresSequence(list(geometry.spacing), geometry.thickness),
    }


def parametric_map(
    source: pydicom.Dataset,
    heatmap: np.ndarray,
    *,
    method: str,
    target: str,
    model: ModelRef,
    frame: int = 0,
    instance_number: int = 1,
    series_uid: str | None = None,
) -> pydicom.Dataset:
    """The map (H×W, the source's rows × columns, values in [0, 1]) of ``frame`` (0-based) of ``source``.

    Maps of one analysis share ``series_uid`` when given (one series per analysed series), numbered by
    ``instance_number``.
    """
    label = f"{method} relevance of {target}"
    mapping = hd.pm.RealWorldValueMapping(
        lut_label=method[:16],
        lut_explanation=long_string(label),
        unit=UNITY,
        value_range=(0.0, 1.0),
        slope=1.0,
        intercept=0.0,
        quantity_definition=codes.DCM.Saliency,
    )
    pm = hd.pm.ParametricMap(
        source_images=[source],
        pixel_array=np.ascontiguousarray(heatmap, dtype=np.float32)[None],
        series_instance_uid=series_uid or hd.UID(),
        series_number=PARAMETRIC_MAP_SERIES_NUMBER,
        sop_instance_uid=hd.UID(),
        instance_number=instance_number,
        manufacturer=MANUFACTURER,
        manufacturer_model_name=long_string(f"{model.name} {model.version}"),
        software_versions=long_string(model.version),
        device_serial_number=model.sha256[:16],
        contains_recognizable_visual_features=False,
        real_world_value_mappings=[mapping],
        voi_lut_transformations=[hd.VOILUTTransformation(window_center=0.5, window_width=1.0)],
        content_label=method.upper().replace("-", "_")[:16],
        content_description=long_string(f"AI {label} - {model.name} {model.version}"),
        series_description=long_string(f"AI {method} maps - {model.name} {model.version}"),
        **_placement(source, frame),  # type: ignore[arg-type]
    )
    # General Series: Laterality is type 2C (paired body parts); a brain is unpaired, so empty unless the source says.
    pm.Laterality = source.get("Laterality", "") or ""
    carry_character_set(pm, source)
    return pm
