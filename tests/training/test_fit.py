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
from training.augment import AugmentConfig
from training.data import load_dataset
from training.fit import Distributed, Trainer, lr_factor, predict_probabilities, save_checkpoint, train_one_epoch
from training.models import build_model


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
from training.fit import save_checkpoint

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
    from training.counterfactual import CounterfactualTraining, counterfactual_batch

    size, notumor = 64, 2
    yy, xx = np.mgrid[0:size, 0:size] / size
    brain = ((np.hypot(xx - 0.5, yy - 0.5) < 0.45) * 0.4).astype(np.float32)
    images = torch.from_numpy(np.stack([brain] * 8))[:, None].clone()
    masks = torch.zeros(8, 1, size, size, dtype=torch.uint8)
    masks[:4, :, 20:30, 10:20] = 1  # four tumours off the midline
    images[:4, :, 20:30, 10:20] = 0.95
    labels = torch.tensor([0, 1, 0, 1, 2, 2, 2, 2])
    donors = torch.from_numpy(brain[None, None]).clone()
    config = CounterfactualTraining(fraction=1.0, methods=("inpaint",), notumor=notumor, donors=donors)
    edited, new_labels, _, keep_box = counterfactual_batch(
        images, labels, (masks, masks.flatten(1).any(1)), config=config, rng=np.random.default_rng(0)
    )
    assert new_labels[:4].tolist() == [notumor] * 4 and not keep_box[:4].any()  # every tumour removed
    assert float(edited[:4, 0, 20:30, 10:20].mean()) < 0.6
    assert new_labels[4:].tolist() == labels[4:].tolist()  # the no-tumour images got controls, labels kept
    assert not torch.equal(edited[4:], images[4:]) and torch.equal(labels, torch.tensor([0, 1, 0, 1, 2, 2, 2, 2]))
    only_ones = dataclasses.replace(config, removable=(1,))
    _, chosen_labels, _, chosen_box = counterfactual_batch(
        images, labels, (masks, masks.flatten(1).any(1)), config=only_ones, rng=np.random.default_rng(0)
    )
    assert chosen_labels[:4].tolist() == [0, notumor, 0, notumor]  # class 0's tumours kept (they got controls)
    assert chosen_box[:4].tolist() == [True, False, True, False]
    inserting = dataclasses.replace(config, fraction=0.0, insert=1.0)
    pasted, pasted_labels, pasted_masks, pasted_box = counterfactual_batch(
        images, labels, (masks, masks.flatten(1).any(1)), config=inserting, rng=np.random.default_rng(0)
    )
    assert torch.equal(pasted[:4], images[:4]) and pasted_labels[:4].tolist() == labels[:4].tolist()  # no removal
    assert set(pasted_labels[4:].tolist()) <= {0, 1} and bool(pasted_box[4:].all())  # a tumour's class and box each
    assert float(pasted[4:, 0, 20:30, 10:20].mean()) > 0.8 and torch.equal(pasted_masks[4:], masks[:4])


def test_counterfactual_classes_name_tumour_classes() -> None:
    from mlcore.errors import TrainingError
    from training.fit import removable_classes

    classes = ["glioma", "meningioma", "notumor", "pituitary"]
    assert removable_classes("", classes) == (0, 1, 3)
    assert removable_classes("pituitary,meningioma", classes) == (3, 1)
    for wrong in ("notumor", "glioma,astrocytoma"):
        with pytest.raises(TrainingError, match="not tumour classes"):
            removable_classes(wrong, classes)


