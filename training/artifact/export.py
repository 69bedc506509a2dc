"""Export a trained checkpoint as the one-file artifact of DESIGN.md (TorchScript + manifest)."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import torch

from mlcore import artifact
from mlcore.errors import ArtifactError
from training.artifact.operating_point import lower_notumor_logit, validation_metrics
from training.fit.checkpoint import checkpoint_spec, load_trained
from training.fit.models import count_macs, count_parameters
from training.fit.recipe import FitConfig, recipe_fields
from training.provenance import dataclass_defaults, fit_command, this_command, written_stamp

log = logging.getLogger(__name__)

AGREEMENT_TOLERANCE = 1e-5


def build_manifest(
    checkpoint: dict[str, Any], *, name: str, version: str, macs: int, parameters: int, fit_commit: str | None = None
) -> dict[str, Any]:
    """The artifact manifest from a best-epoch checkpoint: classes, input, preprocessing, provenance."""
    config = checkpoint["config"]
    preprocess = checkpoint["preprocess"]
    metrics = checkpoint["metrics"]
    data_root = Path(config["data"])
    return {
        "name": name,
        "version": version,
        "classes": checkpoint["classes"],
        "input": {"size": preprocess["size"], "channels": 1, "layout": "NCHW", "dtype": "float32"},
        "preprocessing": checkpoint_spec(checkpoint).to_manifest(),
        "architecture": {
            "name": config["architecture"],
            "width": config["width"],
            "dropout": config["dropout"],
        },
        "parameters": parameters,
        "flops": 2 * macs,
        "macs": macs,
        "data": {
            "dataset": f"{data_root.parent.name}/{data_root.name}",
            "fingerprint": checkpoint["fingerprint"],
            "split": checkpoint["split"],
            "val_fraction": config["val_fraction"],
            "seed": config["seed"],
        },
        "training": {
            "boxes": Path(config["boxes"]).name if config.get("boxes") else None,
            "localisation_weight": config.get("localisation_weight", 0.0) if config.get("boxes") else 0.0,
            "epochs": config["epochs"],
            "image_size": config["image_size"],
            "counterfactual_fills": checkpoint.get("counterfactual_fills"),
            "unknown_kind": _unknown_kind_record(config, checkpoint["split"]),
            "recipe": {field.name: config[field.name] for field in recipe_fields() if field.name in config},
        },
        "metrics": {"validation": {k: v for k, v in metrics.items()}, "best_epoch": checkpoint["epoch"]},
        "provenance": {
            "fit_command": fit_command(config, dataclass_defaults(FitConfig)),
            "export_command": this_command(),
            "fit_git_commit": fit_commit or checkpoint.get("git_commit", "unknown"),
            **written_stamp(),
        },
    }


def _unknown_kind_record(config: dict[str, Any], split: dict[str, Any]) -> dict[str, Any] | None:
    """What the manifest says of the tumours of unknown kind a model was trained with (None without any)."""
    if not config.get("unknown_kind"):
        return None
    return {
        "folder": Path(config["unknown_kind"]).name,
        "train": split.get("unknown_kind_train"),
        "val": split.get("unknown_kind_val"),
        "loss": "-log(1 - p(notumor)): tumour, kind unknown",
    }


def export(
    checkpoint_path: Path,
    out_path: Path,
    *,
    name: str = "brainxai-cnn",
    version: str = "1.0.0",
    fit_commit: str | None = None,
    notumor_offset: float = 0.0,
) -> dict[str, Any]:
    """Script the best model of ``checkpoint_path``, check it, and write the artifact to ``out_path``.

    Refuses to write when the scripted module's logits differ from the eager model's by more
    than 1e-5 on a batch of random inputs. ``fit_commit`` overrides the training commit recorded in
    the checkpoint (for checkpoints written before it was recorded); ``notumor_offset`` lowers the "notumor" logit
    (:mod:`training.artifact.operating_point`; recorded in the manifest, whose validation metrics are then recomputed
    on the run's ``split.json``). Returns the manifest written.
    """
    model, checkpoint = load_trained(checkpoint_path)
    if notumor_offset:
        lower_notumor_logit(model.head, checkpoint["classes"], notumor_offset)
        metrics = validation_metrics(model, checkpoint, checkpoint_path.parent / "split.json")
        checkpoint = {**checkpoint, "metrics": metrics}
    size = int(checkpoint["preprocess"]["size"])
    scripted = artifact.script(model.backbone, model.head)
    probe = torch.randn(4, 1, size, size, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        eager_out, scripted_out = model(probe), scripted(probe)
        via_parts = scripted.classify(scripted.features(probe))
    gap = max(float((eager_out - scripted_out).abs().max()), float((eager_out - via_parts).abs().max()))
    if gap > AGREEMENT_TOLERANCE:
        raise ArtifactError(f"scripted and eager outputs differ by {gap:.2e} (> {AGREEMENT_TOLERANCE}); not exported")
    manifest = build_manifest(
        checkpoint,
        name=name,
        version=version,
        macs=count_macs(model, size),
        parameters=count_parameters(model),
        fit_commit=fit_commit,
    )
    manifest["training"]["notumor_logit_offset"] = notumor_offset
    digest = artifact.save(scripted, manifest, out_path)
    log.info("exported %s (sha256 %s, max |eager - scripted| = %.1e)", out_path, digest, gap)
    artifact.load(out_path)  # the file must load back through the one loader
    return manifest
