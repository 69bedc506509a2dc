"""Helpers the tests share: paths and a fit configuration that trains in seconds."""

from __future__ import annotations

from pathlib import Path

from training.fit.recipe import RECIPES, FitConfig, read_recipe

REPO_ROOT = Path(__file__).resolve().parents[1]
SHARED_DATA = REPO_ROOT.parent / "shared" / "data" / "brain-tumor-mri"
SAMPLES = REPO_ROOT / "tests" / "data" / "samples"
NOT_BRAIN = REPO_ROOT / "tests" / "data" / "not-brain"  # images the input check must refuse (SOURCES.md there)
CLASSES = ["glioma", "meningioma", "notumor", "pituitary"]  # the order of the real and the tiny test models
# The small from-scratch CNN's recipe: the tiny runs shrink it (the recipe of record needs ImageNet weights and the
# shared tumours of unknown kind).
SMALL_RECIPE = RECIPES / "brainxai-cnn-2.1.0.toml"


def tiny_config(data: Path, out: Path, **overrides: object) -> FitConfig:
    """A fit configuration that trains in seconds on phantoms: 48 px, width 8, no EMA."""
    values: dict[str, object] = {
        **read_recipe(SMALL_RECIPE),
        "data": str(data),
        "out": str(out),
        "image_size": 48,
        "width": 8,
        "epochs": 3,
        "batch_size": 8,
        "lr": 3e-3,
        "warmup_epochs": 0.5,
        "ema_decay": 0.0,
        "val_fraction": 0.25,
        "patience": 50,
    }
    values.update(overrides)
    return FitConfig(**values)  # type: ignore[arg-type]
