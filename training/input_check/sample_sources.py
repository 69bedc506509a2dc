"""Real images that ship inside registry packages: where each one lies, what it shows and under which licence.

Nothing is downloaded. The files come from the sample and test data of installed packages:

- pydicom's own test files and the ``pydicom-data`` package (MIT; the images are the public NEMA/GDCM DICOM test
  images, anonymised): CT of head, neck and abdomen, MR of abdomen and shoulder, radiographs, nuclear medicine,
  ultrasound;
- scikit-image's bundled data (BSD-3; public-domain or CC0 images, see ``skimage/data/README.txt``), scikit-learn's
  sample images (BSD-3; CC-BY photographs) and matplotlib's sample data (matplotlib licence);
- brain volumes of nilearn (the MNI ICBM152 2009a template, a permissive licence: copy and use with its copyright
  notice), nibabel's test data (MIT) and dipy's data files (BSD-3).

Locations are found with :func:`importlib.util.find_spec`, which does not import the package.
"""

from __future__ import annotations

import gzip
import importlib.util
import io
import logging
from dataclasses import dataclass
from pathlib import Path

import numpy as np

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Origin:
    """Where a sample lies inside a package, what it shows and its licence."""

    package: str
    path: str
    shows: str
    licence: str


PYDICOM_DATA = "pydicom-data (MIT); NEMA/GDCM public DICOM test image"
PYDICOM = "pydicom (MIT); public DICOM test image"

# DICOM files of other kinds than a brain MRI slice, by the package that holds them.
DICOM_SAMPLES = {
    "ct-head-693": Origin("pydicom", "data/test_files/693_J2KI.dcm", "CT, axial head", PYDICOM),
    "ct-head-j2k": Origin("pydicom", "data/test_files/J2K_pixelrep_mismatch.dcm", "CT, head", PYDICOM),
    "ct-small": Origin("pydicom", "data/test_files/CT_small.dcm", "CT slice, 128 px", PYDICOM),
    "ct-neck": Origin("data_store", "data/bad_sequence.dcm", "CT, neck", PYDICOM_DATA),
    "ct-pancreas": Origin("data_store", "data/explicit_VR-UN.dcm", "CT, abdomen (pancreas)", PYDICOM_DATA),
    "ct-enhanced": Origin(
        "data_store", "data/eCT_Supplemental.dcm", "enhanced CT, head (the brain, skull mostly removed)", PYDICOM_DATA
    ),
    "mr-abdomen-liver": Origin("pydicom", "data/test_files/examples_overlay.dcm", "MR, abdomen (liver)", PYDICOM),
    "mr-abdomen-siemens": Origin("data_store", "data/MR-SIEMENS-DICOM-WithOverlays.dcm", "MR, abdomen", PYDICOM_DATA),
    "mr-shoulder": Origin("data_store", "data/MR2_UNCR.dcm", "MR, shoulder", PYDICOM_DATA),
    "xr-chest": Origin("data_store", "data/RG1_UNCR.dcm", "CR radiograph, chest", PYDICOM_DATA),
    "xr-extremity": Origin("data_store", "data/RG3_UNCR.dcm", "CR radiograph, extremity", PYDICOM_DATA),
    "nm-bone-a": Origin("pydicom", "data/test_files/JPEG2000.dcm", "NM whole-body bone scan", PYDICOM),
    "nm-bone-b": Origin("data_store", "data/JPEG-LL.dcm", "NM whole-body bone scan", PYDICOM_DATA),
    "us-abdomen": Origin("data_store", "data/US1_UNCR.dcm", "ultrasound", PYDICOM_DATA),
    "us-aloka": Origin("data_store", "data/gdcm-US-ALOKA-16.dcm", "ultrasound", PYDICOM_DATA),
    "us-rgb": Origin("pydicom", "data/test_files/examples_rgb_color.dcm", "ultrasound, colour", PYDICOM),
    "us-palette": Origin("pydicom", "data/test_files/examples_palette.dcm", "ultrasound, palette colour", PYDICOM),
    "us-ybr": Origin("pydicom", "data/test_files/examples_ybr_color.dcm", "ultrasound cine", PYDICOM),
    "us-jpeg2k": Origin("pydicom", "data/test_files/examples_jpeg2k.dcm", "ultrasound, JPEG 2000", PYDICOM),
}

