"""The fit loop learns, writes its files, refuses bad data loudly, and its schedule is sane."""

from __future__ import annotations

import dataclasses
import itertools
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from mlcore.preprocessing import PreprocessSpec
from tests.helpers import REPO_ROOT
from training.data.augment import AugmentConfig
from training.data.dataset import load_dataset
from training.fit.loop import Distributed, Trainer, lr_factor, predict_probabilities, save_checkpoint, train_one_epoch
from training.fit.models import build_model


def test_a_tiny_fit_overfits_sixteen_images(synth_root: Path) -> None:
    data = load_dataset(synth_root, size=48, show_progress=False)
    rng = np.random.default_rng(0)
    chosen = np.concatenate([rng.choice(np.flatnonzero(data.labels == k), 4, replace=False) for k in range(4)])
    images, labels = data.images[chosen], torch.from_numpy(data.labels[chosen])
    spec = PreprocessSpec(size=48, mean=0.2, std=0.25)
    torch.manual_seed(0)
    model = build_model("brainxai_cnn", 4, width=8, dropout=0.0)
    optimizer = torch.optim.AdamW(model.parameters(), lr=3e-3)
    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, lambda _: 1.0)
    solo = Distributed(rank=0, world_size=1, device=torch.device("cpu"))
    trainer = Trainer(
        model=model,
        ema=None,
        optimizer=optimizer,
        scheduler=scheduler,
        criterion=torch.nn.CrossEntropyLoss(),
        spec=spec,
        augment=AugmentConfig.none(),
        batch_size=8,
        dist_info=solo,
    )
    losses = [train_one_epoch(trainer, images, labels, epoch_seed=epoch)[0] for epoch in range(60)]
    predicted = predict_probabilities(model, images, spec, solo.device).argmax(1)
    assert (predicted == labels.numpy()).all()
    assert losses[-1] < 0.1 * losses[0]


def test_fit_writes_checkpoints_split_and_history(tiny_run: Path) -> None:
    history = json.loads((tiny_run / "history.json").read_text())
    assert [row["epoch"] for row in history] == [1, 2, 3, 4]
    split = json.loads((tiny_run / "split.json").read_text())
    assert not set(split["train"]) & set(split["val"])
    assert len(split["train"]) + len(split["val"]) == 64
    best = torch.load(tiny_run / "best.pt", weights_only=False)
    best_row = history[best["epoch"] - 1]
    assert best_row["val_macro_f1"] == max(row["val_macro_f1"] for row in history)
    assert round(best["metrics"]["macro_f1"], 5) == best_row["val_macro_f1"]
    assert best["preprocess"]["size"] == 48


def test_schedule_warms_up_then_decays_to_zero() -> None:
    factors = [lr_factor(step, 100, 10) for step in range(100)]
    assert factors[0] == pytest.approx(0.1) and factors[9] == pytest.approx(1.0)
    assert all(a >= b for a, b in itertools.pairwise(factors[10:]))
    assert lr_factor(100, 100, 10) == pytest.approx(0.0)


# A child that saves a checkpoint whose pickling hangs half-way (until it is killed).
KILLED_SAVE = """
import sys, time
from pathlib import Path
from training.fit.loop import save_checkpoint

class Stall:
    def __reduce__(self):
        print("writing", flush=True)
        time.sleep(60)

save_checkpoint(Path(sys.argv[1]), {"weights": bytes(1_000_000), "stall": Stall()})
"""


def test_a_kill_during_the_checkpoint_write_leaves_the_previous_one_loadable(tmp_path: Path) -> None:
    last = tmp_path / "last.pt"
    save_checkpoint(last, {"epoch": 7})
    env = {**os.environ, "PYTHONPATH": str(REPO_ROOT)}
    child = subprocess.Popen([sys.executable, "-c", KILLED_SAVE, str(last)], stdout=subprocess.PIPE, env=env)
    assert child.stdout is not None and child.stdout.readline().strip() == b"writing"
    child.kill()
    child.wait(10)
    assert torch.load(last, weights_only=False) == {"epoch": 7}


