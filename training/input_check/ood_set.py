"""Images that are not brain MRI slices, by kind, from what this disk holds and what code can make.

``python -m training ood-set --out DIR`` writes ``DIR/<part>/<kind>/<name>.png``, ``DIR/sources.json`` (each image's
kind, part, origin and licence) and ``DIR/SOURCES.md`` (the same, for people). Nothing is downloaded: the images come
from the sample data inside installed packages (:mod:`training.input_check.sample_sources`) and from seeded generators.

Two parts, split by **source**, never by variant: the input gate's fit sees only ``fit``; ``measure`` is what
``docs/INPUT_CHECK.md`` reports, and no fit or threshold ever reads it. A real source gives several *views* (a crop,
a flip or quarter turn, a display window), so a count of views is not a count of independent images: SOURCES.md
gives both. The kinds:

``ct-head``, ``ct-body``, ``mr-body`` (MR of other body parts), ``radiograph``, ``nuclear``, ``ultrasound``,
``microscopy``, ``photographs``, ``faces``, ``documents``, ``screenshots``, ``synthetic`` (patterns),
``colour-overlay`` (a brain slice under a colour map) and ``brain-tiled`` (brain slices cropped to a patch or tiled
into a mosaic, as scanners' mosaics and contact sheets are).
"""

from __future__ import annotations

import io
import json
import logging
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw
from scipy.ndimage import gaussian_filter

from training.input_check.mni_phantoms import ct_slices
from training.input_check.sample_sources import (
    DICOM_SAMPLES,
    VOLUME_SAMPLES,
    axial_slices,
    dicom_values,
    matplotlib_png,
    matplotlib_sample,
    skimage_image,
    volume,
)

log = logging.getLogger(__name__)

PARTS = ("fit", "measure")
# Which part each real DICOM source belongs to (the examples — a chest radiograph, the abdominal MR, a head
# CT — are measured, never fitted).
DICOM_PARTS = {
    "ct-head": {"fit": ["ct-head-j2k"], "measure": ["ct-head-693", "ct-enhanced"]},
    "ct-body": {"fit": ["ct-pancreas", "ct-small"], "measure": ["ct-neck"]},
    "mr-body": {"fit": ["mr-abdomen-siemens", "mr-shoulder"], "measure": ["mr-abdomen-liver"]},
    "radiograph": {"fit": ["xr-extremity"], "measure": ["xr-chest"]},
    "nuclear": {"fit": ["nm-bone-b"], "measure": ["nm-bone-a"]},
    "ultrasound": {"fit": ["us-abdomen", "us-rgb", "us-palette"], "measure": ["us-aloka", "us-ybr", "us-jpeg2k"]},
}
# Display windows (centre, width in Hounsfield units) a CT is read in.
CT_WINDOWS = ((40, 80), (75, 215), (50, 400), (600, 2800), (-600, 1500))
PHOTOS = (
    "astronaut", "camera", "chelsea", "coffee", "rocket", "horse", "clock", "coins", "moon", "hubble_deep_field",
    "brick", "grass", "gravel", "colorwheel", "logo",
)  # fmt: skip
VIEWS = {"fit": 24, "measure": 12}  # views per real source image, per part
LICENCES = {
    "skimage": "scikit-image (BSD-3); bundled image, public domain or CC0 (skimage/data/README.txt)",
    "sklearn": "scikit-learn (BSD-3); sample photograph, CC-BY",
    "matplotlib": "matplotlib (PSF-like matplotlib licence); sample data",
    "generated": "made by code here (this repository's licence)",
}


@dataclass(frozen=True)
class OodImage:
    """One image: its kind, part, a file name, uint8 pixels (H×W grey or H×W×3 colour), origin and licence."""

    kind: str
    part: str
    name: str
    pixels: np.ndarray
    source: str
    licence: str


def _uint8(image: np.ndarray) -> np.ndarray:
    image = np.asarray(image, dtype=np.float64)
    low, high = float(image.min()), float(image.max())
    scaled = (image - low) / (high - low) if high > low else np.zeros_like(image)
    return (scaled * 255).round().astype(np.uint8)


def _grey(image: np.ndarray) -> np.ndarray:
    return image if image.ndim == 2 else np.asarray(Image.fromarray(image[..., :3].astype(np.uint8)).convert("L"))


