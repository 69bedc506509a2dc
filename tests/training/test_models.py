"""The architectures: the shipped one fits its cost budget; ResNet-18 takes one channel; the presence head decides
"tumour" where a tumour is."""

from __future__ import annotations

import pytest
import torch
from torch.utils.flop_counter import FlopCounterMode

from mlcore import artifact
from mlcore.errors import TrainingError
from training.models import ContextPresenceHead, PresenceHead, build_model, compact_name, count_macs, count_parameters


def test_the_shipped_architecture_fits_the_cost_budget() -> None:
    model = build_model("brainxai_cnn", 4, width=26, dropout=0.2)
    assert 2 * count_macs(model, 192) <= 0.6e9  # LIME runs the model about a thousand times
    assert count_parameters(model) < 5_000_000


@pytest.mark.parametrize(("architecture", "width", "size"), [("brainxai_cnn", 26, 192), ("resnet18", 16, 64)])
def test_macs_agree_with_torchs_own_flop_counter(architecture: str, width: int, size: int) -> None:
    """An independent count: torch.utils.flop_counter counts 2 FLOPs per multiply-accumulate of convolutions and
    matrix products (the manifest's FLOPs are 2 × these MACs; pooling, norms and activations count 0 in both)."""
    model = build_model(architecture, 4, width=width, dropout=0.0).eval()
    with FlopCounterMode(display=False) as counter, torch.no_grad():
        model(torch.zeros(1, 1, size, size))
    assert 2 * count_macs(model, size) == counter.get_total_flops()


def test_a_hand_counted_net() -> None:
    """3×3 convolution 1→4 channels on 8×8 (padding 1): 8·8·4·9 = 2,304 MACs; a depthwise 3×3 (4 groups of one
    channel, stride 2, padding 1) on the 8×8 result: 4·4·4·9 = 576; linear 4→2: 8 MACs."""
    net = torch.nn.Sequential(
        torch.nn.Conv2d(1, 4, 3, padding=1),
        torch.nn.Conv2d(4, 4, 3, stride=2, padding=1, groups=4),
        torch.nn.AdaptiveAvgPool2d(1),
        torch.nn.Flatten(),
        torch.nn.Linear(4, 2),
    )
    assert count_macs(net, 8) == 2304 + 576 + 8


def test_resnet18_takes_one_channel() -> None:
    model = build_model("resnet18", 4, width=64, dropout=0.0).eval()
    with torch.no_grad():
        assert model(torch.zeros(2, 1, 64, 64)).shape == (2, 4)
    assert model.backbone(torch.zeros(1, 1, 64, 64)).shape[1] == 512


def _spot_head() -> PresenceHead:
    """A presence head (4 classes, no-tumour at index 2) that reads channel 0 as "tumour here" (bias −6) and
    channel 1 as evidence of the second tumour kind."""
    head = PresenceHead(channels=2, num_classes=4, dropout=0.0, absent_index=2, sharpness=4.0).eval()
    with torch.no_grad():
        head.presence.weight.zero_()
        head.presence.weight[0, 0] = 12.0
        head.presence.bias.fill_(-6.0)
        head.kinds.weight.zero_()
        head.kinds.bias.zero_()
        head.kinds.weight[1, 1] = 5.0
    return head


def test_the_presence_head_says_tumour_only_where_cells_hold_one() -> None:
    """One tumour cell of 144 makes the image a tumour one, of the kind read at that cell; removing that cell
    makes it "notumor"; a weak global shift over every cell (a "source" cue) does not make a tumour."""
    head = _spot_head()
    features = torch.zeros(3, 2, 12, 12)
    features[0, 0, 4, 7] = 1.0  # a tumour cell
    features[0, 1, 4, 7] = 1.0  # of the second kind, there
    features[1, 1] = 1.0  # second-kind texture everywhere, no tumour cell
    features[2, 0] = 0.3  # every cell a little "tumour-like"
    with torch.no_grad():
        probabilities = head(features).exp()
    assert torch.allclose(probabilities.sum(1), torch.ones(3))
    assert probabilities[0].argmax().item() == 1 and probabilities[0, 2] < 0.05
    assert probabilities[1].argmax().item() == 2 and probabilities[1, 2] > 0.95
    assert probabilities[2].argmax().item() == 2


def test_a_presence_model_scripts_and_needs_its_no_tumour_class() -> None:
    model = build_model("brainxai_presence", 4, width=8, dropout=0.0, absent_index=2).eval()
    scripted = artifact.script(model.backbone, model.head)
    images = torch.randn(2, 1, 64, 64)
    with torch.no_grad():
        assert torch.allclose(scripted(images), model(images), atol=1e-5)
        assert torch.allclose(model(images).exp().sum(1), torch.ones(2), atol=1e-5)
    with pytest.raises(TrainingError, match="no-tumour class"):
        build_model("brainxai_presence", 4, width=8, dropout=0.0)


def test_the_fine_presence_model_scripts_on_a_grid_twice_as_fine() -> None:
    model = build_model("brainxai_presence_fine", 4, width=8, dropout=0.0, absent_index=2).eval()
    images = torch.randn(2, 1, 64, 64)
    with torch.no_grad():
        assert model.backbone(images).shape[-2:] == (8, 8)  # stride 8; the compact CNN's is 4 × 4
        scripted = artifact.script(model.backbone, model.head)
        assert torch.allclose(scripted(images), model(images), atol=1e-5)


def test_compact_names_map_the_fine_backbone_onto_the_compact_one() -> None:
    fine = build_model("brainxai_presence_fine", 4, width=8, dropout=0.0, absent_index=2)
    compact = build_model("brainxai_cnn", 4, width=8, dropout=0.0).state_dict()
    mapped = {compact_name(name): tensor.shape for name, tensor in fine.state_dict().items()}
    backbone = {name: tensor.shape for name, tensor in compact.items() if name.startswith("backbone.")}
    assert all(mapped[name] == shape for name, shape in backbone.items())  # every compact tensor has its place
    assert compact_name("backbone.deep.1.conv1.0.weight") == "backbone.6.conv1.0.weight"
    assert compact_name("backbone.lateral.0.weight") == "backbone.lateral.0.weight"  # no compact counterpart


def test_a_context_head_reads_the_kind_from_the_whole_image_and_tumour_or_not_from_the_cells() -> None:
    """The context evidence (the mean over every cell) can change which tumour, never whether there is one."""
    head = ContextPresenceHead(channels=2, num_classes=4, dropout=0.0, absent_index=2, sharpness=4.0).eval()
    features = torch.rand(3, 2, 6, 6)
    with torch.no_grad():
        head.context.weight.zero_()
        head.context.bias.zero_()
        without = head(features).exp()
        head.context.weight[2, 1] = 8.0  # texture of channel 1 anywhere: the third tumour kind (class 3)
        with_context = head(features).exp()
    assert torch.allclose(with_context[:, 2], without[:, 2])  # p(notumor) unchanged
    assert bool((with_context[:, 3] / (1 - with_context[:, 2]) > without[:, 3] / (1 - without[:, 2])).all())
    scripted = artifact.script(torch.nn.Identity(), head)
    assert torch.allclose(scripted(features), head(features), atol=1e-6)