def test_counterfactual_batches_relabel_removals_and_keep_controls() -> None:
    from training.fit.batch import Batch
    from training.fit.counterfactual import CounterfactualTraining

    size, notumor = 64, 2
    yy, xx = np.mgrid[0:size, 0:size] / size
    brain = ((np.hypot(xx - 0.5, yy - 0.5) < 0.45) * 0.4).astype(np.float32)
    images = torch.from_numpy(np.stack([brain] * 8))[:, None].clone()
    masks = torch.zeros(8, 1, size, size, dtype=torch.uint8)
    masks[:4, :, 20:30, 10:20] = 1  # four tumours off the midline
    images[:4, :, 20:30, 10:20] = 0.95
    labels = torch.tensor([0, 1, 0, 4, 2, 2, 2, 2])  # 4: a tumour of unknown kind
    donors = torch.from_numpy(brain[None, None]).clone()
    transform = CounterfactualTraining(fraction=1.0, methods=("inpaint",), notumor=notumor, donors=donors)
    edited = transform(Batch(images, labels, masks, masks.flatten(1).any(1)), np.random.default_rng(0))
    assert edited.boxed is not None and edited.masks is not None
    assert edited.labels[:4].tolist() == [notumor] * 4 and not edited.boxed[:4].any()  # every tumour removed
    assert float(edited.images[:4, 0, 20:30, 10:20].mean()) < 0.6
    assert edited.labels[4:].tolist() == labels[4:].tolist()  # the no-tumour images got controls, labels kept
    assert not torch.equal(edited.images[4:], images[4:]) and labels.tolist() == [0, 1, 0, 4, 2, 2, 2, 2]
    unboxed = Batch(images, labels)
    assert transform(unboxed, np.random.default_rng(0)) is unboxed  # nothing to remove without boxes


def test_counterfactuals_need_boxes_and_a_fixed_schedule_keeps_its_last_epoch(synth_root: Path, tmp_path: Path) -> None:
    from mlcore.errors import TrainingError
    from tests.helpers import tiny_config
    from training.fit.loop import fit

    with pytest.raises(TrainingError, match="needs the tumour boxes"):
        fit(tiny_config(synth_root, tmp_path / "no-boxes", epochs=1, counterfactual=0.3))
    boxes = str(synth_root.parent / "tumor-boxes.csv")
    with pytest.raises(TrainingError, match="choose from"):
        fit(
            tiny_config(
                synth_root,
                tmp_path / "fills",
                epochs=1,
                boxes=boxes,
                counterfactual=0.3,
                counterfactual_methods="smudge",
            )
        )
    options = {"boxes": boxes, "counterfactual": 0.5, "select": "last"}
    metrics = fit(tiny_config(synth_root, tmp_path / "tuned", epochs=2, **options))
    assert 0.0 <= metrics["accuracy"] <= 1.0
    checkpoint = torch.load(tmp_path / "tuned" / "best.pt", weights_only=False)
    assert checkpoint["epoch"] == 2  # the last epoch, not the best
    assert checkpoint["counterfactual_fills"] == ["donor", "inpaint"]
    with pytest.raises(TrainingError, match="select"):
        fit(tiny_config(synth_root, tmp_path / "bad", epochs=1, select="worst"))


def test_a_fit_with_tumours_of_unknown_kind_splits_them_by_group_and_measures_them(
    synth_root: Path, unknown_kind_root: Path, tmp_path: Path
) -> None:
    """Their groups never straddle the split; the history reports the share of the held-aside ones answered as a
    tumour; the manifest records them and the recipe."""
    from mlcore import artifact
    from tests.helpers import tiny_config
    from training.artifact.export import export
    from training.fit.loop import fit

    boxes = str(synth_root.parent / "tumor-boxes.csv")
    config = tiny_config(
        synth_root,
        tmp_path / "run",
        epochs=2,
        boxes=boxes,
        unknown_kind=str(unknown_kind_root),
        unknown_kind_repeat=2,
        counterfactual=0.3,
    )
    fit(config)
    split = json.loads((tmp_path / "run" / "split.json").read_text())["unknown_kind"]
    group = lambda path: Path(path).name.split("-")[0]  # noqa: E731
    assert split["val"] and split["train"] and not {group(p) for p in split["val"]} & {group(p) for p in split["train"]}
    assert len(split["train"]) + len(split["val"]) == 12
    history = json.loads((tmp_path / "run" / "history.json").read_text())
    assert all(0.0 <= row["val_unknown_kind_tumour"] <= 1.0 for row in history)
    assert all(row["train_localisation"] > 0 for row in history)
    export(tmp_path / "run" / "best.pt", tmp_path / "model.pt")
    training = artifact.load(tmp_path / "model.pt").manifest["training"]
    assert training["unknown_kind"]["val"] == len(split["val"])
    assert training["unknown_kind"]["train"] == len(split["train"])
    assert training["recipe"]["unknown_kind_repeat"] == 2 and "data" not in training["recipe"]


