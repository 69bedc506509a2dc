"""A fit's starting checkpoint from a shipped artifact: the artifact's weights as a run's ``best.pt``.

The shipped model's run folder is not kept, but its artifact holds the kept epoch's weights, the recipe, the
preprocessing and the data's fingerprint. Its "notumor" logit was lowered at export (the operating point); the
checkpoint gets it back, so that a fine-tune starts from the weights as fitted and chooses its own offset.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from mlcore import artifact
from mlcore.errors import TrainingError
from training.artifact.operating_point import lower_notumor_logit
from training.fit.checkpoint import save_checkpoint
from training.fit.loop import CHECKPOINT_VERSION
from training.fit.models import build_model


def checkpoint_from_artifact(model_path: Path, out: Path, *, data: str) -> dict[str, Any]:
    """Write ``out`` (a ``best.pt``) holding the weights of the artifact at ``model_path``, its notumor offset undone,
    with the recipe, classes, preprocessing and fingerprint its manifest records; ``data``: the Training folder the
    fine-tune reads (the recipe's location). Returns the checkpoint."""
    loaded = artifact.load(model_path)
    manifest = loaded.manifest
    architecture = manifest["architecture"]
    model = build_model(architecture["name"], len(loaded.classes), architecture["width"], architecture["dropout"])
    try:
        model.load_state_dict(loaded.module.state_dict())
    except RuntimeError as exc:
        raise TrainingError(f"{model_path}'s weights do not fit {architecture['name']}: {exc}") from exc
    offset = float(manifest["training"].get("notumor_logit_offset", 0.0))
    lower_notumor_logit(model.head, loaded.classes, -offset)
    recipe = manifest["training"]["recipe"]
    checkpoint = {
        "version": CHECKPOINT_VERSION,
        "config": {**recipe, "data": data, "out": str(out.parent)},
        "classes": loaded.classes,
        "preprocess": {
            "size": manifest["input"]["size"],
            "mean": manifest["preprocessing"]["mean"],
            "std": manifest["preprocessing"]["std"],
        },
        "fingerprint": manifest["data"]["fingerprint"],
        "counterfactual_fills": manifest["training"]["counterfactual_fills"],
        "weights": model.state_dict(),
        "metrics": manifest["metrics"]["validation"],
        "epoch": int(manifest["training"]["epochs"]),
        "from_artifact": {"path": str(model_path), "sha256": loaded.sha256, "version": manifest["version"]},
    }
    out.parent.mkdir(parents=True, exist_ok=True)
    save_checkpoint(out, checkpoint)
    return checkpoint