def _window(values: np.ndarray, rng: np.random.Generator, windows: Sequence[tuple[float, float]] | None) -> np.ndarray:
    """Values to [0, 1] in one display window: a CT window in HU, else a percentile window with a gamma."""
    if windows:
        centre, width = windows[int(rng.integers(len(windows)))]
        return np.clip((values - (centre - width / 2)) / width, 0.0, 1.0)
    low_p, high_p = ((0.5, 99.5), (2.0, 98.0), (0.0, 100.0), (5.0, 99.0))[int(rng.integers(4))]
    low, high = np.percentile(values, [low_p, high_p])
    scaled = np.clip((values - low) / (high - low), 0.0, 1.0) if high > low else np.zeros_like(values)
    return scaled ** float(rng.uniform(0.7, 1.4))


def view(
    values: np.ndarray, rng: np.random.Generator, windows: Sequence[tuple[float, float]] | None = None
) -> np.ndarray:
    """One view of an image: a display window (grey only), a crop of 55–100 % of each side, a flip or quarter turn,
    the longer side capped at 256 px; uint8."""
    image = values if values.ndim == 3 else _window(values, rng, windows)
    height, width = image.shape[:2]
    if rng.random() < 0.7:
        crop_h, crop_w = int(height * rng.uniform(0.55, 1.0)), int(width * rng.uniform(0.55, 1.0))
        top, left = int(rng.integers(0, height - crop_h + 1)), int(rng.integers(0, width - crop_w + 1))
        image = image[top : top + crop_h, left : left + crop_w]
    if rng.random() < 0.5:
        image = image[:, ::-1]
    if rng.random() < 0.25:
        image = np.rot90(image, int(rng.integers(1, 4)))
    pixels = image.astype(np.uint8) if values.ndim == 3 else (image * 255).round().astype(np.uint8)
    picture = Image.fromarray(np.ascontiguousarray(pixels))
    picture.thumbnail((256, 256), Image.Resampling.LANCZOS)
    return np.asarray(picture)


def _dicom_kinds(seed: int) -> Iterator[OodImage]:
    rng = np.random.default_rng(seed)
    for kind, parts in DICOM_PARTS.items():
        for part, names in parts.items():
            for name in names:
                origin = DICOM_SAMPLES[name]
                read = dicom_values(origin)
                if read is None:
                    continue
                values, colour = read
                windows = CT_WINDOWS if kind.startswith("ct-") else None
                source = f"{origin.package}: {origin.path} ({origin.shows})"
                for index in range(VIEWS[part]):
                    pixels = view(values, rng, windows)
                    if colour and index % 2:
                        pixels = _grey(pixels)
                    yield OodImage(kind, part, f"{name}-{index:02d}", pixels, source, origin.licence)


# Hounsfield units → relative MR signal, for body MR synthesised from the fit part's body CTs: (HU, T1 signal, T2
# signal) knots — fat bright on both, fluid dark on T1 and bright on T2, muscle and organs grey, cortical bone dark.
PSEUDO_MR_KNOTS = (
    (-1000.0, 0.0, 0.0), (-300.0, 0.05, 0.05), (-120.0, 0.9, 0.75), (-40.0, 0.85, 0.7), (0.0, 0.15, 0.95),
    (20.0, 0.2, 0.8), (40.0, 0.35, 0.3), (60.0, 0.5, 0.4), (150.0, 0.45, 0.35), (400.0, 0.6, 0.5),
    (1000.0, 0.05, 0.05), (3000.0, 0.05, 0.05),
)  # fmt: skip


def pseudo_mr(units: np.ndarray, contrast: str, rng: np.random.Generator) -> np.ndarray:
    """A body CT (HU) as a T1- or T2-like MR would show that anatomy: the signal of each tissue, blurred to MR
    resolution, with magnitude noise and a bias field; in [0, 1]."""
    knots = np.array(PSEUDO_MR_KNOTS)
    signal = np.interp(units, knots[:, 0], knots[:, 1 if contrast == "t1" else 2])
    signal = gaussian_filter(signal, float(rng.uniform(0.8, 2.0)))
    field = 1 + 0.3 * gaussian_filter(rng.normal(size=signal.shape), max(signal.shape) / 5) * 10
    sigma = float(rng.uniform(0.01, 0.04))
    noisy = np.hypot(signal * field + rng.normal(0, sigma, signal.shape), rng.normal(0, sigma, signal.shape))
    return np.clip(noisy / max(float(np.percentile(noisy, 99.5)), 1e-6), 0.0, 1.0)


