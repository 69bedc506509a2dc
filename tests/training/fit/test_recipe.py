"""Recipes are data: the recipe of record equals the CLI's defaults, a recipe file round-trips, bad ones are refused
with a message, and ``fit --help`` stays short."""

from __future__ import annotations

import argparse
import dataclasses
import json
from pathlib import Path

import pytest

from mlcore import artifact
from mlcore.artifact import DEFAULT_MODEL
from mlcore.errors import ParameterError, TrainingError
from tests.helpers import REPO_ROOT
from training.__main__ import _add_fit, fit_config, main
from training.data.dataset import SHARED_TRAINING
from training.fit.recipe import (
    RECIPE_OF_RECORD,
    RECIPES,
    FitConfig,
    read_recipe,
    recipe_fields,
    recipe_text,
    unknown_kind_folder,
)


def _fit_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser()
    _add_fit(parser.add_subparsers(dest="command"))
    return parser


def test_the_cli_defaults_are_the_recipe_of_record() -> None:
    defaults = FitConfig(data="", out="")
    assert read_recipe(RECIPE_OF_RECORD) == {field.name: getattr(defaults, field.name) for field in recipe_fields()}


def test_every_recipe_reads_and_round_trips(tmp_path: Path) -> None:
    """The shipped recipes (recipes/) and the candidates of the research record (docs/research/recipes/)."""
    candidates = sorted((RECIPES.parent / "docs" / "research" / "recipes").glob("*.toml"))
    assert candidates, "the research record's candidate recipes are gone"
    for recipe in [*sorted(RECIPES.glob("*.toml")), *candidates]:
        settings = read_recipe(recipe)
        config = FitConfig(data="d", out="o", **settings)
        (tmp_path / recipe.name).write_text(recipe_text(config, model=recipe.stem))
        assert read_recipe(tmp_path / recipe.name) == {f.name: getattr(config, f.name) for f in recipe_fields()}


def test_bad_recipes_are_refused_with_the_setting_named(tmp_path: Path) -> None:
    cases = {
        "unknown.toml": ("[fit]\nlearning_rate = 0.1\n", "unknown settings \\['learning_rate'\\]"),
        "typed.toml": ('[fit]\nepochs = "ten"\n', "epochs = 'ten' must be a int"),
        "broken.toml": ("[fit\n", "not valid TOML"),
        "misspelt.toml": ("[fitt]\nepochs = 3\n", "unknown sections or keys \\['fitt'\\]"),
        "outside.toml": ("epochs = 3\n[fit]\n", "unknown sections or keys \\['epochs'\\]"),
        "located.toml": ('[fit]\nunknown_kind = "../shared/data/br35h-tumours"\n', "is a location"),
    }
    for name, (text, message) in cases.items():
        (tmp_path / name).write_text(text)
        with pytest.raises(TrainingError, match=message):
            read_recipe(tmp_path / name)
    with pytest.raises(TrainingError, match="recipe not found"):
        read_recipe(tmp_path / "missing.toml")


def test_a_recipe_then_set_then_flags_make_the_config(tmp_path: Path) -> None:
    recipe = tmp_path / "r.toml"
    recipe.write_text('[fit]\narchitecture = "brainxai_cnn"\nepochs = 12\nlr = 1\n')
    args = _fit_parser().parse_args(
        ["fit", "--recipe", str(recipe), "--data", "d", "--set", "patience=3", "--set", "amp=true", "--epochs", "5"]
    )
    config = fit_config(args)
    assert (config.architecture, config.epochs, config.lr, config.patience, config.amp) == (
        "brainxai_cnn",
        5,
        1.0,
        3,
        True,
    )
    defaults = FitConfig(data="d", out="runs/brainxai-cnn", boxes=config.boxes)
    assert (defaults.architecture, defaults.epochs, defaults.lr, defaults.patience, defaults.amp) != (
        "brainxai_cnn",
        5,
        1.0,
        3,
        True,
    )
    unchanged = dataclasses.replace(
        config,
        architecture=defaults.architecture,
        epochs=defaults.epochs,
        lr=defaults.lr,
        patience=defaults.patience,
        amp=defaults.amp,
    )
    assert unchanged == defaults
    for wrong in ("patience", "colour=red", "amp=maybe", "epochs=many"):
        with pytest.raises(ParameterError, match="--set"):
            fit_config(_fit_parser().parse_args(["fit", "--data", "d", "--set", wrong]))


def test_fit_help_has_at_most_twenty_options_each_with_help() -> None:
    fit_parser = next(
        action for action in _fit_parser()._actions if isinstance(action, argparse._SubParsersAction)
    ).choices["fit"]
    options = [action for action in fit_parser._actions if action.option_strings]
    assert len(options) <= 20
    assert all(action.help for action in options)


@pytest.mark.reproduce
@pytest.mark.skipif(not SHARED_TRAINING.is_dir(), reason="needs the shared Training split (../shared/data)")
def test_the_recipe_of_record_reproduces_the_shipped_split_and_its_first_epoch(tmp_path: Path) -> None:
    """``fit --recipe <recipe of record> --stop-after 1`` on the shared data: the shipped model's split exactly, and the
    first epoch of its recorded run (docs/evaluation/<model>-<version>.history.json) within noise — the numbers of
    a different CPU kind or thread count differ in the last digits, not more."""
    recipe = read_recipe(RECIPE_OF_RECORD)
    manifest = artifact.load(DEFAULT_MODEL).manifest
    assert manifest["architecture"]["name"] == recipe["architecture"]
    assert manifest["training"]["epochs"] == recipe["epochs"] and manifest["input"]["size"] == recipe["image_size"]
    out = tmp_path / "run"
    assert main(["fit", "--recipe", str(RECIPE_OF_RECORD), "--out", str(out), "--stop-after", "1"]) == 0
    split = json.loads((out / "split.json").read_text())
    shipped = json.loads(DEFAULT_MODEL.with_suffix(".split.json").read_text())
    assert split["val"] == shipped["val"] and split["train"] == shipped["train"]
    reference = REPO_ROOT / "docs" / "evaluation" / f"{manifest['name']}-{manifest['version']}.history.json"
    recorded, reproduced = json.loads(reference.read_text())[0], json.loads((out / "history.json").read_text())[0]
    assert reproduced["epoch"] == recorded["epoch"] == 1
    assert reproduced["train_loss"] == pytest.approx(recorded["train_loss"], abs=0.05)
    assert reproduced["lr"] == pytest.approx(recorded["lr"], rel=1e-6)  # the same schedule: 1 epoch of the recipe's
    assert reproduced["val_accuracy"] == pytest.approx(recorded["val_accuracy"], abs=0.1)


def test_a_recipes_collection_is_found_from_the_data_root_whatever_the_working_directory(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The recipe of record names its tumours of unknown kind; the fit finds them beside the dataset it reads."""
    data = tmp_path / "collections" / "brain-tumor-mri" / "Training"
    named = FitConfig(data=str(data), out="o", **read_recipe(RECIPE_OF_RECORD))
    for cwd in (tmp_path, data):
        data.mkdir(parents=True, exist_ok=True)
        monkeypatch.chdir(cwd)
        assert unknown_kind_folder(named) == tmp_path / "collections" / "br35h-tumours"
    given = dataclasses.replace(named, unknown_kind=str(tmp_path / "elsewhere"))
    assert unknown_kind_folder(given) == tmp_path / "elsewhere"  # a path from the command line, as given
    assert unknown_kind_folder(dataclasses.replace(named, unknown_kind="")) is None
