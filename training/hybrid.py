"""A hybrid model: whether there is a tumour from presence models, which tumour from a kind model (issue #14).

The presence models (``brainxai_presence*``) decide "tumour or not" where a tumour is, so that removing the
tumour removes the evidence for one; fine-tuned with counterfactuals they say "notumor" once it is gone, but they
confuse the tumour *kinds* more often than the pooling model that was trained for the kinds alone. A hybrid takes
p(no tumour) from the mean of its presence models' and the distribution over the tumour kinds from the kind model:

    p(no tumour) = mean_i p_i(no tumour),   p(kind k) = (1 − p(no tumour)) · softmax(kind model's tumour logits)_k

``python -m training compose`` builds one from artifacts trained on the same split and writes it as an ordinary
artifact: ``features`` concatenates every member's feature maps on the presence grid (the kind model's upsampled,
nearest, which leaves its pooled features unchanged), ``classify`` combines them — so Grad-CAM, the input check, the
service and the int8 path treat it as any other model.
"""

from __future__ import annotations

import logging
import math
from pathlib import Path
from typing import Any, cast

import torch
import torch.nn.functional as F
from torch import nn

from mlcore import artifact
from mlcore.errors import TrainingError
from training.counterfactual import merged_fills, trained_fills
from training.export import AGREEMENT_TOLERANCE
from training.fit import absent_index
from training.models import PRESENCE_ARCHITECTURES, Classifier, PresenceHead, build_model, count_macs
from training.provenance import this_command, written_stamp

log = logging.getLogger(__name__)

HYBRID_ARCHITECTURE = "brainxai_hybrid"
# p(no tumour) and p(tumour) are summed as probabilities; below this their logarithm is clamped (log 1e-30 = −69).
SMALLEST_PROBABILITY = 1e-30


class HybridBackbone(nn.Module):
    """Every presence model's feature maps, then the kind model's upsampled to the presence grid, along channels."""

    def __init__(self, presence: list[nn.Module], kinds: nn.Module) -> None:
        super().__init__()
        self.presence = nn.ModuleList(presence)
        self.kinds = kinds

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        maps: list[torch.Tensor] = []
        for backbone in self.presence:
            maps.append(backbone(x))
        # to the presence map's size, not by a factor: ONNX Runtime's shape inference (int8) must see the shapes agree
        grid = [int(maps[0].shape[2]), int(maps[0].shape[3])]
        maps.append(F.interpolate(self.kinds(x), size=grid, mode="nearest"))
        return torch.cat(maps, 1)


class HybridHead(nn.Module):
    """Log-probabilities in class order: p(no tumour) from the presence heads' mean, the kinds from the kind head.

    ``channels``: how many feature channels each presence model and then the kind model contributes.
    """

    def __init__(self, presence: list[PresenceHead], kinds: nn.Module, *, channels: list[int], absent: int) -> None:
        super().__init__()
        self.presence = nn.ModuleList(presence)
        self.kinds = kinds
        self.channels = channels
        self.log_members = math.log(len(presence))
        self.smallest = SMALLEST_PROBABILITY
        self.absent = absent
        classes = int(presence[0].order.numel())
        self.tumour: torch.Tensor
        self.register_buffer("tumour", torch.tensor([c for c in range(classes) if c != absent], dtype=torch.long))
        # Output column j takes column order[j] of [kinds..., absent] (as PresenceHead's).
        self.order: torch.Tensor
        self.register_buffer("order", presence[0].order.clone())

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        # Sums of probabilities in a loop, not lists of tensors: ONNX Runtime's int8 tooling cannot take the tensor
        # sequences a list becomes in ONNX.
        absent = torch.zeros_like(features[:, 0, 0, 0])
        tumour = torch.zeros_like(absent)
        start, index = 0, 0
        for head in self.presence:
            log_probs = head(features.narrow(1, start, self.channels[index]))
            absent = absent + torch.exp(log_probs[:, self.absent])
            tumour = tumour + torch.exp(log_probs.index_select(1, self.tumour)).sum(1)
            start += self.channels[index]
            index += 1
        log_absent = torch.log(absent.clamp_min(self.smallest)) - self.log_members
        log_tumour = torch.log(tumour.clamp_min(self.smallest)) - self.log_members
        kind_logits = self.kinds(features.narrow(1, start, self.channels[index])).float()
        kinds = torch.log_softmax(kind_logits.index_select(1, self.tumour), 1)
        log_probs = torch.cat([kinds + log_tumour.unsqueeze(1), log_absent.unsqueeze(1)], 1)
        return log_probs.index_select(1, self.order)