def test_fine_tuning_starts_from_an_artifact_and_counterfactuals_need_boxes(
    synth_root: Path, exported: Path, tmp_path: Path
) -> None:
    from mlcore import artifact
    from mlcore.errors import TrainingError
    from tests.helpers import tiny_config
    from training.fit import fit, initial_weights

    weights, _ = initial_weights(exported, ["glioma", "meningioma", "notumor", "pituitary"])
    assert all(torch.equal(weights[k], v) for k, v in artifact.load(exported).module.state_dict().items())
    with pytest.raises(TrainingError, match="classifies"):
        initial_weights(exported, ["a", "b", "c", "d"])
    with pytest.raises(TrainingError, match="needs the tumour boxes"):
        fit(tiny_config(synth_root, tmp_path / "no-boxes", epochs=1, counterfactual=0.3))
    boxes = str(synth_root.parent / "tumor-boxes.csv")
    options = {"boxes": boxes, "counterfactual": 0.5, "init_from": str(exported), "select": "last"}
    with pytest.raises(TrainingError, match="--counterfactual-margin"):
        fit(tiny_config(synth_root, tmp_path / "shrinking", epochs=1, counterfactual_margin=-0.1, **options))
    with pytest.raises(TrainingError, match="--counterfactual-insert"):
        fit(tiny_config(synth_root, tmp_path / "overfull", epochs=1, counterfactual_insert=1.5, **options))
    with pytest.raises(TrainingError, match="needs the tumour boxes"):  # insertion alone also needs the boxes
        fit(tiny_config(synth_root, tmp_path / "insert-no-boxes", epochs=1, counterfactual_insert=0.3))
    tuned = tiny_config(synth_root, tmp_path / "tuned", epochs=2, **options)
    metrics = fit(tuned)
    assert 0.0 <= metrics["accuracy"] <= 1.0
    checkpoint = torch.load(tmp_path / "tuned" / "best.pt", weights_only=False)
    assert checkpoint["epoch"] == 2  # the last epoch, not the best
    # This fit's fills with its start's (none: the start was fitted without counterfactuals).
    assert artifact.load(exported).manifest["training"]["counterfactual_fills"] == []
    assert checkpoint["counterfactual_fills"] == ["donor", "inpaint"]
    with pytest.raises(TrainingError, match="--select"):
        fit(tiny_config(synth_root, tmp_path / "bad", epochs=1, select="worst"))


def test_a_presence_model_trains_on_its_cell_loss_and_exports(synth_root: Path, tmp_path: Path) -> None:
    """``--architecture brainxai_presence``: the cell loss is computed (and falls), the run exports to an artifact
    whose probabilities sum to one; without boxes it trains on the image labels alone."""
    from mlcore import artifact
    from tests.helpers import tiny_config
    from training.export import export
    from training.fit import fit

    boxes = str(synth_root.parent / "tumor-boxes.csv")
    config = tiny_config(synth_root, tmp_path / "run", epochs=4, boxes=boxes, architecture="brainxai_presence")
    fit(config)
    history = json.loads((tmp_path / "run" / "history.json").read_text())
    assert history[0]["train_localisation"] > 0 and history[-1]["train_localisation"] < history[0]["train_localisation"]
    export(tmp_path / "run" / "best.pt", tmp_path / "presence.pt")
    loaded = artifact.load(tmp_path / "presence.pt")
    assert loaded.manifest["architecture"]["name"] == "brainxai_presence"
    with torch.inference_mode():
        probabilities = torch.softmax(loaded.module(torch.rand(3, 1, 48, 48)), 1)
    assert torch.allclose(probabilities.sum(1), torch.ones(3))
    fit(tiny_config(synth_root, tmp_path / "no-boxes", epochs=1, architecture="brainxai_presence"))
    assert json.loads((tmp_path / "no-boxes" / "history.json").read_text())[0]["train_localisation"] == 0.0


def test_an_equalising_fit_normalises_equalised_images_and_its_artifact_says_so(
    synth_root: Path, tmp_path: Path
) -> None:
    """``fit --equalise``: the mean and std are those of the equalised training images, and the exported manifest
    asks for equalisation, so every entry point that reads it (evaluation, service) equalises too."""
    from mlcore import artifact
    from mlcore.preprocessing import equalised
    from tests.helpers import tiny_config
    from training.export import export
    from training.fit import fit, input_statistics

    images = torch.rand(5, 1, 16, 16) * 0.5
    assert input_statistics(images, equalise=False) == (float(images.mean()), float(images.std()))
    assert input_statistics(images, equalise=True) == (float(equalised(images).mean()), float(equalised(images).std()))
    fit(tiny_config(synth_root, tmp_path / "run", epochs=1, equalise=True))
    export(tmp_path / "run" / "best.pt", tmp_path / "equalising.pt")
    loaded = artifact.load(tmp_path / "equalising.pt")
    assert loaded.manifest["preprocessing"]["equalise"] is True
    assert PreprocessSpec.from_manifest(loaded.manifest).equalise


