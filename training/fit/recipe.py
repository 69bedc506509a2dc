"""A training run's settings (:class:`FitConfig`) and recipes: the settings of a shipped model, as a TOML file.

``recipes/<model>-<version>.toml`` holds every setting of a shipped model's fit except where the data lies; ``python -m
training fit --recipe recipes/<file>.toml`` reproduces it, and the manifest records the recipe. The defaults of
:class:`FitConfig` are the recipe of record's (:data:`RECIPE_OF_RECORD`); a test keeps the two equal.
"""

from __future__ import annotations

import dataclasses
import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from mlcore.errors import ParameterError, TrainingError

RECIPES = Path(__file__).resolve().parents[2] / "recipes"
RECIPE_OF_RECORD = RECIPES / "brainxai-cnn-3.0.0.toml"
# Where the data and the run's output lie: given on the command line, never part of a recipe.
LOCATIONS = ("data", "out", "boxes", "device", "skip_bad")


@dataclass(frozen=True)
class FitConfig:
    """Everything that defines a training run; stored in every checkpoint. The defaults are the recipe of record's."""

    data: str
    out: str
    architecture: str = "brainxai_lite0"
    pretrained: bool = True  # start the backbone from the architecture's ImageNet weights
    start_from: str = ""  # a model checkpoint (a run's best.pt) of the same architecture and data to go on from
    width: int = 320
    dropout: float = 0.2
    image_size: int = 224
    epochs: int = 45
    batch_size: int = 32
    lr: float = 8e-4
    weight_decay: float = 0.05
    warmup_epochs: float = 1.0
    label_smoothing: float = 0.1
    ema_decay: float = 0.998
    val_fraction: float = 0.15
    phash_distance: int = 4
    patience: int = 15
    select: str = "last"  # best (validation macro-F1) or last (a fixed schedule's final epoch)
    seed: int = 0
    amp: bool = False
    augment: bool = True
    boxes: str = ""
    localisation_weight: float = 1.0
    counterfactual: float = 0.58  # chance of a tumour's removal (labelled notumor) and of a control per image
    counterfactual_methods: str = "donor,inpaint,biharmonic"  # the removal fills trained with (comma-separated)
    # tumours of unknown kind (a folder with boxes.csv and groups), trained on p(no tumour): a collection beside the
    # dataset, named as in the data root (see unknown_kind_folder), or a path given on the command line
    unknown_kind: str = "br35h-tumours"
    unknown_kind_val_fraction: float = 0.25  # of its groups, held aside for validation
    unknown_kind_repeat: int = 3  # each training-side tumour of unknown kind appears this often an epoch
    skip_bad: bool = False
    device: str = "auto"


def recipe_fields() -> list[dataclasses.Field[Any]]:
    """The fields a recipe holds: every setting but the locations of data and output."""
    return [field for field in dataclasses.fields(FitConfig) if field.name not in LOCATIONS]


def read_recipe(path: Path) -> dict[str, Any]:
    """The settings of a recipe file, checked against :class:`FitConfig` (names and types)."""
    if not path.is_file():
        raise TrainingError(f"recipe not found: {path}")
    try:
        table = tomllib.loads(path.read_text())
    except tomllib.TOMLDecodeError as exc:
        raise TrainingError(f"{path}: not valid TOML ({exc})") from exc
    others = sorted(set(table) - {"fit"})
    if others:  # a misspelt [fit] would otherwise give an empty recipe: every setting at its default, silently
        raise TrainingError(f"{path}: unknown sections or keys {others}; a recipe holds its settings under [fit]")
    settings = table.get("fit", {})
    known = {field.name: field for field in recipe_fields()}
    unknown = sorted(set(settings) - set(known))
    if unknown:
        raise TrainingError(f"{path}: unknown settings {unknown}; a recipe holds {sorted(known)}")
    for name, value in settings.items():
        expected = type(known[name].default)
        if not isinstance(value, expected) and not (expected is float and isinstance(value, int)):
            raise TrainingError(f"{path}: {name} = {value!r} must be a {expected.__name__}")
    located = str(settings.get("unknown_kind", ""))
    if Path(located).is_absolute() or len(Path(located).parts) > 1:
        raise TrainingError(
            f"{path}: unknown_kind = {located!r} is a location; a recipe names the collection (e.g. "
            '"br35h-tumours"), found beside the dataset, and a path goes on the command line (--unknown-kind)'
        )
    return {name: typed_setting(name, known[name].default, value) for name, value in settings.items()}


def unknown_kind_folder(config: FitConfig) -> Path | None:
    """Where the fit's tumours of unknown kind lie, or None without them. A bare name (a recipe's) is a collection
    beside the dataset, resolved from the data root: ``<data>/../../<name>`` for ``--data
    <collections>/brain-tumor-mri/Training``; a path (the command line's) is taken as given. Never the working
    directory: a recipe reads the same from wherever the fit starts."""
    if not config.unknown_kind:
        return None
    given = Path(config.unknown_kind)
    if given.is_absolute() or len(given.parts) > 1:
        return given
    return Path(config.data).resolve().parents[1] / given


def setting_overrides(items: list[str]) -> dict[str, Any]:
    """Settings from ``NAME=VALUE`` strings (the command line's ``--set``; a dash in NAME reads as an underscore),
    each as its default's type; :class:`ParameterError` naming the item otherwise."""
    known = {field.name: field for field in recipe_fields()}
    settings: dict[str, Any] = {}
    for item in items:
        name, _, value = item.partition("=")
        name = name.replace("-", "_")
        if name not in known or not value:
            raise ParameterError(f"--set {item!r}: expected NAME=VALUE with NAME one of {sorted(known)}")
        try:
            settings[name] = typed_setting(name, known[name].default, value)
        except ParameterError as exc:
            raise ParameterError(f"--set {exc}") from None
    return settings


def typed_setting(name: str, default: Any, value: Any) -> Any:
    """``value`` — a recipe's TOML value or a command line's text — as the type of the setting's default (an int
    where a float is expected becomes a float; text true/false a bool); :class:`ParameterError` otherwise."""
    if isinstance(default, bool) and not isinstance(value, bool):
        if str(value).lower() not in ("true", "false"):
            raise ParameterError(f"{name}={value}: true or false")
        return str(value).lower() == "true"
    try:
        return type(default)(value)
    except (TypeError, ValueError) as exc:
        raise ParameterError(f"{name}={value}: must be a {type(default).__name__}") from exc


def recipe_text(config: FitConfig, *, model: str) -> str:
    """The TOML recipe of ``config`` (every recipe field, in declaration order), headed by the model it makes."""
    lines = [f"# The recipe of {model}: python -m training fit --recipe <this file>", "[fit]"]
    for field in recipe_fields():
        value = getattr(config, field.name)
        if isinstance(value, bool):
            written = "true" if value else "false"
        elif isinstance(value, str):
            written = f'"{value}"'
        else:
            written = repr(value)
        lines.append(f"{field.name} = {written}")
    return "\n".join(lines) + "\n"


def recipe_settings(config: FitConfig) -> dict[str, Any]:
    """The recipe part of ``config``, as the manifest records it."""
    return {field.name: getattr(config, field.name) for field in recipe_fields()}