MNI = "nilearn (BSD-3); MNI ICBM152 2009a template (c) McConnell Brain Imaging Centre, use with notice"
# Brain volumes in sequences the dataset has few or none of (and the tissue maps the synthetic sequences start from).
VOLUME_SAMPLES = {
    "mni-t1": Origin(
        "nilearn", "datasets/data/mni_icbm152_t1_tal_nlin_sym_09a_converted.nii.gz", "T1, no contrast (template)", MNI
    ),
    "mni-gm": Origin("nilearn", "datasets/data/mni_icbm152_gm_tal_nlin_sym_09a_converted.nii.gz", "grey matter", MNI),
    "mni-wm": Origin("nilearn", "datasets/data/mni_icbm152_wm_tal_nlin_sym_09a_converted.nii.gz", "white matter", MNI),
    "bold-epi": Origin("nibabel", "tests/data/example4d.nii.gz", "BOLD EPI, first volume", "nibabel (MIT) test data"),
    "dwi-b0": Origin("dipy", "data/files/S0_10slices.nii.gz", "diffusion b0 (EPI)", "dipy (BSD-3) data file"),
}


def package_file(origin: Origin) -> Path | None:
    """The file's path inside its installed package, or None (logged) when the package or file is missing."""
    spec = importlib.util.find_spec(origin.package)
    if spec is None or not spec.submodule_search_locations:
        log.warning("package %s is not installed: %s skipped", origin.package, origin.path)
        return None
    path = Path(next(iter(spec.submodule_search_locations))) / origin.path
    if not path.is_file():
        log.warning("%s is not in the installed %s: skipped", origin.path, origin.package)
        return None
    return path


def dicom_values(origin: Origin) -> tuple[np.ndarray, bool] | None:
    """One DICOM sample's pixels after its modality LUT (the middle frame of several), and whether it is colour
    (H×W×3, uint8); None when it is not installed."""
    import pydicom
    from pydicom.pixels import apply_color_lut, apply_modality_lut, convert_color_space

    path = package_file(origin)
    if path is None:
        return None
    dataset = pydicom.dcmread(path)
    pixels = dataset.pixel_array
    frames = int(dataset.get("NumberOfFrames", 1) or 1)
    colour = int(dataset.get("SamplesPerPixel", 1)) == 3
    if frames > 1:
        pixels = pixels[frames // 2]
    photometric = str(dataset.get("PhotometricInterpretation", ""))
    if photometric == "PALETTE COLOR":
        return np.asarray(apply_color_lut(pixels, dataset), dtype=np.float64) / 65535 * 255, True
    if colour and photometric.startswith("YBR") and photometric != "YBR_RCT":
        pixels = convert_color_space(pixels, photometric, "RGB")
    if colour:
        return np.asarray(pixels, dtype=np.float64), True
    values = np.asarray(apply_modality_lut(pixels, dataset), dtype=np.float64)
    shared = dataset.get("SharedFunctionalGroupsSequence")
    if "RescaleSlope" not in dataset and shared and "PixelValueTransformationSequence" in shared[0]:
        transform = shared[0].PixelValueTransformationSequence[0]  # an enhanced object keeps its rescale here
        values = values * float(transform.RescaleSlope) + float(transform.RescaleIntercept)
    return (values.max() - values if photometric == "MONOCHROME1" else values), False


def volume(origin: Origin) -> np.ndarray | None:
    """A NIfTI volume's first 3D volume as float (x, y, z), resampled to square in-plane voxels (as a viewer shows
    it), or None when it is not installed."""
    import nibabel
    from scipy.ndimage import zoom

    path = package_file(origin)
    if path is None:
        return None
    image = nibabel.load(path)
    data = np.asarray(image.dataobj, dtype=np.float64)  # type: ignore[attr-defined]
    while data.ndim > 3:
        data = data[..., 0]
    x_mm, y_mm = (float(v) for v in image.header.get_zooms()[:2])  # type: ignore[attr-defined]
    if abs(x_mm - y_mm) > 1e-3 * max(x_mm, y_mm):
        fine = min(x_mm, y_mm)
        data = zoom(data, (x_mm / fine, y_mm / fine, 1.0), order=1)
    return data


def axial_slices(data: np.ndarray, count: int, *, low: float = 0.3, high: float = 0.8) -> list[np.ndarray]:
    """``count`` axial slices between the fractions ``low`` and ``high`` of the volume's height, each turned to
    radiological display (anterior up)."""
    levels = np.linspace(low * (data.shape[2] - 1), high * (data.shape[2] - 1), count).round().astype(int)
    return [np.rot90(data[:, :, int(level)]) for level in sorted(set(levels.tolist()))]


def matplotlib_sample(name: str) -> bytes:
    """The bytes of one of matplotlib's bundled sample files (decompressed when gzipped)."""
    from matplotlib import cbook

    path = Path(str(cbook.get_sample_data(name, asfileobj=False)))
    raw = path.read_bytes()
    return gzip.decompress(raw) if path.suffix == ".gz" else raw


def skimage_image(name: str) -> np.ndarray:
    """One of scikit-image's bundled images."""
    from skimage import data

    return np.asarray(getattr(data, name)())


def matplotlib_png(name: str) -> np.ndarray:
    """One of matplotlib's sample PNG/JPEG files as an RGB array."""
    from PIL import Image

    return np.asarray(Image.open(io.BytesIO(matplotlib_sample(name))).convert("RGB"))