def test_a_fit_goes_on_from_another_runs_kept_weights_and_refuses_a_mismatch(
    synth_root: Path, tiny_run: Path, tmp_path: Path
) -> None:
    from mlcore.errors import TrainingError
    from tests.helpers import tiny_config
    from training.fit.checkpoint import checkpoint_spec
    from training.fit.loop import build_trainer, prepare_split, start_from_checkpoint

    best = tiny_run / "best.pt"
    config = tiny_config(synth_root, tmp_path / "goes-on", epochs=1, start_from=str(best))
    solo = Distributed(rank=0, world_size=1, device=torch.device("cpu"))
    data, train, _val, _summary, _extra = prepare_split(config, solo)
    trainer = build_trainer(config, data, train, solo)
    kept = torch.load(best, weights_only=False)["weights"]
    started = trainer.model.state_dict()
    assert all(torch.equal(started[name], kept[name]) for name in kept)
    fresh = build_trainer(tiny_config(synth_root, tmp_path / "fresh", epochs=1), data, train, solo)
    assert not all(torch.equal(fresh.model.state_dict()[name], kept[name]) for name in kept)
    with pytest.raises(TrainingError, match="width 8, this fit 12"):
        build_trainer(tiny_config(synth_root, tmp_path / "w", width=12, start_from=str(best)), data, train, solo)
    resized = build_trainer(
        tiny_config(synth_root, tmp_path / "s", image_size=40, start_from=str(best)), data, train, solo
    )
    assert all(torch.equal(resized.model.state_dict()[name], kept[name]) for name in kept)
    spec = checkpoint_spec(torch.load(best, weights_only=False))
    other_data = dataclasses.replace(spec, mean=spec.mean + 0.05)
    with pytest.raises(TrainingError, match="preprocessing"):
        start_from_checkpoint(fresh.model, tiny_config(synth_root, tmp_path / "m", start_from=str(best)), other_data)
    with pytest.raises(TrainingError, match="other data"):
        start_from_checkpoint(
            fresh.model, tiny_config(synth_root, tmp_path / "f", start_from=str(best)), spec, "another dataset"
        )
    with pytest.raises(TrainingError, match="not a model checkpoint"):
        build_trainer(tiny_config(synth_root, tmp_path / "l", start_from=str(tiny_run / "last.pt")), data, train, solo)


def test_the_fit_uses_the_recipes_learning_rate_fills_and_every_kept_weight(
    synth_root: Path, tiny_run: Path, tmp_path: Path
) -> None:
    """What a recipe sets is what the fit does: the optimiser's learning rate, the removal fills of its counterfactual
    transform; and a checkpoint to go on from must fit the model weight for weight (no silently skipped layer)."""
    from mlcore.errors import TrainingError
    from tests.helpers import tiny_config
    from training.fit.counterfactual import CounterfactualTraining
    from training.fit.loop import build_trainer, prepare_split

    boxes = str(synth_root.parent / "tumor-boxes.csv")
    solo = Distributed(rank=0, world_size=1, device=torch.device("cpu"))
    config = tiny_config(synth_root, tmp_path / "a", epochs=1)
    data, train, _val, _summary, _extra = prepare_split(config, solo)
    for lr, fills in ((3e-3, "inpaint"), (2e-4, "biharmonic,donor")):
        options = {"lr": lr, "boxes": boxes, "counterfactual": 0.5, "counterfactual_methods": fills}
        trainer = build_trainer(tiny_config(synth_root, tmp_path / "b", **options), data, train, solo)
        assert {group["initial_lr"] for group in trainer.optimizer.param_groups} == {lr}
        removal = [t for t in trainer.transforms if isinstance(t, CounterfactualTraining)]
        assert len(removal) == 1 and removal[0].methods == tuple(fills.split(","))
    checkpoint = torch.load(tiny_run / "best.pt", weights_only=False)
    dropped = next(iter(checkpoint["weights"]))
    del checkpoint["weights"][dropped]
    torch.save(checkpoint, tmp_path / "partial.pt")
    with pytest.raises(TrainingError, match="do not fit this model"):
        build_trainer(
            tiny_config(synth_root, tmp_path / "c", start_from=str(tmp_path / "partial.pt")), data, train, solo
        )
