"""Assemble an out-of-distribution set from what this disk holds and what can be generated.

``python -m training ood-set --out DIR`` writes ``DIR/<group>/<name>.png`` and ``DIR/sources.json`` (each
image's group and where it came from). Nothing is downloaded: the images come from the sample data that
ships inside installed packages (scikit-image, matplotlib, scikit-learn, pydicom's test files) and from
seeded generators. The groups:

- ``other-medical``: head and body CT, an abdominal MR, nuclear-medicine bone scans, ultrasound, a retina
  photograph, histology and microscopy, the Shepp-Logan CT phantom (pydicom test files, scikit-image);
- ``photographs``: natural photographs and textures, each in colour and in grey (scikit-image, matplotlib,
  scikit-learn);
- ``faces``: Labeled Faces in the Wild crops (scikit-image's subset) and two portraits;
- ``documents``: a scanned page, text, generated text pages and charts;
- ``synthetic``: blank images, noise, checkerboards, stripes, gradients and random shapes.

The set only measures the detector (``python bench/ood_eval.py --ood DIR``); no threshold is set on it.
"""

from __future__ import annotations

import gzip
import io
import json
import logging
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw
from scipy.ndimage import gaussian_filter

log = logging.getLogger(__name__)

# pydicom's bundled test files that are images of something other than a brain MRI slice.
DICOM_FILES = {
    "J2K_pixelrep_mismatch.dcm": "CT, head (BodyPartExamined HEAD)",
    "693_J2KI.dcm": "CT slice",
    "CT_small.dcm": "CT slice, 128 px",
    "examples_overlay.dcm": "MR, abdomen (liver)",
    "JPEG2000.dcm": "NM whole-body bone scan",
    "examples_rgb_color.dcm": "ultrasound, colour",
    "examples_palette.dcm": "ultrasound, palette colour",
    "examples_ybr_color.dcm": "ultrasound cine, first frame",
    "examples_jpeg2k.dcm": "ultrasound, JPEG 2000",
}
SKIMAGE_MEDICAL = {
    "retina": "fundus photograph",
    "microaneurysms": "retina, grey",
    "immunohistochemistry": "histology, colour",
    "cell": "microscopy",
    "shepp_logan_phantom": "Shepp-Logan CT head phantom",
}
SKIMAGE_PHOTOS = (
    "astronaut",
    "camera",
    "chelsea",
    "coffee",
    "rocket",
    "horse",
    "clock",
    "coins",
    "moon",
    "hubble_deep_field",
    "brick",
    "grass",
    "gravel",
    "colorwheel",
    "logo",
)


@dataclass(frozen=True)
class OodImage:
    """One image of the set: its group, a file name, uint8 pixels (H×W grey or H×W×3 colour), its source."""

    group: str
    name: str
    pixels: np.ndarray
    source: str


def _uint8(image: np.ndarray) -> np.ndarray:
    image = np.asarray(image, dtype=np.float64)
    low, high = float(image.min()), float(image.max())
    scaled = (image - low) / (high - low) if high > low else np.zeros_like(image)
    return (scaled * 255).round().astype(np.uint8)


def _grey(image: np.ndarray) -> np.ndarray:
    return image if image.ndim == 2 else np.asarray(Image.fromarray(image[..., :3]).convert("L"))


def _dicom_images() -> Iterator[OodImage]:
    import pydicom
    from pydicom.data import get_testdata_file
    from pydicom.pixels import apply_modality_lut

    for file, what in DICOM_FILES.items():
        path = get_testdata_file(file)
        if path is None:
            log.warning("pydicom's test file %s is not installed: skipped", file)
            continue
        dataset = pydicom.dcmread(path)
        pixels = dataset.pixel_array
        if int(dataset.get("NumberOfFrames", 1) or 1) > 1 and pixels.ndim > 2 + (dataset.SamplesPerPixel > 1):
            pixels = pixels[0]
        if dataset.PhotometricInterpretation == "PALETTE COLOR":
            from pydicom.pixels import apply_color_lut

            pixels = apply_color_lut(pixels, dataset)
        if pixels.ndim == 2:
            pixels = _uint8(apply_modality_lut(pixels, dataset))
        yield OodImage("other-medical", Path(file).stem, _uint8(pixels), f"pydicom test file {file}: {what}")


