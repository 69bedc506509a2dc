"""``brainxai export-bundle --out DIR``: the shipped model as a MONAI Bundle.

The bundle is the folder layout MONAI's tools load every model from (``monai.bundle``, MONAI Label, MONAI Deploy):

- ``models/model.ts``: the artifact's network alone (TorchScript, logits out; no manifest, input check or gate);
- ``configs/inference.json``: the eval preprocessing written as MONAI transforms (``LoadImage`` with Pillow,
  grey [0, 1], a centred square of zeros, torch's antialiased bilinear resize, ``NormalizeIntensity`` with the
  manifest's mean and std), the network, and the temperature (``softmax(logits / T)``), plus ``run``: every image of
  ``dataset_dir`` into ``output_dir/predictions.csv``;
- ``configs/metadata.json``: inputs, outputs, classes, version, licences, intended use, the validation metrics from
  the manifest; validated against MONAI's metadata schema (vendored in ``brainxai/monai_schema``, so no download);
- ``docs/README.md``: what the bundle does and what it does not carry (the input check, the explanations, the
  evidence check, DICOM);
- ``configs/meta_schema_20240725.json``: the schema, so that ``verify_metadata`` runs offline.

Only two MONAI transforms are not used as MONAI has them: its ``Resize`` has no antialiased bilinear filter equal to
torch's, and its ``SpatialPad`` takes a fixed size, so the square and the resize are ``Lambda`` transforms over the
same torch calls :mod:`mlcore.preprocessing` makes. The probabilities equal the service's to 1e-5 (a test).
"""

from __future__ import annotations

import json
import shutil
import warnings
from importlib.metadata import version
from pathlib import Path
from typing import Any

import numpy as np
import torch

from mlcore.artifact import load
from mlcore.files import atomic_write_text

SCHEMA_URL = "https://github.com/Project-MONAI/MONAI-extra-test-data/releases/download/0.8.1/meta_schema_20240725.json"
VENDORED_SCHEMA = Path(__file__).parent / "monai_schema" / "meta_schema_20240725.json"
MONAI_VERSION = "1.6.1"
LICENCE = "Apache-2.0"
READ_PATTERNS = ["*.png", "*.jpg", "*.jpeg", "*.PNG", "*.JPG", "*.JPEG"]


def preprocessing(size: int, mean: float, std: float) -> dict[str, Any]:
    """The eval preprocessing (:mod:`mlcore.preprocessing`) as a MONAI ``Compose`` config: a file path in, a
    (1, size, size) tensor out."""
    square = "$lambda x: monai.transforms.SpatialPad(spatial_size=[max(x.shape[1:])] * 2, method='symmetric')(x)"
    resize = (
        "$lambda x: torch.nn.functional.interpolate(x[None], size=(@size, @size), mode='bilinear', antialias=True, "
        "align_corners=False)[0].clamp(0.0, 1.0) if x.shape[-1] != @size else x.clamp(0.0, 1.0)"
    )
    return {
        "_target_": "Compose",
        "transforms": [
            # Pillow's "F" conversion: grey stays exact, colour becomes BT.601 luma, as grayscale_from_pil does.
            {
                "_target_": "LoadImage",
                "reader": "PILReader",
                "image_only": True,
                "reverse_indexing": False,
                "converter": "$lambda image: image.convert('F')",
                "dtype": "float32",
            },
            {"_target_": "EnsureChannelFirst", "channel_dim": "no_channel"},
            {"_target_": "ScaleIntensityRange", "a_min": 0.0, "a_max": 255.0, "b_min": 0.0, "b_max": 1.0},
            {"_target_": "Lambda", "func": square},
            {"_target_": "Lambda", "func": resize},
            {"_target_": "NormalizeIntensity", "subtrahend": mean, "divisor": std},
        ],
    }


