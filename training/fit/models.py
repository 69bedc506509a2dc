"""The architectures, registered by name. Each is a backbone (image → feature maps) and a head (maps → logits).

That split is what the artifact exports as ``features``/``classify`` for hook-free Grad-CAM. An architecture
registers itself with :func:`register_architecture` and declares the class-evidence map its localisation loss reads;
the fit loop asks the registry, never the model's type. ``brainxai_cnn`` is a compact residual CNN designed for CPU
cost (plain 3×3 convolutions, fast in oneDNN; a last feature map at stride 16). ``brainxai_lite0`` is
EfficientNet-Lite0's first stages started from ImageNet weights (:mod:`training.fit.efficientnet_lite`).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import torch
from torch import nn

from mlcore.errors import TrainingError
from training.fit.efficientnet_lite import lite0_backbone, load_imagenet_weights
from training.fit.localisation import class_evidence_map, last_linear

EvidenceMap = Callable[[nn.Module, torch.Tensor, torch.Tensor], torch.Tensor]


@dataclass(frozen=True)
class Architecture:
    """A registered architecture: its builder, whether it has pretrained weights to start from, and the class-evidence
    map its localisation loss reads (``evidence(head, features, target) → (N, h, w)``)."""

    name: str
    build: Callable[..., Classifier]
    pretrained: bool
    evidence: EvidenceMap


def pooling_head_evidence(head: nn.Module, features: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """The class activation map of each image's ``target`` class for a global-pool + linear head: ``w_target · f``."""
    return class_evidence_map(features, last_linear(head), target)


ARCHITECTURES: dict[str, Architecture] = {}


def register_architecture(
    *, pretrained: bool = False, evidence: EvidenceMap = pooling_head_evidence
) -> Callable[[Callable[..., Classifier]], Callable[..., Classifier]]:
    """Register a builder ``(num_classes, width=, dropout=[, pretrained=]) → Classifier`` under its function's name."""

    def register(build: Callable[..., Classifier]) -> Callable[..., Classifier]:
        ARCHITECTURES[build.__name__] = Architecture(build.__name__, build, pretrained, evidence)
        return build

    return register


def get_architecture(name: str) -> Architecture:
    """The registered architecture ``name``; a :class:`TrainingError` naming the choices otherwise."""
    if name not in ARCHITECTURES:
        raise TrainingError(f"unknown architecture {name!r}; choose from {sorted(ARCHITECTURES)}")
    return ARCHITECTURES[name]


def build_model(
    architecture: str, num_classes: int, width: int, dropout: float, *, pretrained: bool = False
) -> Classifier:
    """Build a model by architecture name, randomly initialised unless ``pretrained`` (an architecture that has
    pretrained weights then starts its backbone from them)."""
    chosen = get_architecture(architecture)
    if not pretrained:
        return chosen.build(num_classes, width=width, dropout=dropout)
    if not chosen.pretrained:
        have = sorted(name for name, entry in ARCHITECTURES.items() if entry.pretrained)
        raise TrainingError(f"{architecture} has no pretrained weights; these have: {have}")
    return chosen.build(num_classes, width=width, dropout=dropout, pretrained=True)


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


@register_architecture()
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


@register_architecture(pretrained=True)
def brainxai_lite0(num_classes: int, width: int = 320, dropout: float = 0.2, *, pretrained: bool = False) -> Classifier:
    """EfficientNet-Lite0's stages to stride 16 widened to ``width`` channels, with the pooling head; ``pretrained``
    starts the backbone from the ImageNet weights (for a fit; a checkpoint or artifact brings its own)."""
    backbone = lite0_backbone(width)
    if pretrained:
        load_imagenet_weights(backbone)
    return Classifier(backbone, _head(width, num_classes, dropout))


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