def _matplotlib_sample(name: str) -> bytes:
    """The bytes of one of matplotlib's bundled sample files (decompressed when gzipped)."""
    from matplotlib import cbook

    path = Path(str(cbook.get_sample_data(name, asfileobj=False)))
    raw = path.read_bytes()
    return gzip.decompress(raw) if path.suffix == ".gz" else raw


def _skimage(name: str) -> np.ndarray:
    from skimage import data

    return np.asarray(getattr(data, name)())


def _medical_images() -> Iterator[OodImage]:
    yield from _dicom_images()
    for name, what in SKIMAGE_MEDICAL.items():
        yield OodImage("other-medical", name, _uint8(_skimage(name)), f"skimage.data.{name}(): {what}")


def _photographs() -> Iterator[OodImage]:
    from sklearn.datasets import load_sample_images

    photos: dict[str, tuple[np.ndarray, str]] = {}
    for name in SKIMAGE_PHOTOS:
        photos[name] = (_uint8(_skimage(name)), f"skimage.data.{name}()")
    for name, image in zip(("china", "flower"), load_sample_images().images, strict=True):
        photos[name] = (image, f"sklearn.datasets.load_sample_images(): {name}.jpg")
    minduka = Image.open(io.BytesIO(_matplotlib_sample("Minduka_Present_Blue_Pack.png"))).convert("RGB")
    photos["minduka"] = (np.asarray(minduka), "matplotlib sample data: a photograph")
    for name, (image, source) in photos.items():
        if image.ndim == 3:
            yield OodImage("photographs", f"{name}-colour", image[..., :3], source)
        yield OodImage("photographs", f"{name}-grey", _grey(image), source + ", in grey")


def _faces(count: int = 40) -> Iterator[OodImage]:
    faces = _skimage("lfw_subset")
    for index in range(count):
        face = np.asarray(Image.fromarray(_uint8(faces[index])).resize((112, 112), Image.Resampling.BICUBIC))
        yield OodImage("faces", f"lfw-{index:03d}", face, "skimage.data.lfw_subset(): Labeled Faces in the Wild")
    hopper = np.asarray(Image.open(io.BytesIO(_matplotlib_sample("grace_hopper.jpg"))).convert("RGB"))
    yield OodImage("faces", "grace-hopper-colour", hopper, "matplotlib sample data grace_hopper.jpg")
    yield OodImage("faces", "grace-hopper-grey", _grey(hopper), "matplotlib sample data grace_hopper.jpg, in grey")
    astronaut = _skimage("astronaut")[0:240, 120:340]
    yield OodImage("faces", "astronaut-face", _grey(astronaut), "skimage.data.astronaut(), face crop, in grey")


def _text_page(rng: np.random.Generator, index: int) -> np.ndarray:
    width, height = 420, 594
    page = Image.new("L", (width, height), 255)
    draw = ImageDraw.Draw(page)
    words = ["patient", "report", "findings", "the", "of", "and", "MRI", "normal", "lesion", "study", "2026", "dose"]
    y = 30
    while y < height - 30:
        line = " ".join(rng.choice(words, size=int(rng.integers(4, 10))))
        draw.text((30, y), line, fill=int(rng.integers(0, 60)), font_size=int(10 + index % 4 * 2))
        y += int(14 + index % 4 * 3)
    return np.asarray(page)


def _chart(rng: np.random.Generator, kind: str) -> np.ndarray:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, axes = plt.subplots(figsize=(4, 3), dpi=80)
    x = np.arange(20)
    {"line": lambda: axes.plot(x, rng.normal(size=20).cumsum()), "bar": lambda: axes.bar(x, rng.random(20))}.get(
        kind, lambda: axes.scatter(rng.random(50), rng.random(50))
    )()
    axes.set_title(f"{kind} chart")
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png")
    plt.close(figure)
    return np.asarray(Image.open(buffer).convert("RGB"))