def inference_config(manifest: dict[str, Any], temperature: float) -> dict[str, Any]:
    """``configs/inference.json``: the preprocessing, the network, the calibrated probabilities, and ``run``."""
    size = int(manifest["input"]["size"])
    return {
        "imports": ["$import glob", "$import os", "$import csv", "$import torch", "$import monai"],
        "bundle_root": ".",
        "device": "$torch.device('cpu')",
        "dataset_dir": "samples",
        "output_dir": "$@bundle_root + '/eval'",
        "classes": list(manifest["classes"]),
        "size": size,
        "temperature": temperature,
        "datalist": "$sorted(f for p in @read_patterns for f in glob.glob(os.path.join(@dataset_dir, '**', p), "
        "recursive=True))",
        "read_patterns": READ_PATTERNS,
        "network_def": "$torch.jit.load(os.path.join(@bundle_root, 'models', 'model.ts'), map_location=@device)",
        "network": "$@network_def.eval()",
        "preprocessing": preprocessing(
            size, float(manifest["preprocessing"]["mean"]), float(manifest["preprocessing"]["std"])
        ),
        "probabilities": "$lambda logits: torch.softmax(logits / @temperature, dim=1)",
        "predict": "$torch.no_grad()(lambda path: @probabilities(@network(@preprocessing(path).as_tensor()[None]"
        ".to(@device)))[0].tolist())",
        "write_predictions": "$lambda rows: (os.makedirs(@output_dir, exist_ok=True), csv.writer(open(os.path.join("
        "@output_dir, 'predictions.csv'), 'w', newline='')).writerows([['path', 'answer', *['p_' + c for c in "
        "@classes]]] + rows))",
        "run": [
            "$@write_predictions([[path, @classes[max(range(len(p)), key=p.__getitem__)], *p] for path, p in "
            "((path, @predict(path)) for path in @datalist)])",
        ],
    }


def metadata(manifest: dict[str, Any]) -> dict[str, Any]:
    """``configs/metadata.json`` in MONAI's metadata schema, from the artifact's manifest."""
    size = int(manifest["input"]["size"])
    classes = list(manifest["classes"])
    validation = manifest.get("metrics", {}).get("validation", {})
    metrics = {key: validation[key] for key in ("n", "accuracy", "macro_f1") if key in validation}
    return {
        "schema": SCHEMA_URL,
        "version": str(manifest["version"]),
        "changelog": {str(manifest["version"]): "exported from the brainxai artifact by brainxai export-bundle"},
        "monai_version": MONAI_VERSION,
        "pytorch_version": torch.__version__.split("+")[0],
        "numpy_version": np.__version__,
        "required_packages_version": {"pillow": version("pillow")},
        "name": str(manifest["name"]),
        "task": "Brain tumour classification of a 2D MRI slice: glioma, meningioma, pituitary tumour or no tumour",
        "description": f"A CNN ({manifest['architecture']['name']}, {manifest['parameters']} parameters) that "
        "classifies one axial, coronal or sagittal 2D brain MRI slice (PNG or JPEG, the "
        "T1 contrast-enhanced slices it was trained on) into four classes, with calibrated probabilities. The "
        "bundle carries the network and its preprocessing only: the brainxai service's input check, explanations "
        "and evidence check are not in it (docs/README.md).",
        "authors": "brainxai",
        "copyright": "Copyright brainxai; " + LICENCE,
        "data_source": "Brain Tumor MRI Dataset (Kaggle, CC0-1.0), its Training split; see the model card",
        "data_type": "png/jpeg",
        "image_classes": "one grey channel, intensity in [0, 1] scaled from 8 bits, padded to a centred square and "
        f"resized to {size}x{size}, then normalised with the training mean and std",
        "pred_classes": ", ".join(f"{index}: {name}" for index, name in enumerate(classes)),
        "eval_metrics": {f"validation_{key}": value for key, value in metrics.items()},
        "intended_use": "Research use only: not a medical device, not for diagnosis. For 2D brain MRI slices; it "
        "answers one of four classes for any image, brain or not (the input check is not in the bundle).",
        "references": ["brainxai model card: models/MODEL_CARD.md of the brainxai repository"],
        "network_data_format": network_data_format(size, classes),
    }