def eager_model(loaded: artifact.LoadedModel) -> Classifier:
    """An artifact's model rebuilt in Python: its manifest's architecture with the scripted module's weights."""
    architecture = loaded.manifest["architecture"]
    name = str(architecture["name"])
    model = build_model(
        name,
        len(loaded.classes),
        int(architecture["width"]),
        float(architecture.get("dropout", 0.0)),
        absent_index=absent_index(name, loaded.classes),
    )
    model.load_state_dict(loaded.module.state_dict())
    return model.eval()


def combined_log_probs(presence: list[torch.Tensor], kinds: torch.Tensor, absent: int) -> torch.Tensor:
    """The hybrid's definition on its members' outputs: presence models' log-probabilities and the kind model's
    logits, each (N, C); used to check the scripted hybrid against its members."""
    stacked = torch.stack(presence)  # (M, N, C)
    tumour = [index for index in range(kinds.shape[1]) if index != absent]
    log_members = math.log(len(presence))
    out = torch.empty_like(kinds)
    out[:, absent] = torch.logsumexp(stacked[:, :, absent], 0) - log_members
    log_tumour = torch.logsumexp(torch.logsumexp(stacked[:, :, tumour], 2), 0) - log_members
    out[:, tumour] = log_tumour.unsqueeze(1) + torch.log_softmax(kinds[:, tumour], 1)
    return out


def check_members(presence: list[artifact.LoadedModel], kinds: artifact.LoadedModel) -> None:
    """Refuse members a hybrid cannot combine: presence models that are not presence architectures, or members
    with other classes, other preprocessing or another split (a member could then have trained on the others'
    validation images)."""
    if kinds.manifest["architecture"]["name"] in (*PRESENCE_ARCHITECTURES, HYBRID_ARCHITECTURE):
        raise TrainingError(f"{kinds.path}: the kind model must be a pooling model, not a presence or hybrid one")
    for member in presence:
        if member.manifest["architecture"]["name"] not in PRESENCE_ARCHITECTURES:
            raise TrainingError(f"{member.path} is not a presence model ({sorted(PRESENCE_ARCHITECTURES)})")
        if member.classes != kinds.classes or member.manifest["input"]["size"] != kinds.manifest["input"]["size"]:
            raise TrainingError(f"{member.path} and {kinds.path} differ in their classes or input size")
        ours, theirs = member.manifest["preprocessing"], kinds.manifest["preprocessing"]
        if any(ours.get(key, False) != theirs.get(key, False) for key in ("mean", "std", "equalise")):
            raise TrainingError(f"{member.path} and {kinds.path} preprocess differently")
        if member.manifest["data"].get("split") != kinds.manifest["data"].get("split"):
            raise TrainingError(f"{member.path} and {kinds.path} were trained on different splits")


def build_hybrid(presence: list[artifact.LoadedModel], kinds: artifact.LoadedModel) -> Classifier:
    """The eager hybrid of checked members (:func:`check_members`)."""
    check_members(presence, kinds)
    members = [eager_model(member) for member in presence]
    kind_model = eager_model(kinds)
    size = int(kinds.manifest["input"]["size"])
    with torch.no_grad():
        probe = torch.zeros(1, 1, size, size)
        maps = [member.backbone(probe) for member in members]
        kind_map = kind_model.backbone(probe)
    channels = [int(m.shape[1]) for m in maps] + [int(kind_map.shape[1])]
    if len({tuple(m.shape[2:]) for m in maps}) != 1:
        raise TrainingError("the presence models' maps have different grids; combine models of one grid")
    # whole multiples, so that nearest upsampling leaves the kind model's pooled features (all its head reads) unchanged
    if any(int(p) % int(k) for p, k in zip(maps[0].shape[2:], kind_map.shape[2:], strict=True)):
        raise TrainingError("the presence grid is not a whole multiple of the kind model's; they cannot be aligned")
    heads = [cast(PresenceHead, member.head) for member in members]  # every presence architecture has one
    backbone = HybridBackbone([member.backbone for member in members], kind_model.backbone)
    absent = absent_index(str(presence[0].manifest["architecture"]["name"]), kinds.classes)
    head = HybridHead(heads, kind_model.head, channels=channels, absent=absent)
    return Classifier(backbone, head).eval()


