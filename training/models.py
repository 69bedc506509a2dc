"""The architectures, by name. Each is a backbone (image → feature maps) and a head (maps → logits).

That split is what the artifact exports as ``features``/``classify`` for hook-free Grad-CAM.
``brainxai_cnn`` is a compact residual CNN designed for CPU cost: plain 3×3 convolutions (fast in
oneDNN, unlike depthwise ones), a stem that reaches stride 4 cheaply, and a last feature map at
stride 16, fine enough for Grad-CAM to localise. ``resnet18`` is torchvision's, with a 1-channel
stem, trained from scratch (no weights can be downloaded here). ``brainxai_presence`` is the compact
CNN with a :class:`PresenceHead`: whether there is a tumour is decided where a tumour is (issue #14);
``brainxai_presence_fine`` decides it on a grid twice as fine (:class:`FineBackbone`, stride 8).
"""

from __future__ import annotations

from collections.abc import Callable

import torch
import torch.nn.functional as F
from torch import nn

from mlcore.errors import TrainingError


class Classifier(nn.Module):
    """A backbone and a head; ``forward(x) = head(backbone(x))``.

    ``forward(x, return_features=True)`` also returns the feature maps, through ``forward`` so that
    DistributedDataParallel sees the call (the localisation loss needs them).
    """

    def __init__(self, backbone: nn.Module, head: nn.Module) -> None:
        super().__init__()
        self.backbone = backbone
        self.head = head

    def forward(
        self, x: torch.Tensor, return_features: bool = False
    ) -> torch.Tensor | tuple[torch.Tensor, torch.Tensor]:
        features = self.backbone(x)
        logits = self.head(features)
        return (logits, features) if return_features else logits


def _conv_bn_relu(in_channels: int, out_channels: int, stride: int) -> nn.Sequential:
    return nn.Sequential(
        nn.Conv2d(in_channels, out_channels, 3, stride, 1, bias=False),
        nn.BatchNorm2d(out_channels),
        nn.ReLU(inplace=True),
    )