def _documents(seed: int) -> Iterator[OodImage]:
    rng = np.random.default_rng(seed)
    for name in ("page", "text"):
        yield OodImage("documents", name, _uint8(_skimage(name)), f"skimage.data.{name}(): scanned text")
    for index in range(8):
        yield OodImage("documents", f"text-page-{index}", _text_page(rng, index), "generated: a page of text (Pillow)")
    for kind in ("line", "bar", "scatter"):
        chart = _chart(rng, kind)
        yield OodImage("documents", f"{kind}-chart", chart, "generated: a matplotlib chart")
        yield OodImage("documents", f"{kind}-chart-grey", _grey(chart), "generated: a matplotlib chart, in grey")


def _patterns(rng: np.random.Generator, size: int) -> dict[str, Callable[[], np.ndarray]]:
    yy, xx = np.mgrid[0:size, 0:size] / size

    def shapes() -> np.ndarray:
        image = Image.new("L", (size, size), int(rng.integers(0, 80)))
        draw = ImageDraw.Draw(image)
        for _ in range(int(rng.integers(3, 9))):
            x0, y0 = rng.integers(0, size - 20, 2)
            x1, y1 = x0 + rng.integers(10, size // 2), y0 + rng.integers(10, size // 2)
            shape = draw.ellipse if rng.random() < 0.5 else draw.rectangle
            shape((int(x0), int(y0), int(x1), int(y1)), fill=int(rng.integers(60, 256)))
        return np.asarray(image)

    return {
        "black": lambda: np.zeros((size, size)),
        "white": lambda: np.ones((size, size)),
        "grey": lambda: np.full((size, size), 0.5),
        "uniform-noise": lambda: rng.random((size, size)),
        "gaussian-noise": lambda: np.clip(rng.normal(0.5, 0.2, (size, size)), 0, 1),
        "smooth-noise": lambda: gaussian_filter(rng.random((size, size)), 4),
        "checkerboard-8": lambda: ((xx * size // 8 + yy * size // 8) % 2).astype(float),
        "checkerboard-32": lambda: ((xx * size // 32 + yy * size // 32) % 2).astype(float),
        "stripes": lambda: (np.sin(xx * 40) > 0).astype(float),
        "linear-gradient": lambda: xx,
        "radial-gradient": lambda: 1 - np.hypot(xx - 0.5, yy - 0.5),
        "shapes": shapes,
    }


def _synthetic(seed: int, size: int = 256) -> Iterator[OodImage]:
    rng = np.random.default_rng(seed)
    for round_ in range(2):
        for name, make in _patterns(rng, size).items():
            if round_ and name in ("black", "white", "grey", "linear-gradient", "radial-gradient"):
                continue  # deterministic: one of each is enough
            image = make()
            pixels = image if image.dtype == np.uint8 else (np.clip(image, 0, 1) * 255).round().astype(np.uint8)
            yield OodImage("synthetic", f"{name}-{round_}", pixels, f"generated (numpy, seed {seed}): {name}")


def ood_images(seed: int = 0) -> Iterator[OodImage]:
    """Every image of the set, group by group."""
    yield from _medical_images()
    yield from _photographs()
    yield from _faces()
    yield from _documents(seed)
    yield from _synthetic(seed)


def write_ood_set(out: Path, seed: int = 0) -> dict[str, int]:
    """Write the set as PNG files under ``out/<group>/`` with ``out/sources.json``; return the count per group."""
    sources: dict[str, dict[str, str]] = {}
    counts: dict[str, int] = {}
    for image in ood_images(seed):
        path = out / image.group / f"{image.name}.png"
        path.parent.mkdir(parents=True, exist_ok=True)
        Image.fromarray(image.pixels).save(path)
        sources[f"{image.group}/{image.name}.png"] = {"group": image.group, "source": image.source}
        counts[image.group] = counts.get(image.group, 0) + 1
    (out / "sources.json").write_text(json.dumps(sources, indent=1))
    log.info("wrote %d images to %s: %s", len(sources), out, counts)
    return counts


def matplotlib_brain_slice() -> np.ndarray:
    """matplotlib's sample MRI (``s1045.ima``, 256×256, 16-bit): a brain MRI from outside the dataset, as uint8."""
    raw = _matplotlib_sample("s1045.ima.gz")
    return _uint8(np.frombuffer(raw, np.uint16).astype(np.float64).reshape(256, 256))