def _pseudo_body_mr(seed: int) -> Iterator[OodImage]:
    """The fit part's body MR besides the real ones: T1- and T2-like MR synthesised from its body CTs."""
    rng = np.random.default_rng(seed + 50)
    for name in DICOM_PARTS["ct-body"]["fit"]:
        origin = DICOM_SAMPLES[name]
        read = dicom_values(origin)
        if read is None:
            continue
        for index in range(VIEWS["fit"]):
            contrast = ("t1", "t2")[index % 2]
            pixels = view(pseudo_mr(read[0], contrast, rng), rng)
            source = f"MR ({contrast.upper()}-like) synthesised from {origin.package}: {origin.path} ({origin.shows})"
            yield OodImage("mr-body", "fit", f"pseudo-mr-{name}-{index:02d}", pixels, source, origin.licence)


def _head_ct(seed: int) -> Iterator[OodImage]:
    """The fit part's head CTs besides the real one: the Shepp-Logan phantom and CTs synthesised from the MNI
    template (:mod:`training.input_check.mni_phantoms`), whole heads and brains alone (as brain-extracted or perfusion
    CT shows them)."""
    rng = np.random.default_rng(seed)
    phantom = skimage_image("shepp_logan_phantom")
    for index in range(8):
        yield OodImage(
            "ct-head", "fit", f"shepp-logan-{index}", view(phantom, rng), "skimage.data.shepp_logan_phantom()",
            LICENCES["skimage"],
        )  # fmt: skip
    for stripped in (False, True):
        for index, (plane, window) in enumerate(ct_slices(24, seed + stripped, skull_stripped=stripped)):
            what = "brain only, " if stripped else ""
            yield OodImage(
                "ct-head", "fit", f"mni-ct-{'brain-' if stripped else ''}{index:02d}", view(plane, rng),
                f"synthesised from the MNI template ({what}{window} window; training/input_check/mni_phantoms.py)",
                VOLUME_SAMPLES["mni-gm"].licence,
            )  # fmt: skip


def _fluorescence(rng: np.random.Generator, size: int = 256) -> np.ndarray:
    """A generated fluorescence-microscopy-like field: blurred blobs of varied size on a dark, noisy ground."""
    from skimage.data import binary_blobs

    blobs = binary_blobs(size, blob_size_fraction=float(rng.uniform(0.03, 0.12)), rng=int(rng.integers(1 << 30)))
    field = gaussian_filter(blobs.astype(np.float64), float(rng.uniform(1, 3))) + rng.normal(0, 0.05, (size, size))
    return _uint8(np.clip(field, 0, None))