def compose(presence_paths: list[Path], kinds_path: Path, out: Path, *, name: str, version: str) -> dict[str, Any]:
    """Build the hybrid of the artifacts at ``presence_paths`` and ``kinds_path``, check it, write it to ``out``.

    Refuses to write when the scripted hybrid's probabilities differ by more than 1e-5 from the hybrid's definition
    (:func:`combined_log_probs`) computed on the members' own artifacts. Returns the manifest written.
    """
    presence = [artifact.load(path) for path in presence_paths]
    kinds = artifact.load(kinds_path)
    model = build_hybrid(presence, kinds)
    scripted = artifact.script(model.backbone, model.head)
    size = int(kinds.manifest["input"]["size"])
    probe = torch.randn(4, 1, size, size, generator=torch.Generator().manual_seed(0))
    absent = cast(HybridHead, model.head).absent
    with torch.no_grad():
        expected = combined_log_probs([member.module(probe) for member in presence], kinds.module(probe), absent)
        gap = float((torch.softmax(scripted(probe), 1) - torch.softmax(expected, 1)).abs().max())
    if not gap <= AGREEMENT_TOLERANCE:
        raise TrainingError(f"the scripted hybrid's probabilities differ from its members' combined by {gap:.2e}")
    manifest = hybrid_manifest(presence, kinds, name=name, version=version, model=model)
    digest = artifact.save(scripted, manifest, out)
    log.info("composed %s (sha256 %s) of %d presence model(s) and %s", out, digest, len(presence), kinds.path.name)
    artifact.load(out)
    return manifest


def hybrid_manifest(
    presence: list[artifact.LoadedModel], kinds: artifact.LoadedModel, *, name: str, version: str, model: nn.Module
) -> dict[str, Any]:
    """The hybrid's manifest: the kind model's classes, input, preprocessing and data; its members by name,
    version and sha256; its own cost. Validation metrics are left to ``python -m training evaluate``."""
    size = int(kinds.manifest["input"]["size"])
    macs = count_macs(model, size)

    def member(loaded: artifact.LoadedModel) -> dict[str, Any]:
        return {
            "name": loaded.manifest["name"],
            "version": loaded.manifest["version"],
            "sha256": loaded.sha256,
            "architecture": loaded.manifest["architecture"],
            "fit_command": loaded.manifest["provenance"].get("fit_command", "unknown"),
        }

    return {
        "name": name,
        "version": version,
        "classes": kinds.classes,
        "input": kinds.manifest["input"],
        "preprocessing": presence[0].manifest["preprocessing"],
        "architecture": {
            "name": HYBRID_ARCHITECTURE,
            "width": kinds.manifest["architecture"]["width"],
            "presence": [member(loaded) for loaded in presence],
            "kinds": member(kinds),
        },
        "parameters": sum(p.numel() for p in model.parameters()),
        "flops": 2 * macs,
        "macs": macs,
        "data": kinds.manifest["data"],
        "training": {
            "composed_from": [loaded.path.name for loaded in [*presence, kinds]],
            # Only the presence members answer "notumor", so only their fills bear on a removal.
            "counterfactual_fills": merged_fills(*(trained_fills(loaded.manifest) for loaded in presence)),
        },
        "metrics": {"validation": {}},
        "provenance": {
            "compose_command": this_command(),
            **written_stamp(),
        },
    }