def test_a_fine_presence_model_starts_from_a_pooling_models_backbone(
    synth_root: Path, exported: Path, tmp_path: Path
) -> None:
    """``--init-from`` an artifact of another architecture takes its backbone: a fresh fine presence model on the
    tiny pooling model's weights computes that model's feature map, upsampled ×2; another width cannot start it.
    Such a fit also distils the artifact's tumour kinds (``--distil-from``), at the artifact's input size only."""
    import torch.nn.functional as F

    from mlcore import artifact
    from mlcore.errors import TrainingError
    from training.fit import backbone_weights, initial_weights
    from training.models import build_model

    weights, architecture = initial_weights(exported, ["glioma", "meningioma", "notumor", "pituitary"])
    assert architecture == "brainxai_cnn"
    fine = build_model("brainxai_presence_fine", 4, width=8, dropout=0.0, absent_index=2)
    fine.load_state_dict(backbone_weights(weights, fine))
    images = torch.rand(2, 1, 48, 48)
    with torch.inference_mode():
        compact = artifact.load(exported).module.features(images)
        assert torch.allclose(fine.eval().backbone(images), F.interpolate(compact, scale_factor=2.0), atol=1e-5)
    wider = build_model("brainxai_presence", 4, width=16, dropout=0.0, absent_index=2)
    with pytest.raises(TrainingError, match="does not match"):
        backbone_weights(weights, wider)
    from tests.helpers import tiny_config
    from training.fit import fit

    options = {"architecture": "brainxai_presence_fine", "init_from": str(exported), "distil_from": str(exported)}
    options["boxes"] = str(synth_root.parent / "tumor-boxes.csv")
    assert 0.0 <= fit(tiny_config(synth_root, tmp_path / "fine", epochs=1, **options))["accuracy"] <= 1.0
    with pytest.raises(TrainingError, match="--distil-from takes 48 px"):
        fit(tiny_config(synth_root, tmp_path / "larger", epochs=1, image_size=64, **options))


def test_kind_distillation_reads_the_teachers_kinds_only_on_tumour_images() -> None:
    """The loss is zero when the model's kind distribution is the teacher's — whatever each says about tumour or
    not — positive when the kinds differ, and images labelled no tumour add nothing."""
    from mlcore.preprocessing import PreprocessSpec
    from training.fit import KindTeacher, kind_distillation

    class Fixed(torch.nn.Module):
        def __init__(self, logits: torch.Tensor) -> None:
            super().__init__()
            self.logits = logits

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return self.logits.expand(len(x), -1)

    images, kinds = torch.rand(3, 1, 8, 8), torch.tensor([0, 1, 3])
    teacher_logits = torch.tensor([[2.0, 0.0, 9.0, -1.0]])  # very sure of "notumor"; kinds 2 : 0 : −1
    teacher = KindTeacher(module=Fixed(teacher_logits), spec=PreprocessSpec(8, 0.5, 0.25), kinds=kinds, weight=1.0)
    tumours = torch.tensor([0, 3, 1])
    same_kinds = torch.tensor([[3.0, 1.0, -5.0, 0.0]]).expand(3, -1)  # the same kinds, shifted; sure of a tumour
    assert kind_distillation(teacher, images, same_kinds, tumours).item() == pytest.approx(0.0, abs=1e-6)
    other_kinds = torch.tensor([[0.0, 2.0, 0.0, 0.0]]).expand(3, -1)
    assert kind_distillation(teacher, images, other_kinds, tumours).item() > 0.1
    assert kind_distillation(teacher, images, other_kinds, torch.tensor([2, 2, 2])).item() == 0.0


def test_the_tumour_or_not_loss_ignores_the_kinds() -> None:
    """With ``--tumour-or-not`` the loss is the binary cross-entropy of p(no tumour) against the summed tumour
    classes: moving probability between kinds leaves it unchanged, moving it to "no tumour" does not, and a data
    set without a no-tumour class is refused."""
    from mlcore.errors import TrainingError
    from tests.helpers import CLASSES, tiny_config
    from training.fit import class_loss

    loss = class_loss(tiny_config(Path("."), Path("."), tumour_or_not=True, label_smoothing=0.0), CLASSES)
    target = torch.tensor([0, 2])  # a glioma, a no-tumour image
    log_probs = torch.log(torch.tensor([[0.5, 0.2, 0.2, 0.1], [0.1, 0.1, 0.7, 0.1]]))
    by_hand = -(np.log(0.8) + np.log(0.7)) / 2
    assert loss(log_probs, target).item() == pytest.approx(by_hand, rel=1e-5)
    kinds_moved = torch.log(torch.tensor([[0.05, 0.05, 0.2, 0.7], [0.3, 0.0, 0.7, 0.0]]) + 1e-12)
    assert loss(kinds_moved, target).item() == pytest.approx(by_hand, rel=1e-4)
    towards_absent = torch.log(torch.tensor([[0.3, 0.1, 0.5, 0.1], [0.1, 0.1, 0.7, 0.1]]))
    assert loss(towards_absent, target).item() > by_hand + 0.1
    four_way = class_loss(tiny_config(Path("."), Path("."), label_smoothing=0.0), CLASSES)
    assert four_way(kinds_moved, target).item() > loss(kinds_moved, target).item() + 0.5
    with pytest.raises(TrainingError, match="needs a 'notumor' class"):
        class_loss(tiny_config(Path("."), Path("."), tumour_or_not=True), ["cat", "dog"])