def network_data_format(size: int, classes: list[str]) -> dict[str, Any]:
    """The metadata's description of the network's input (one grey channel, size x size) and output (logits)."""
    return {
        "inputs": {
            "image": {
                "type": "image",
                "format": "magnitude",
                "modality": "MR",
                "num_channels": 1,
                "spatial_shape": [size, size],
                "dtype": "float32",
                "value_range": [],
                "is_patch_data": False,
                "channel_def": {"0": "image"},
            }
        },
        "outputs": {
            "pred": {
                "type": "logits",
                "format": "classes",
                "num_channels": len(classes),
                "spatial_shape": [1],
                "dtype": "float32",
                "value_range": [],
                "is_patch_data": False,
                "channel_def": {str(index): name for index, name in enumerate(classes)},
            }
        },
        "post_processed_outputs": {
            "probabilities": {
                "type": "probabilities",
                "format": "classes",
                "num_channels": len(classes),
                "spatial_shape": [1],
                "dtype": "float32",
                "value_range": [0, 1],
                "is_patch_data": False,
                "channel_def": {str(index): name for index, name in enumerate(classes)},
            }
        },
    }


def readme(manifest: dict[str, Any], sha256: str) -> str:
    """``docs/README.md``: what the bundle does, how to run it, and what it does not carry."""
    return f"""# {manifest["name"]} {manifest["version"]} as a MONAI Bundle

Classifies a 2D brain MRI slice (PNG or JPEG) as {", ".join(manifest["classes"])}: calibrated probabilities,
softmax(logits / T) with the temperature fitted for these weights. Research use only; not a medical device.

    python -c "from monai.bundle import run; run(config_file='configs/inference.json', dataset_dir='IMAGES')"

writes `eval/predictions.csv` (path, answer, one probability per class); `python -m monai.bundle run
--config_file configs/inference.json --dataset_dir IMAGES` does the same with `fire` installed. One image:

    from monai.bundle import ConfigParser
    parser = ConfigParser(); parser.read_config("configs/inference.json"); parser["bundle_root"] = "."
    probabilities = parser.get_parsed_content("predict")("slice.jpg")

## What it does not carry

- **The input check.** The service refuses images that are not brain MRI slices (other body parts, CT, colour,
  documents); this bundle answers one of the four classes for any image. Use it only on brain MRI slices.
- **The explanations** (Grad-CAM, LIME, Integrated Gradients, Occlusion) and the **evidence check** (does the answer
  depend on the highlighted region?): run the brainxai service or `brainxai analyze --explain` for them.
- **DICOM**: the service reads DICOM (windowing, frames, series); this bundle reads PNG and JPEG of 8 bits.

`models/model.ts` is the network of the brainxai artifact (sha256 {sha256}), logits out.
Licence: {LICENCE} (the weights); the training data is CC0-1.0.
"""


def export_bundle(model_path: Path, out: Path) -> Path:
    """Write the MONAI Bundle of the artifact at ``model_path`` into ``out`` (see the module); returns ``out``."""
    loaded = load(model_path)
    temperature = loaded.feature_detector.temperature if loaded.feature_detector is not None else 1.0
    manifest = loaded.manifest
    for folder in ("configs", "models", "docs"):
        (out / folder).mkdir(parents=True, exist_ok=True)
    with warnings.catch_warnings():  # torch's notice that TorchScript is deprecated, nothing else
        warnings.filterwarnings("ignore", message=r"`torch\.jit\.\w+` is deprecated", category=FutureWarning)
        torch.jit.save(loaded.module, str(out / "models" / "model.ts"))
    atomic_write_text(out / "configs" / "inference.json", json.dumps(inference_config(manifest, temperature), indent=2))
    atomic_write_text(out / "configs" / "metadata.json", json.dumps(metadata(manifest), indent=2))
    atomic_write_text(out / "docs" / "README.md", readme(manifest, loaded.sha256))
    shutil.copyfile(VENDORED_SCHEMA, out / "configs" / VENDORED_SCHEMA.name)
    return out