def _microscopy(seed: int) -> Iterator[OodImage]:
    rng = np.random.default_rng(seed)
    sources = {
        "fit": {"cell": "microscopy", "microaneurysms": "retina, grey"},
        "measure": {"immunohistochemistry": "histology, colour", "retina": "fundus photograph"},
    }
    for part, images in sources.items():
        for name, shows in images.items():
            values = skimage_image(name).astype(np.float64)
            for index in range(VIEWS[part] // 2):
                pixels = view(values, rng)
                pixels = _grey(pixels) if index % 2 else pixels
                yield OodImage(
                    "microscopy", part, f"{name}-{index:02d}", pixels, f"skimage.data.{name}(): {shows}",
                    LICENCES["skimage"],
                )  # fmt: skip
        for index in range(10):
            yield OodImage(
                "microscopy", part, f"fluorescence-{index:02d}", _fluorescence(rng),
                f"generated (skimage binary_blobs, {part} part of seed {seed}): fluorescence-like",
                LICENCES["generated"],
            )  # fmt: skip


def _photographs(seed: int) -> Iterator[OodImage]:
    from sklearn.datasets import load_sample_images

    rng = np.random.default_rng(seed)
    photos: list[tuple[str, np.ndarray, str, str]] = []
    for name in PHOTOS:
        photos.append((name, _uint8(skimage_image(name)), f"skimage.data.{name}()", LICENCES["skimage"]))
    for name, image in zip(("china", "flower"), load_sample_images().images, strict=True):
        photos.append((name, image, f"sklearn.datasets.load_sample_images(): {name}.jpg", LICENCES["sklearn"]))
    minduka = matplotlib_png("Minduka_Present_Blue_Pack.png")
    photos.append(("minduka", minduka, "matplotlib sample data Minduka_Present_Blue_Pack.png", LICENCES["matplotlib"]))
    for number, (name, image, source, licence) in enumerate(photos):
        part = PARTS[number % 2]
        for index in range(4):
            pixels = view(image.astype(np.float64) if image.ndim == 2 else image, rng)
            pixels = _grey(pixels) if index % 2 or image.ndim == 2 else pixels
            yield OodImage("photographs", part, f"{name}-{index}", pixels, source, licence)


def _faces() -> Iterator[OodImage]:
    faces = skimage_image("lfw_subset")
    for index in range(60):
        face = np.asarray(Image.fromarray(_uint8(faces[index])).resize((112, 112), Image.Resampling.BICUBIC))
        part = "fit" if index < 30 else "measure"
        source = f"skimage.data.lfw_subset(): Labeled Faces in the Wild, faces {'0-29' if index < 30 else '30-59'}"
        yield OodImage("faces", part, f"lfw-{index:03d}", face, source, LICENCES["skimage"])
    hopper = matplotlib_png("grace_hopper.jpg")
    source = "matplotlib sample data grace_hopper.jpg"
    yield OodImage("faces", "measure", "grace-hopper-colour", hopper, source, LICENCES["matplotlib"])
    yield OodImage("faces", "measure", "grace-hopper-grey", _grey(hopper), source, LICENCES["matplotlib"])


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
    for part_index, part in enumerate(PARTS):
        rng = np.random.default_rng(seed + part_index)
        generated, made = LICENCES["generated"], f"generated (seed {seed + part_index})"
        for index in range(10):
            page = _text_page(rng, index)
            yield OodImage("documents", part, f"text-page-{index}", page, f"{made}: a page of text", generated)
        for kind in ("line", "bar", "scatter"):
            chart = _chart(rng, kind)
            yield OodImage("documents", part, f"{kind}-chart", chart, f"{made}: a matplotlib chart", generated)
            yield OodImage("documents", part, f"{kind}-chart-grey", _grey(chart), f"{made}: a chart, grey", generated)
    for name in ("page", "text"):
        pixels = _uint8(skimage_image(name))
        yield OodImage(
            "documents", "measure", name, pixels, f"skimage.data.{name}(): scanned text", LICENCES["skimage"]
        )


def _screenshot(rng: np.random.Generator, dark: bool) -> np.ndarray:
    """A generated application window: title bar, a side panel of buttons, text lines and an inset picture."""
    width, height = int(rng.integers(320, 640)), int(rng.integers(240, 480))
    ground = (30, 30, 34) if dark else (236, 236, 240)
    ink = (220, 220, 220) if dark else (30, 30, 30)
    page = Image.new("RGB", (width, height), ground)
    draw = ImageDraw.Draw(page)
    accent = tuple(int(v) for v in rng.integers(40, 220, 3))
    draw.rectangle((0, 0, width, 24), fill=accent)
    draw.text((8, 6), "viewer - study 2026", fill=(255, 255, 255))
    for row in range(int(rng.integers(3, 8))):
        draw.rectangle((8, 34 + row * 30, 90, 58 + row * 30), outline=ink, fill=ground)
        draw.text((14, 40 + row * 30), f"button {row}", fill=ink)
    for line in range(int(rng.integers(4, 12))):
        draw.text((110, 34 + line * 16), "lorem ipsum " * int(rng.integers(1, 4)), fill=ink)
    inset = Image.fromarray(_fluorescence(rng, 96)).convert("RGB")
    page.paste(inset, (width - 110, height - 110))
    return np.asarray(page)


def _screenshots(seed: int) -> Iterator[OodImage]:
    for part_index, part in enumerate(PARTS):
        rng = np.random.default_rng(seed + 10 + part_index)
        for index in range(16):
            pixels = _screenshot(rng, dark=index % 2 == 1)
            pixels = _grey(pixels) if index % 4 >= 2 else pixels
            source = f"generated (Pillow, seed {seed + 10 + part_index}): an application window"
            yield OodImage("screenshots", part, f"window-{index:02d}", pixels, source, LICENCES["generated"])


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
        return np.asarray(image) / 255.0

    def ring() -> np.ndarray:
        radius = np.hypot(xx - 0.5, yy - 0.5)
        return ((radius < 0.42) * 0.4 + (np.abs(radius - 0.42) < 0.03) * 0.6) * (
            1 + 0.1 * rng.normal(size=(size, size))
        )

    return {
        "black": lambda: np.zeros((size, size)),
        "white": lambda: np.ones((size, size)),
        "grey": lambda: np.full((size, size), 0.5),
        "uniform-noise": lambda: rng.random((size, size)),
        "gaussian-noise": lambda: np.clip(rng.normal(0.5, 0.2, (size, size)), 0, 1),
        "smooth-noise": lambda: gaussian_filter(rng.random((size, size)), float(rng.uniform(2, 8))),
        "checkerboard-8": lambda: ((xx * size // 8 + yy * size // 8) % 2).astype(float),
        "checkerboard-32": lambda: ((xx * size // 32 + yy * size // 32) % 2).astype(float),
        "stripes": lambda: (np.sin(xx * float(rng.uniform(20, 60))) > 0).astype(float),
        "linear-gradient": lambda: xx,
        "radial-gradient": lambda: 1 - np.hypot(xx - 0.5, yy - 0.5),
        "shapes": shapes,
        "ring": ring,
    }


DETERMINISTIC_PATTERNS = ("black", "white", "grey", "linear-gradient", "radial-gradient")


def _synthetic(seed: int, size: int = 256) -> Iterator[OodImage]:
    for part_index, part in enumerate(PARTS):
        rng = np.random.default_rng(seed + 20 + part_index)
        for round_ in range(2):
            for name, make in _patterns(rng, size).items():
                # The same whatever the seed: one of each, in the measure part only (the cheap checks refuse them).
                if name in DETERMINISTIC_PATTERNS and (round_ or part == "fit"):
                    continue
                pixels = (np.clip(make(), 0, 1) * 255).round().astype(np.uint8)
                source = f"generated (numpy, seed {seed + 20 + part_index}): {name}"
                yield OodImage("synthetic", part, f"{name}-{round_}", pixels, source, LICENCES["generated"])


def _brain_slices() -> list[tuple[np.ndarray, str, str]]:
    """Brain MRI slices from outside the dataset that overlays and mosaics are made of: matplotlib's sample MRI
    and T1 slices of the MNI template."""
    slices = [(matplotlib_brain_slice(), "matplotlib sample data s1045.ima (brain MRI)", LICENCES["matplotlib"])]
    t1 = volume(VOLUME_SAMPLES["mni-t1"])
    if t1 is not None:
        for plane in axial_slices(t1, 6):
            slices.append((_uint8(plane), "MNI template T1 slice (nilearn)", VOLUME_SAMPLES["mni-t1"].licence))
    return slices


def _colour_overlays(seed: int) -> Iterator[OodImage]:
    from matplotlib import colormaps

    rng = np.random.default_rng(seed + 30)
    for number, (brain, source, licence) in enumerate(_brain_slices()):
        for index in range(5):
            heat = gaussian_filter(rng.random(brain.shape), float(rng.uniform(8, 30)))
            heat = (heat - heat.min()) / (heat.max() - heat.min())
            cmap = colormaps[("jet", "hot", "viridis", "inferno", "turbo")[index]]
            coloured = cmap(heat)[..., :3] * 255
            alpha = float(rng.uniform(0.3, 0.6))
            mixed = (1 - alpha) * brain[..., None] + alpha * coloured
            name = f"overlay-{number}-{index}"
            yield OodImage("colour-overlay", "measure", name, mixed.round().astype(np.uint8), source, licence)


def _mosaic(slices: Sequence[np.ndarray], rng: np.random.Generator) -> np.ndarray:
    side = int(rng.integers(2, 5))
    tile = 96
    canvas = np.zeros((side * tile, side * tile), np.uint8)
    for row in range(side):
        for col in range(side):
            image = slices[int(rng.integers(len(slices)))]
            canvas[row * tile : (row + 1) * tile, col * tile : (col + 1) * tile] = np.asarray(
                Image.fromarray(image).resize((tile, tile), Image.Resampling.BILINEAR)
            )
    return canvas


def _patch(image: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """A patch of 15–30 % of each side, from the middle half of the image, enlarged to 224 px."""
    height, width = image.shape
    crop_h, crop_w = int(height * rng.uniform(0.15, 0.3)), int(width * rng.uniform(0.15, 0.3))
    top = int(rng.integers(height // 4, max(height // 4 + 1, 3 * height // 4 - crop_h)))
    left = int(rng.integers(width // 4, max(width // 4 + 1, 3 * width // 4 - crop_w)))
    patch = image[top : top + crop_h, left : left + crop_w]
    return np.asarray(Image.fromarray(patch).resize((224, 224), Image.Resampling.BICUBIC))


def brain_tiled(slices: Sequence[np.ndarray], part: str, *, source: str, licence: str, seed: int) -> Iterator[OodImage]:
    """Mosaics of several brain slices and small patches of one, ``count`` of each."""
    rng = np.random.default_rng(seed + 40)
    for index in range(VIEWS[part]):
        yield OodImage("brain-tiled", part, f"mosaic-{index:02d}", _mosaic(slices, rng), f"mosaic of {source}", licence)
        image = slices[int(rng.integers(len(slices)))]
        yield OodImage("brain-tiled", part, f"patch-{index:02d}", _patch(image, rng), f"patch of {source}", licence)


def dataset_slices(
    data_root: Path, split_file: Path, *, count: int = 60, seed: int = 0
) -> dict[str, list[np.ndarray]] | None:
    """``count`` brain slices of the model's train side (for the fit part) and of its validation side (for the
    measure part), as uint8 at most 256 px; None (logged) when the data or the split is missing."""
    from training.data.dataset import read_gray
    from training.evaluation.evaluate import select_files

    if not data_root.is_dir() or not split_file.is_file():
        log.warning(
            "no dataset at %s or no split %s: mosaics and patches from outside the dataset only", data_root, split_file
        )
        return None
    rng = np.random.default_rng(seed)
    slices: dict[str, list[np.ndarray]] = {}
    for part, side in (("fit", "train"), ("measure", "val")):
        _, files = select_files(data_root, split_file, side)
        chosen = rng.choice(len(files), size=min(count, len(files)), replace=False)
        images = []
        for index in sorted(chosen.tolist()):
            picture = Image.fromarray((read_gray(files[index][0]) * 255).round().astype(np.uint8))
            picture.thumbnail((256, 256))
            images.append(np.asarray(picture))
        slices[part] = images
    return slices


def ood_images(
    seed: int = 0, *, dataset_slices: Mapping[str, Sequence[np.ndarray]] | None = None
) -> Iterator[OodImage]:
    """Every image of the set, kind by kind. ``dataset_slices``: brain slices of the dataset per part (the fit part
    from the model's train side, the measure part from its validation side) that mosaics and patches are made of;
    without them the fit part has none and the measure part uses brain slices from outside the dataset."""
    yield from _dicom_kinds(seed)
    yield from _pseudo_body_mr(seed)
    yield from _head_ct(seed)
    yield from _microscopy(seed)
    yield from _photographs(seed)
    yield from _faces()
    yield from _documents(seed)
    yield from _screenshots(seed)
    yield from _synthetic(seed)
    yield from _colour_overlays(seed)
    outside = [image for image, _, _ in _brain_slices()]
    by_part = dict(dataset_slices or {})
    for part in PARTS:
        slices = by_part.get(part) or (outside if part == "measure" else [])
        source = "the dataset's brain slices" if by_part.get(part) else "brain slices from outside the dataset"
        if slices:
            licence = "CC0 (Brain Tumor MRI Dataset)" if by_part.get(part) else "see the slices' own sources"
            yield from brain_tiled(slices, part, source=source, licence=licence, seed=seed + PARTS.index(part))


def write_ood_set(
    out: Path, seed: int = 0, *, dataset_slices: Mapping[str, Sequence[np.ndarray]] | None = None
) -> dict[str, dict[str, int]]:
    """Write the set as PNG files under ``out/<part>/<kind>/`` with ``sources.json`` and ``SOURCES.md``; return the
    count per part and kind."""
    sources: dict[str, dict[str, str]] = {}
    counts: dict[str, dict[str, int]] = {part: {} for part in PARTS}
    for image in ood_images(seed, dataset_slices=dataset_slices):
        relative = f"{image.part}/{image.kind}/{image.name}.png"
        path = out / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        Image.fromarray(image.pixels).save(path)
        sources[relative] = {"kind": image.kind, "part": image.part, "source": image.source, "licence": image.licence}
        counts[image.part][image.kind] = counts[image.part].get(image.kind, 0) + 1
    (out / "sources.json").write_text(json.dumps(sources, indent=1))
    (out / "SOURCES.md").write_text(sources_markdown(sources))
    log.info("wrote %d images to %s: %s", len(sources), out, counts)
    return counts


def sources_markdown(sources: dict[str, dict[str, str]]) -> str:
    """SOURCES.md: per part and kind, each distinct origin with its licence and how many views it gave."""
    lines = ["# Where each image comes from", "", "Written by `python -m training ood-set`; one row per origin.", ""]
    for part in PARTS:
        lines += [f"## Part `{part}`", "", "| kind | origin | licence | images |", "|---|---|---|---:|"]
        rows: dict[tuple[str, str, str], int] = {}
        for entry in sources.values():
            if entry["part"] == part:
                key = (entry["kind"], entry["source"], entry["licence"])
                rows[key] = rows.get(key, 0) + 1
        lines += [
            f"| {kind} | {source} | {licence} | {count} |" for (kind, source, licence), count in sorted(rows.items())
        ]
        lines.append("")
    return "\n".join(lines)


# The small images the tests commit: one of each kind the input check must refuse however it is sent.
TEST_SAMPLES = {
    "chest-radiograph": "xr-chest",
    "abdominal-mr": "mr-abdomen-liver",
    "head-ct": "ct-head-693",
}


def write_test_samples(out: Path) -> list[Path]:
    """Write the tests' samples (PNG, longer side 256 px) and their SOURCES.md to ``out``: a chest radiograph, an
    abdominal MR and a head CT (each whole, in its file's own or a brain window), and a colour overlay on
    matplotlib's sample head MRI."""
    out.mkdir(parents=True, exist_ok=True)
    rows, written = [], []
    for name, sample in TEST_SAMPLES.items():
        origin = DICOM_SAMPLES[sample]
        read = dicom_values(origin)
        if read is None:
            raise FileNotFoundError(f"{origin.package} is not installed: {origin.path} is needed for {name}")
        values, _ = read
        windows = [CT_WINDOWS[0]] if name == "head-ct" else None
        pixels = _window(values, np.random.default_rng(0), windows) if windows else _uint8(values) / 255.0
        picture = Image.fromarray((np.asarray(pixels) * 255).round().astype(np.uint8))
        picture.thumbnail((256, 256), Image.Resampling.LANCZOS)
        written.append(out / f"{name}.png")
        picture.save(written[-1])
        rows.append(f"| `{name}.png` | {origin.package}: {origin.path} ({origin.shows}) | {origin.licence} |")
    overlay = next(image for image in _colour_overlays(0) if image.name == "overlay-0-0")
    written.append(out / "colour-overlay.png")
    Image.fromarray(overlay.pixels).save(written[-1])
    rows.append(f"| `colour-overlay.png` | {overlay.source}, under a generated jet map | {overlay.licence} |")
    header = ["# Images that are not brain MRI slices, for the tests", "", "Written by "
              "`python -m training ood-set --test-samples tests/data/not-brain`; none is in the gate's fit part.", "",
              "| file | origin | licence |", "|---|---|---|"]  # fmt: skip
    (out / "SOURCES.md").write_text("\n".join(header + rows) + "\n")
    return written


def matplotlib_brain_slice() -> np.ndarray:
    """matplotlib's sample MRI (``s1045.ima``, 256×256, 16-bit): a brain MRI from outside the dataset, as uint8."""
    raw = matplotlib_sample("s1045.ima.gz")
    return _uint8(np.frombuffer(raw, np.uint16).astype(np.float64).reshape(256, 256))