class BasicBlock(nn.Module):
    """Two 3×3 convolutions with a residual shortcut (1×1 projection when the shape changes)."""

    def __init__(self, in_channels: int, out_channels: int, stride: int) -> None:
        super().__init__()
        self.conv1 = _conv_bn_relu(in_channels, out_channels, stride)
        self.conv2 = nn.Conv2d(out_channels, out_channels, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(out_channels)
        self.shortcut: nn.Module = nn.Identity()
        if stride != 1 or in_channels != out_channels:
            self.shortcut = nn.Sequential(
                nn.Conv2d(in_channels, out_channels, 1, stride, bias=False), nn.BatchNorm2d(out_channels)
            )
        self.relu = nn.ReLU(inplace=True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.relu(self.bn2(self.conv2(self.conv1(x))) + self.shortcut(x))


def _head(channels: int, num_classes: int, dropout: float) -> nn.Sequential:
    return nn.Sequential(nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Dropout(dropout), nn.Linear(channels, num_classes))


class PresenceHead(nn.Module):
    """Class log-probabilities from where a tumour is: presence by a smooth maximum over the feature cells.

    Each cell gets a tumour-presence logit ``s`` (a 1×1 convolution); the image's presence logit is
    ``log mean exp(r·s) / r`` (close to the largest ``s``), so removing the cells that hold a tumour
    removes the evidence for one — a global cue, spread over every cell, cannot make a small tumour's
    image a tumour one unless it makes every cell one. The tumour kinds are pooled with ``softmax(r·s)``
    as weights: the kind is read where the tumour is. The output is
    ``log p(absent) = log σ(−T)`` and ``log p(kind) = log σ(T) + log softmax(kinds)``, in class order
    (``absent_index`` places the no-tumour class), so the softmax of the output is the model's distribution
    and everything that reads logits (cross-entropy, temperature, Grad-CAM) works unchanged.
    """

    def __init__(self, channels: int, num_classes: int, dropout: float, *, absent_index: int, sharpness: float) -> None:
        super().__init__()
        if not 0 <= absent_index < num_classes:
            raise TrainingError(f"the no-tumour class index {absent_index} is not one of {num_classes} classes")
        self.dropout = nn.Dropout(dropout)
        self.presence = nn.Conv2d(channels, 1, 1)
        self.kinds = nn.Conv2d(channels, num_classes - 1, 1)
        self.sharpness = sharpness
        self.absent_index = absent_index
        # Output column j takes column order[j] of [kinds..., absent].
        order = list(range(num_classes - 1))
        order.insert(absent_index, num_classes - 1)
        self.order: torch.Tensor
        self.register_buffer("order", torch.tensor(order, dtype=torch.long))

    def cell_presence(self, features: torch.Tensor) -> torch.Tensor:
        """The tumour-presence logit of every feature cell, (N, h, w) (no dropout: the map as it is served)."""
        return self.presence(features)[:, 0]

    def located_kinds(self, features: torch.Tensor, where: torch.Tensor) -> torch.Tensor:
        """Each cell's kind evidence weighted by ``where`` (N, 1, h·w): (N, K−1)."""
        return (self.kinds(features).flatten(2).float() * where).sum(2)

    def kind_logits(self, features: torch.Tensor, where: torch.Tensor) -> torch.Tensor:
        """The tumour kinds' logits (N, K−1): read where the tumour is (the override point of other heads)."""
        return self.located_kinds(features, where)

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        dropped = self.dropout(features)
        cells = self.cell_presence(dropped).flatten(1).float()  # (N, h·w); fp32 under autocast too
        scaled = cells * self.sharpness
        # log of the cell count as a float tensor: a Python int from the shape exports to ONNX as int64
        log_cells = torch.log(torch.ones_like(cells).sum(1))
        presence = (torch.logsumexp(scaled, 1) - log_cells) / self.sharpness
        where = torch.softmax(scaled, 1).unsqueeze(1)  # (N, 1, h·w)
        kinds = self.kind_logits(dropped, where)  # (N, K−1)
        # log σ(T) as −softplus(−T): stable for any T, also in ONNX (which writes logsigmoid as log(sigmoid))
        log_kinds = torch.log_softmax(kinds, 1) - F.softplus(-presence).unsqueeze(1)
        log_probs = torch.cat([log_kinds, -F.softplus(presence).unsqueeze(1)], 1)
        return log_probs.index_select(1, self.order)


# The compact CNN's backbone layers up to and including its stride-8 stage (stems, stride-4 block, two stride-8 ones).
COMPACT_STRIDE_8_LAYERS = 5


class ContextPresenceHead(PresenceHead):
    """A :class:`PresenceHead` whose tumour kind also reads the whole image: the kind logits add the mean over all
    cells of a second 1×1 convolution (global pooling and a linear layer, as the pooling head reads every class).

    Whether there is a tumour is still decided by the cells alone; only *which* tumour may use the context (where
    in the head the lesion sits: the sella, the meninges, the white matter).
    """

    def __init__(self, channels: int, num_classes: int, dropout: float, *, absent_index: int, sharpness: float) -> None:
        super().__init__(channels, num_classes, dropout, absent_index=absent_index, sharpness=sharpness)
        self.context = nn.Conv2d(channels, num_classes - 1, 1)

    def kind_logits(self, features: torch.Tensor, where: torch.Tensor) -> torch.Tensor:
        """The located kind evidence (as :class:`PresenceHead`) plus the whole image's mean context evidence."""
        return self.located_kinds(features, where) + self.context(features).flatten(2).float().mean(2)


def brainxai_cnn(num_classes: int, width: int = 32, dropout: float = 0.2) -> Classifier:
    """The compact CNN: stem to stride 4, then residual stages at strides 4, 8 and 16.

    Channels are ``width`` × (0.75, 1, 1.5, 3, 6) by stage; width 26 costs 0.58 GFLOPs (2 × MACs) at 192 px.
    """
    stem = _conv_bn_relu(1, max(8, width * 3 // 4), 2)
    stem2 = _conv_bn_relu(max(8, width * 3 // 4), width, 2)
    c1, c2, c3 = width * 3 // 2, width * 3, width * 6
    backbone = nn.Sequential(
        stem,
        stem2,
        BasicBlock(width, c1, 1),
        BasicBlock(c1, c2, 2),
        BasicBlock(c2, c2, 1),
        BasicBlock(c2, c3, 2),
        BasicBlock(c3, c3, 1),
    )
    return Classifier(backbone, _head(c3, num_classes, dropout))


class FineBackbone(nn.Module):
    """The compact CNN's layers with their last map brought to stride 8: ``relu(up(deep) + lateral(mid))``.

    ``mid`` is the stride-8 stage, ``deep`` the stride-16 one (upsampled ×2, nearest); a 1×1 convolution
    projects ``mid`` to ``deep``'s channels. A tumour of a few pixels then fills a cell of the presence map
    instead of a quarter of one. The lateral's last BatchNorm starts at zero, so a fresh FineBackbone on
    the compact CNN's weights (``training.fit.backbone_weights``) computes exactly the compact CNN's map, upsampled.
    """

    def __init__(self, layers: nn.Sequential, mid_channels: int, deep_channels: int, *, mid_layers: int) -> None:
        super().__init__()
        self.mid = nn.Sequential(*list(layers)[:mid_layers])
        self.deep = nn.Sequential(*list(layers)[mid_layers:])
        scale = nn.BatchNorm2d(deep_channels)
        nn.init.zeros_(scale.weight)
        self.lateral = nn.Sequential(nn.Conv2d(mid_channels, deep_channels, 1, bias=False), scale)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        mid = self.mid(x)
        # to mid's size, not by a factor of 2: ONNX Runtime's shape inference (int8) must see that the shapes agree
        deep = F.interpolate(self.deep(mid), size=[int(mid.shape[2]), int(mid.shape[3])], mode="nearest")
        return F.relu(deep + self.lateral(mid))


def compact_name(name: str) -> str:
    """The compact CNN's name of a :class:`FineBackbone` tensor (``backbone.deep.1.x`` → ``backbone.6.x``).

    Other names come back unchanged; :func:`training.fit.backbone_weights` uses it to start a fine model
    from a compact one.
    """
    parts = name.split(".")
    if len(parts) > 3 and parts[0] == "backbone" and parts[1] in ("mid", "deep") and parts[2].isdigit():
        layer = int(parts[2]) + (COMPACT_STRIDE_8_LAYERS if parts[1] == "deep" else 0)
        return ".".join(["backbone", str(layer), *parts[3:]])
    return name


def brainxai_presence(
    num_classes: int, width: int = 32, dropout: float = 0.2, *, absent_index: int = -1, sharpness: float = 4.0
) -> Classifier:
    """The compact CNN's backbone with a :class:`PresenceHead` (``absent_index``: the no-tumour class)."""
    cnn = brainxai_cnn(num_classes, width=width, dropout=dropout)
    return Classifier(
        cnn.backbone, PresenceHead(width * 6, num_classes, dropout, absent_index=absent_index, sharpness=sharpness)
    )


def brainxai_presence_fine(
    num_classes: int, width: int = 32, dropout: float = 0.2, *, absent_index: int = -1, sharpness: float = 4.0
) -> Classifier:
    """:func:`brainxai_presence` on a stride-8 grid (:class:`FineBackbone`): 24 × 24 cells at 192 px."""
    cnn = brainxai_cnn(num_classes, width=width, dropout=dropout)
    assert isinstance(cnn.backbone, nn.Sequential)
    backbone = FineBackbone(cnn.backbone, width * 3, width * 6, mid_layers=COMPACT_STRIDE_8_LAYERS)
    return Classifier(
        backbone, PresenceHead(width * 6, num_classes, dropout, absent_index=absent_index, sharpness=sharpness)
    )


def brainxai_presence_context(
    num_classes: int, width: int = 32, dropout: float = 0.2, *, absent_index: int = -1, sharpness: float = 4.0
) -> Classifier:
    """:func:`brainxai_presence` whose tumour kind also reads the whole image (:class:`ContextPresenceHead`)."""
    cnn = brainxai_cnn(num_classes, width=width, dropout=dropout)
    head = ContextPresenceHead(width * 6, num_classes, dropout, absent_index=absent_index, sharpness=sharpness)
    return Classifier(cnn.backbone, head)


def resnet18(num_classes: int, width: int = 64, dropout: float = 0.0) -> Classifier:
    """torchvision's ResNet-18 with a 1-channel stem, randomly initialised (``width`` is fixed at 64)."""
    from torchvision.models import resnet18 as tv_resnet18

    net = tv_resnet18(weights=None, num_classes=num_classes)
    net.conv1 = nn.Conv2d(1, 64, kernel_size=7, stride=2, padding=3, bias=False)
    backbone = nn.Sequential(net.conv1, net.bn1, net.relu, net.maxpool, net.layer1, net.layer2, net.layer3, net.layer4)
    return Classifier(backbone, _head(512, num_classes, dropout))


ARCHITECTURES: dict[str, Callable[..., Classifier]] = {
    "brainxai_cnn": brainxai_cnn,
    "brainxai_presence": brainxai_presence,
    "brainxai_presence_fine": brainxai_presence_fine,
    "brainxai_presence_context": brainxai_presence_context,
    "resnet18": resnet18,
}
# Architectures that decide "no tumour" by the absence of tumour cells: they need that class's index.
PRESENCE_ARCHITECTURES = ("brainxai_presence", "brainxai_presence_fine", "brainxai_presence_context")


def build_model(
    architecture: str, num_classes: int, width: int, dropout: float, *, absent_index: int = -1
) -> Classifier:
    """Build a randomly initialised model by architecture name (``absent_index``: the no-tumour class, for
    the presence architectures)."""
    if architecture not in ARCHITECTURES:
        raise TrainingError(f"unknown architecture {architecture!r}; choose from {sorted(ARCHITECTURES)}")
    if architecture in PRESENCE_ARCHITECTURES:
        return ARCHITECTURES[architecture](num_classes, width=width, dropout=dropout, absent_index=absent_index)
    return ARCHITECTURES[architecture](num_classes, width=width, dropout=dropout)


def count_parameters(model: nn.Module) -> int:
    """Number of trainable parameters."""
    return sum(p.numel() for p in model.parameters() if p.requires_grad)


def count_macs(model: nn.Module, size: int, channels: int = 1) -> int:
    """Multiply-accumulates of one forward pass on a size×size image (convolutions and linears).

    FLOPs are reported as 2 × MACs. Measured with forward hooks on a private eager copy at
    build time, never on a served model.
    """
    total = 0

    def on_conv(module: nn.Module, inputs: tuple[torch.Tensor, ...], output: torch.Tensor) -> None:
        nonlocal total
        assert isinstance(module, nn.Conv2d)
        kh, kw = module.kernel_size
        total += output.numel() * (module.in_channels // module.groups) * kh * kw

    def on_linear(module: nn.Module, inputs: tuple[torch.Tensor, ...], output: torch.Tensor) -> None:
        nonlocal total
        assert isinstance(module, nn.Linear)
        total += output.numel() * module.in_features

    handles = []
    for layer in model.modules():
        if isinstance(layer, nn.Conv2d):
            handles.append(layer.register_forward_hook(on_conv))
        elif isinstance(layer, nn.Linear):
            handles.append(layer.register_forward_hook(on_linear))
    was_training = model.training
    model.eval()
    with torch.no_grad():
        model(torch.zeros(1, channels, size, size))
    model.train(was_training)
    for handle in handles:
        handle.remove()
    return total
