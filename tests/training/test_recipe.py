"""Recipes are data: the recipe of record equals the CLI's defaults, a recipe file round-trips, bad ones are refused
with a message, and ``fit --help`` stays short."""

from __future__ import annotations

import argparse
import dataclasses
from pathlib import Path

import pytest

from mlcore.errors import ParameterError, TrainingError
from training.__main__ import _add_fit, fit_config
from training.recipe import RECIPE_OF_RECORD, RECIPES, FitConfig, read_recipe, recipe_fields, recipe_text


def _fit_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser()
    _add_fit(parser.add_subparsers(dest="command"))
    return parser


def test_the_cli_defaults_are_the_recipe_of_record() -> None:
    defaults = FitConfig(data="", out="")
    assert read_recipe(RECIPE_OF_RECORD) == {field.name: getattr(defaults, field.name) for field in recipe_fields()}


def test_every_shipped_recipe_reads_and_round_trips(tmp_path: Path) -> None:
    for recipe in sorted(RECIPES.glob("*.toml")):
        settings = read_recipe(recipe)
        config = FitConfig(data="d", out="o", **settings)
        (tmp_path / recipe.name).write_text(recipe_text(config, model=recipe.stem))
        assert read_recipe(tmp_path / recipe.name) == {f.name: getattr(config, f.name) for f in recipe_fields()}


def test_bad_recipes_are_refused_with_the_setting_named(tmp_path: Path) -> None:
    cases = {
        "unknown.toml": ("[fit]\nlearning_rate = 0.1\n", "unknown settings \\['learning_rate'\\]"),
        "typed.toml": ('[fit]\nepochs = "ten"\n', "epochs = 'ten' must be a int"),
        "broken.toml": ("[fit\n", "not valid TOML"),
    }
    for name, (text, message) in cases.items():
        (tmp_path / name).write_text(text)
        with pytest.raises(TrainingError, match=message):
            read_recipe(tmp_path / name)
    with pytest.raises(TrainingError, match="recipe not found"):
        read_recipe(tmp_path / "missing.toml")


def test_a_recipe_then_set_then_flags_make_the_config(tmp_path: Path) -> None:
    recipe = tmp_path / "r.toml"
    recipe.write_text('[fit]\narchitecture = "brainxai_lite0"\nepochs = 12\nlr = 1\n')
    args = _fit_parser().parse_args(
        ["fit", "--recipe", str(recipe), "--data", "d", "--set", "patience=3", "--set", "amp=false", "--epochs", "5"]
    )
    config = fit_config(args)
    assert (config.architecture, config.epochs, config.lr, config.patience, config.amp) == (
        "brainxai_lite0",
        5,
        1.0,
        3,
        False,
    )
    assert dataclasses.replace(config, architecture="brainxai_cnn", epochs=60, lr=2e-3, patience=20, amp=True) == (
        FitConfig(data="d", out="runs/brainxai-cnn", boxes=config.boxes)
    )
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
