"""The faithful fit's levers (a whole half from another brain, mass in the box), its starting checkpoint from the
shipped artifact, and the screen's operating-point rule."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from research.faithful_fit.levers import HalfDonorRemoval, positive_mass_loss
from research.faithful_fit.screen import choose_offset, offset_accuracy
from training.fit.batch import Batch

SIDE = 64
NOTUMOR = 2


def batch() -> Batch:
    """A glioma boxed on the left, a meningioma boxed on the right, a no-tumour image, a glioma without a box."""
    images = torch.rand(4, 1, SIDE, SIDE, generator=torch.Generator().manual_seed(0)) * 0.5
    masks = torch.zeros(4, 1, SIDE, SIDE, dtype=torch.uint8)
    masks[0, 0, 20:30, 5:15] = 1
    masks[1, 0, 20:30, 45:55] = 1
    return Batch(images, torch.tensor([0, 1, NOTUMOR, 0]), masks, torch.tensor([True, True, False, False]))


def changed(before: torch.Tensor, after: torch.Tensor) -> tuple[float, float]:
    """Largest change in the left and right halves, away from the feathered seam at the midline."""
    left = float((after[0, :, : SIDE // 2 - 6] - before[0, :, : SIDE // 2 - 6]).abs().max())
    right = float((after[0, :, SIDE // 2 + 6 :] - before[0, :, SIDE // 2 + 6 :]).abs().max())
    return left, right


def test_a_removal_replaces_the_tumours_half_and_labels_it_notumor() -> None:
    given = batch()
    donors = torch.full((3, 1, SIDE, SIDE), 0.9)
    out = HalfDonorRemoval(1.0, NOTUMOR, donors)(given, np.random.default_rng(0))
    assert out.labels.tolist() == [NOTUMOR, NOTUMOR, NOTUMOR, 0] and out.boxed is not None
    assert not bool(out.boxed[0]) and not bool(out.boxed[1])
    left, right = changed(given.images[0], out.images[0])
    assert left > 0.1 and right == 0.0  # the glioma's (left) half is another brain's; the right half untouched
    left, right = changed(given.images[1], out.images[1])
    assert left == 0.0 and right > 0.1
    assert torch.equal(out.images[3], given.images[3])  # a tumour without a box: where it lies is unknown


def test_a_control_replaces_the_other_half_and_keeps_the_label_and_box() -> None:
    given = batch()
    donors = torch.full((3, 1, SIDE, SIDE), 0.9)
    transform = HalfDonorRemoval(0.5, NOTUMOR, donors)
    for seed in range(40):  # some draw the control for the first image
        out = transform(given, np.random.default_rng(seed))
        if int(out.labels[0]) == 0 and not torch.equal(out.images[0], given.images[0]):
            assert out.boxed is not None and bool(out.boxed[0])
            left, right = changed(given.images[0], out.images[0])
            assert left == 0.0 and right > 0.1
            return
    pytest.fail("no control was drawn in 40 seeds")


def test_the_mass_loss_is_lowest_when_the_positive_evidence_is_in_the_box() -> None:
    masks = torch.zeros(1, 1, 64, 64, dtype=torch.uint8)
    masks[0, 0, :16, :16] = 1  # the top-left 2x2 cells of an 8x8 grid
    inside, spread, negative = torch.zeros(1, 8, 8), torch.ones(1, 8, 8), -torch.ones(1, 8, 8)
    inside[0, :2, :2] = 3.0
    inside[0, 4:, 4:] = -5.0  # negative evidence elsewhere costs nothing: only positive mass counts
    assert float(positive_mass_loss(inside, masks)) < 1e-3
    assert float(positive_mass_loss(spread, masks)) == pytest.approx(-np.log(4 / 64), rel=1e-4)
    assert float(positive_mass_loss(negative, masks)) == pytest.approx(-np.log(1e-3), rel=1e-4)


def test_the_offset_rule_takes_the_best_selection_accuracy_and_the_smallest_of_ties() -> None:
    assert choose_offset({0.0: 0.97, 0.25: 0.98, 0.5: 0.98, 1.0: 0.96}) == 0.25
    logits = np.array([[1.0, 0.0, 1.2, 0.0], [0.0, 0.0, 1.0, 0.0]])
    labels = np.array([0, NOTUMOR])
    assert offset_accuracy(logits, labels, NOTUMOR, 0.0) == 0.5
    assert offset_accuracy(logits, labels, NOTUMOR, 0.5) == 1.0
    assert offset_accuracy(logits, labels, NOTUMOR, 2.0) == 0.5


def test_the_starting_checkpoint_holds_the_shipped_weights_with_the_offset_undone(tmp_path: Path) -> None:
    from mlcore import artifact
    from mlcore.artifact import DEFAULT_MODEL
    from research.faithful_fit.start import checkpoint_from_artifact
    from training.fit.checkpoint import load_trained

    shipped = artifact.load(DEFAULT_MODEL)
    checkpoint_from_artifact(DEFAULT_MODEL, tmp_path / "best.pt", data="Training")
    model, checkpoint = load_trained(tmp_path / "best.pt")
    x = torch.randn(2, 1, 64, 64, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        difference = model(x) - shipped.module(x)
    offset = shipped.manifest["training"]["notumor_logit_offset"]
    expected = torch.zeros(4)
    expected[shipped.classes.index("notumor")] = offset
    assert torch.allclose(difference, expected.expand(2, 4), atol=1e-5)
    assert checkpoint["fingerprint"] == shipped.manifest["data"]["fingerprint"]
    assert checkpoint["preprocess"]["size"] == shipped.manifest["input"]["size"]


def test_the_candidate_rule_takes_accuracy_then_mass_then_removal() -> None:
    from research.faithful_fit.screen import choose_candidate

    def screen(accuracy: float, mass: float, removal: float) -> dict[str, object]:
        shares = {"notumor": {"share": removal}}
        return {
            "accuracy": {"share": accuracy},
            "gradcam": {"mass_in_box": {"mean": mass}},
            "removal": {"mirror": shares, "donor": shares},
        }

    assert choose_candidate([screen(0.99, 0.4, 0.8), screen(0.995, 0.2, 0.5)]) == 1
    assert choose_candidate([screen(0.99, 0.4, 0.8), screen(0.99, 0.5, 0.5)]) == 1
    assert choose_candidate([screen(0.99, 0.5, 0.8), screen(0.99, 0.5, 0.7)]) == 0


def test_the_fits_localisation_term_takes_the_mass_loss() -> None:
    from torch import nn

    from research.faithful_fit.levers import positive_mass_loss
    from training.fit.batch import Step
    from training.fit.loop import LocalisationTerm
    from training.fit.models import pooling_head_evidence

    head = nn.Sequential(nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(3, 4))
    model = nn.Module()
    model.add_module("head", head)
    features = torch.randn(2, 3, 8, 8, generator=torch.Generator().manual_seed(0))
    given = batch()
    assert given.masks is not None and given.boxed is not None
    step = Step(
        Batch(given.images[:2], given.labels[:2], given.masks[:2], given.boxed[:2]), torch.zeros(2, 4), features
    )
    mass = LocalisationTerm(0.5, pooling_head_evidence, NOTUMOR, name="mass", loss=positive_mass_loss)(model, step)
    default = LocalisationTerm(0.5, pooling_head_evidence, NOTUMOR)(model, step)
    evidence = pooling_head_evidence(head, features, given.labels[:2])
    assert torch.allclose(mass, 0.5 * positive_mass_loss(evidence, given.masks[:2]))
    assert not torch.allclose(mass, default)  # the default is the softmax localisation loss
