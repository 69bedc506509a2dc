"""The fit loop: ``train_one_epoch`` and ``evaluate`` as explicit functions, checkpoints as one dict.

Runs single-process or under ``torchrun`` (DistributedDataParallel; gloo on CPU, nccl on CUDA).
Every epoch writes ``last.pt`` atomically; ``--resume`` reloads it and continues exactly where a
killed run stopped (per-epoch seeds are derived from the run seed, so nothing else is needed).
The best epoch by validation macro-F1 (ties: lower NLL) is kept in ``best.pt`` for export.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import math
import os
import sys
import time
from contextlib import nullcontext
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.distributed as dist
import torch.nn.functional as F
from torch import nn
from torch.optim.swa_utils import AveragedModel, get_ema_multi_avg_fn
from tqdm import tqdm

from mlcore import artifact
from mlcore.errors import DatasetError, TrainingError
from mlcore.files import atomic_write, atomic_write_text
from mlcore.preprocessing import PreprocessSpec, equalised, normalise
from training.augment import AugmentConfig, augment_batch
from training.counterfactual import (
    MARGIN,
    NO_TUMOUR,
    REMOVALS,
    CounterfactualTraining,
    counterfactual_batch,
    merged_fills,
    trained_fills,
)
from training.data import Dataset, load_dataset
from training.dedup import find_duplicate_groups
from training.localisation import (
    box_masks,
    class_evidence_map,
    count_boxes,
    last_linear,
    localisation_loss,
    presence_loss,
    presence_targets,
    read_boxes,
)
from training.metrics import classification_metrics
from training.models import PRESENCE_ARCHITECTURES, Classifier, PresenceHead, build_model, compact_name
from training.provenance import git_commit
from training.split import groups_on_both_sides, stratified_group_split

log = logging.getLogger(__name__)


CHECKPOINT_VERSION = 1


@dataclass(frozen=True)
class FitConfig:
    """Everything that defines a training run; stored in every checkpoint."""

    data: str
    out: str
    architecture: str = "brainxai_cnn"
    width: int = 26
    dropout: float = 0.2
    image_size: int = 192
    epochs: int = 100
    batch_size: int = 32
    lr: float = 2e-3
    weight_decay: float = 0.05
    warmup_epochs: float = 2.0
    label_smoothing: float = 0.1
    ema_decay: float = 0.999
    val_fraction: float = 0.15
    phash_distance: int = 4
    patience: int = 25
    seed: int = 0
    amp: bool = True
    augment: bool = True
    boxes: str = ""
    localisation_weight: float = 0.3
    skip_bad: bool = False
    device: str = "auto"
    init_from: str = ""
    counterfactual: float = 0.0
    counterfactual_methods: str = "donor,inpaint"
    counterfactual_margin: float = MARGIN
    counterfactual_classes: str = ""  # comma-separated tumour classes whose tumours are removed; "" every one
    counterfactual_insert: float = 0.0  # share of no-tumour images that get a batch tumour pasted in (its label)
    select: str = "best"
    equalise: bool = False  # equalise each image's foreground histogram before the model (stored in the manifest)
    distil_from: str = ""  # an artifact whose tumour-kind distribution the model learns on tumour images
    distil_weight: float = 1.0
    balance_tumours: bool = False  # presence cell loss: each image's tumour cells weigh as one (small = large)
    tumour_or_not: bool = False  # the class loss asks only whether there is a tumour (a hybrid's presence member)


# Softens both distributions of the kind distillation (Hinton et al.'s T; the loss is scaled by T²).
DISTIL_TEMPERATURE = 2.0


@dataclass(frozen=True)
class KindTeacher:
    """A trained model whose distribution over the tumour kinds (not whether there is a tumour) is distilled.

    ``kinds``: the tumour classes' columns; ``spec``: the teacher's own preprocessing.
    """

    module: nn.Module
    spec: PreprocessSpec
    kinds: torch.Tensor
    weight: float


@dataclass(frozen=True)
class BoxSupervision:
    """Training images' box masks (uint8 N×1×S×S), which of them have one, the loss weight, and whether a
    presence cell loss weighs each image's tumour cells as one (``--balance-tumours``)."""

    masks: torch.Tensor
    has_box: torch.Tensor
    weight: float
    per_image: bool = False


@dataclass
class RunState:
    """What changes epoch by epoch and must survive a restart."""

    epoch: int = 0
    best_score: tuple[float, float] = (-1.0, -math.inf)
    best_epoch: int = -1
    history: list[dict[str, Any]] = dataclasses.field(default_factory=list)


@dataclass(frozen=True)
class Distributed:
    """This process's place in a (possibly single-process) run."""

    rank: int
    world_size: int
    device: torch.device

    @property
    def is_main(self) -> bool:
        return self.rank == 0


def setup_distributed(device_name: str) -> Distributed:
    """Join the process group when started by ``torchrun``; otherwise a world of one."""
    cuda = torch.cuda.is_available() and device_name in ("auto", "cuda")
    world_size = int(os.environ.get("WORLD_SIZE", "1"))
    rank = int(os.environ.get("RANK", "0"))
    local_rank = int(os.environ.get("LOCAL_RANK", "0"))
    device = torch.device(f"cuda:{local_rank}" if cuda else "cpu")
    if cuda:
        torch.cuda.set_device(device)
    if world_size > 1 and not dist.is_initialized():
        dist.init_process_group(backend="nccl" if cuda else "gloo")
    return Distributed(rank=rank, world_size=world_size, device=device)


def lr_factor(step: int, total_steps: int, warmup_steps: int) -> float:
    """Linear warm-up to 1, then cosine decay to 0 over the remaining steps."""
    if step < warmup_steps:
        return (step + 1) / warmup_steps
    progress = (step - warmup_steps) / max(1, total_steps - warmup_steps)
    return 0.5 * (1.0 + math.cos(math.pi * min(1.0, progress)))


def _autocast(device: torch.device, enabled: bool) -> Any:
    if not enabled:
        return nullcontext()
    return torch.autocast(device.type, dtype=torch.bfloat16)


@dataclass
class Trainer:
    """What one epoch of training needs besides the images: the model and everything that updates it."""

    model: nn.Module
    ema: AveragedModel | None
    optimizer: torch.optim.Optimizer
    scheduler: torch.optim.lr_scheduler.LRScheduler
    criterion: nn.Module
    spec: PreprocessSpec
    augment: AugmentConfig
    batch_size: int
    dist_info: Distributed
    amp: bool = False
    boxes: BoxSupervision | None = None
    counterfactual: CounterfactualTraining | None = None
    teacher: KindTeacher | None = None

    @property
    def scored(self) -> nn.Module:
        """The model that is evaluated and exported: the EMA average when there is one."""
        return self.ema.module if self.ema is not None else _unwrap(self.model)


def train_one_epoch(
    trainer: Trainer, images: torch.Tensor, labels: torch.Tensor, *, epoch_seed: int
) -> tuple[float, float]:
    """One pass over this rank's shard of the training images; returns the mean total and localisation losses.

    The shuffling is the same on every rank (seeded by ``epoch_seed``); each rank takes every
    ``world_size``-th image and all ranks run the same number of steps, as DDP requires. With
    ``trainer.boxes``, the images of the batch that have a tumour box add ``weight`` × the localisation loss.
    """
    dist_info, batch_size = trainer.dist_info, trainer.batch_size
    trainer.model.train()
    order = torch.randperm(len(images), generator=torch.Generator().manual_seed(epoch_seed))
    shard = order[dist_info.rank :: dist_info.world_size]
    steps = len(order) // dist_info.world_size // batch_size
    aug_generator = torch.Generator().manual_seed(epoch_seed * 1009 + dist_info.rank)
    torch.manual_seed(epoch_seed * 1013 + dist_info.rank)
    total, total_localisation = 0.0, 0.0
    bar = tqdm(range(steps), desc="train", unit="batch", leave=False, disable=not _show_progress(dist_info))
    for step in bar:
        index = shard[step * batch_size : (step + 1) * batch_size]
        loss, localisation = _batch_loss(trainer, images, labels, index=index, generator=aug_generator)
        trainer.optimizer.zero_grad(set_to_none=True)
        loss.backward()
        trainer.optimizer.step()
        trainer.scheduler.step()
        if trainer.ema is not None:
            trainer.ema.update_parameters(_unwrap(trainer.model))
        total += float(loss.detach())
        total_localisation += localisation
        bar.set_postfix(loss=f"{total / (step + 1):.4f}")
    return total / max(1, steps), total_localisation / max(1, steps)


def _batch_loss(
    trainer: Trainer, images: torch.Tensor, labels: torch.Tensor, *, index: torch.Tensor, generator: torch.Generator
) -> tuple[torch.Tensor, float]:
    """The loss of one augmented batch (classification + weighted localisation) and its localisation part."""
    device, boxes = trainer.dist_info.device, trainer.boxes
    masks = boxes.masks[index] if boxes is not None else None
    batch, target, boxed = images[index], labels[index], boxes.has_box[index] if boxes is not None else None
    if trainer.counterfactual is not None and masks is not None and boxed is not None:
        rng = np.random.default_rng(int(torch.randint(0, 2**31 - 1, (1,), generator=generator)))
        batch, target, masks, boxed = counterfactual_batch(
            batch, target, (masks, boxed), config=trainer.counterfactual, rng=rng
        )
    augmented, masks = augment_batch(batch, trainer.augment, generator, masks)
    batch = (
        normalise(augmented, trainer.spec).to(device, non_blocking=True).contiguous(memory_format=torch.channels_last)
    )
    target = target.to(device, non_blocking=True)
    with _autocast(device, trainer.amp):
        logits, features = trainer.model(batch, return_features=True)
        loss = trainer.criterion(logits, target)
    if trainer.teacher is not None:
        loss = loss + trainer.teacher.weight * kind_distillation(trainer.teacher, augmented, logits, target)
    if boxes is None or masks is None:
        return loss, 0.0
    boxed = boxed.to(device) if boxed is not None else boxes.has_box[index].to(device)
    head = _unwrap(trainer.model).get_submodule("head")
    if isinstance(head, PresenceHead):
        with _autocast(device, trainer.amp):
            cells = head.cell_presence(features)
        absent = target == head.absent_index
        grid = (int(cells.shape[1]), int(cells.shape[2]))
        targets = presence_targets(masks.to(device), boxed, absent, grid)
        localisation = presence_loss(cells, *targets, per_image=boxes.per_image)
        return loss + boxes.weight * localisation, float(localisation.detach())
    # Kept in the graph even when no image of the batch has a box, so DDP ranks stay in step.
    with _autocast(device, trainer.amp):
        evidence = class_evidence_map(features[boxed], last_linear(head), target[boxed])
    localisation = localisation_loss(evidence, masks.to(device)[boxed]) if bool(boxed.any()) else features.sum() * 0.0
    return loss + boxes.weight * localisation, float(localisation.detach())


class TumourOrNotLoss(nn.Module):
    """Cross-entropy of tumour or not alone (``--tumour-or-not``): the tumour classes' probabilities summed.

    For a presence model that will decide only whether there is a tumour inside a hybrid (:mod:`training.hybrid`),
    whose kind comes from another model: none of the backbone is spent on telling the kinds apart.
    """

    def __init__(self, absent: int, label_smoothing: float) -> None:
        super().__init__()
        self.absent = absent
        self.label_smoothing = label_smoothing

    def forward(self, logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        log_probs = torch.log_softmax(logits.float(), 1)
        tumour = torch.cat([log_probs[:, : self.absent], log_probs[:, self.absent + 1 :]], 1)
        binary = torch.stack([log_probs[:, self.absent], torch.logsumexp(tumour, 1)], 1)
        return F.cross_entropy(binary, (target != self.absent).long(), label_smoothing=self.label_smoothing)


def kind_distillation(
    teacher: KindTeacher, augmented: torch.Tensor, logits: torch.Tensor, target: torch.Tensor
) -> torch.Tensor:
    """T² · KL(teacher ‖ model) of the distributions over the tumour kinds, on the batch's tumour-labelled images.

    Softmax over the kind columns alone is the distribution given that there is a tumour, so the teacher says
    nothing about tumour or not (which a shortcut-trained teacher would answer from the image's source). Images
    labelled no tumour (counterfactual removals among them) add nothing.
    """
    kinds = teacher.kinds.to(logits.device)
    tumour = torch.isin(target, kinds)
    if not bool(tumour.any()):
        return logits.sum() * 0.0
    with torch.no_grad():
        inputs = normalise(augmented[tumour.cpu()], teacher.spec).to(logits.device)
        soft = torch.softmax(teacher.module(inputs).float()[:, kinds] / DISTIL_TEMPERATURE, 1)
    log_student = torch.log_softmax(logits[tumour].float()[:, kinds] / DISTIL_TEMPERATURE, 1)
    divergence = F.kl_div(log_student, soft, reduction="batchmean")
    return divergence * DISTIL_TEMPERATURE**2


def kind_teacher(config: FitConfig, classes: list[str], device: torch.device) -> KindTeacher | None:
    """The artifact named by ``--distil-from`` as a kind teacher (eval mode, on ``device``), or None."""
    if not config.distil_from:
        return None
    if NO_TUMOUR not in classes:
        raise TrainingError(f"--distil-from distils the tumour kinds; the data has no {NO_TUMOUR!r} class")
    loaded = artifact.load(Path(config.distil_from))
    if loaded.classes != classes:
        raise TrainingError(f"--distil-from {config.distil_from} classifies {loaded.classes}, the data holds {classes}")
    spec = PreprocessSpec.from_manifest(loaded.manifest)
    if spec.size != config.image_size:
        raise TrainingError(f"--distil-from takes {spec.size} px images, this fit {config.image_size} px")
    kinds = torch.tensor([index for index, name in enumerate(classes) if name != NO_TUMOUR])
    log.info(
        "distilling the tumour kinds of %s %s (weight %s)",
        loaded.manifest["name"],
        loaded.manifest["version"],
        config.distil_weight,
    )
    return KindTeacher(module=loaded.module.to(device).eval(), spec=spec, kinds=kinds, weight=config.distil_weight)


@torch.no_grad()
def predict_probabilities(
    model: nn.Module, images: torch.Tensor, spec: PreprocessSpec, device: torch.device, *, batch_size: int = 64
) -> np.ndarray:
    """Softmax probabilities (N, C) for fitted images in [0, 1], in eval mode and fp32."""
    model.eval()
    outputs = []
    for start in range(0, len(images), batch_size):
        batch = normalise(images[start : start + batch_size], spec).to(device)
        outputs.append(torch.softmax(model(batch.contiguous(memory_format=torch.channels_last)).float(), 1).cpu())
    return torch.cat(outputs).numpy()


def evaluate(
    model: nn.Module,
    images: torch.Tensor,
    labels: np.ndarray,
    classes: list[str],
    *,
    spec: PreprocessSpec,
    device: torch.device,
) -> dict[str, Any]:
    """Metrics of ``model`` on fitted images: accuracy, macro-F1, NLL, calibration, confusion."""
    return classification_metrics(predict_probabilities(model, images, spec, device), labels, classes)


def _show_progress(dist_info: Distributed) -> bool:
    return dist_info.is_main and sys.stderr.isatty()


def prepare_split(config: FitConfig, dist_info: Distributed) -> tuple[Dataset, np.ndarray, np.ndarray, dict[str, Any]]:
    """Load the data, de-duplicate, split by duplicate group, and write ``split.json`` (main rank)."""
    data = load_dataset(Path(config.data), config.image_size, config.skip_bad, show_progress=_show_progress(dist_info))
    report = find_duplicate_groups(data.exact_keys, data.phashes, config.phash_distance)
    train, val = stratified_group_split(data.labels, report.groups, config.val_fraction, config.seed)
    leaked = groups_on_both_sides(report.groups, train, val)
    if leaked:
        raise TrainingError(f"split leaks {len(leaked)} duplicate groups; this is a bug")
    summary = {**report.summary(), "train": len(train), "val": len(val)}
    log.info("de-duplication and split: %s", json.dumps(summary))
    if dist_info.is_main:
        split = {
            "classes": data.classes,
            "fingerprint": data.fingerprint,
            "seed": config.seed,
            "val_fraction": config.val_fraction,
            "dedup": summary,
            "train": [data.paths[i] for i in train],
            "val": [data.paths[i] for i in val],
        }
        atomic_write_text(Path(config.out) / "split.json", json.dumps(split, indent=1))
    return data, train, val, summary


def box_supervision(config: FitConfig, data: Dataset, train: np.ndarray) -> BoxSupervision | None:
    """Box masks of the ``train`` images (never the validation ones), or None without boxes or weight."""
    if config.balance_tumours and config.architecture not in PRESENCE_ARCHITECTURES:
        raise TrainingError(f"--balance-tumours weighs a presence model's cell loss; {config.architecture} has none")
    if not config.boxes or config.localisation_weight <= 0:
        return None
    boxes = read_boxes(Path(config.boxes))
    paths = [data.paths[i] for i in train]
    sizes = [data.original_sizes[i] for i in train]
    masks, has_box = box_masks(paths, sizes, boxes, config.image_size)
    per_class = count_boxes(has_box, torch.from_numpy(data.labels[train]), data.classes)
    log.info(
        "localisation loss (weight %s) on %d training images with a box: %s",
        config.localisation_weight,
        int(has_box.sum()),
        json.dumps(per_class),
    )
    if not bool(has_box.any()):
        raise DatasetError(f"no training image has a box in {config.boxes}; check its paths")
    return BoxSupervision(
        masks=masks, has_box=has_box, weight=config.localisation_weight, per_image=config.balance_tumours
    )


def absent_index(architecture: str, classes: list[str]) -> int:
    """The no-tumour class's index for a presence architecture (which needs one); -1 for the others."""
    if architecture not in PRESENCE_ARCHITECTURES:
        return -1
    if NO_TUMOUR not in classes:
        raise TrainingError(f"--architecture {architecture} needs a {NO_TUMOUR!r} class; the data holds {classes}")
    return classes.index(NO_TUMOUR)


def save_checkpoint(path: Path, checkpoint: dict[str, Any]) -> None:
    """Write a checkpoint atomically: a kill mid-write leaves the previous one intact."""
    atomic_write(path, lambda tmp: torch.save(checkpoint, tmp))


def _unwrap(model: nn.Module) -> nn.Module:
    return model.module if isinstance(model, nn.parallel.DistributedDataParallel) else model


def input_statistics(images: torch.Tensor, *, equalise: bool) -> tuple[float, float]:
    """Mean and standard deviation of the training images as the model will see them (equalised or not)."""
    if equalise:
        images = torch.cat([equalised(images[start : start + 256]) for start in range(0, len(images), 256)])
    return float(images.mean()), float(images.std())


def build_trainer(config: FitConfig, data: Dataset, train: np.ndarray, dist_info: Distributed) -> Trainer:
    """The model (channels-last, on the device), its EMA, AdamW with warm-up + cosine, the loss and the boxes."""
    mean, std = input_statistics(data.images[train], equalise=config.equalise)
    spec = PreprocessSpec(size=config.image_size, mean=round(mean, 6), std=round(std, 6), equalise=config.equalise)
    model: nn.Module = build_model(
        config.architecture,
        len(data.classes),
        config.width,
        config.dropout,
        absent_index=absent_index(config.architecture, data.classes),
    )
    if config.init_from:
        start, architecture = initial_weights(Path(config.init_from), data.classes)
        model.load_state_dict(start if architecture == config.architecture else backbone_weights(start, model))
    model = model.to(dist_info.device).to(memory_format=torch.channels_last)
    ema = None
    if config.ema_decay > 0:
        ema = AveragedModel(model, multi_avg_fn=get_ema_multi_avg_fn(config.ema_decay), use_buffers=True)
    decay: list[nn.Parameter] = []
    no_decay: list[nn.Parameter] = []
    for name, parameter in model.named_parameters():
        (no_decay if parameter.ndim <= 1 or name.endswith(".bias") else decay).append(parameter)
    optimizer = torch.optim.AdamW(
        [{"params": decay, "weight_decay": config.weight_decay}, {"params": no_decay, "weight_decay": 0.0}],
        lr=config.lr,
    )
    steps_per_epoch = len(train) // dist_info.world_size // config.batch_size
    if steps_per_epoch < 1:
        raise TrainingError(f"{len(train)} training images are fewer than one batch of {config.batch_size} per process")
    total_steps, warmup_steps = config.epochs * steps_per_epoch, max(1, int(config.warmup_epochs * steps_per_epoch))
    return Trainer(
        model=model,
        ema=ema,
        optimizer=optimizer,
        scheduler=torch.optim.lr_scheduler.LambdaLR(optimizer, lambda s: lr_factor(s, total_steps, warmup_steps)),
        criterion=class_loss(config, data.classes),
        spec=spec,
        augment=AugmentConfig() if config.augment else AugmentConfig.none(),
        batch_size=config.batch_size,
        dist_info=dist_info,
        amp=config.amp,
        boxes=box_supervision(config, data, train),
        counterfactual=counterfactual_training(config, data, train),
        teacher=kind_teacher(config, data.classes, dist_info.device),
    )


def class_loss(config: FitConfig, classes: list[str]) -> nn.Module:
    """Cross-entropy over the classes, or of tumour or not alone with ``--tumour-or-not``."""
    if not config.tumour_or_not:
        return nn.CrossEntropyLoss(label_smoothing=config.label_smoothing)
    if NO_TUMOUR not in classes:
        raise TrainingError(f"--tumour-or-not needs a {NO_TUMOUR!r} class; the data holds {classes}")
    return TumourOrNotLoss(classes.index(NO_TUMOUR), config.label_smoothing)


def initial_weights(artifact_path: Path, classes: list[str]) -> tuple[dict[str, torch.Tensor], str]:
    """The weights of an artifact to start from (fine-tuning) and its architecture; its classes must be the data's."""
    loaded = artifact.load(artifact_path)
    if loaded.classes != classes:
        raise TrainingError(f"{artifact_path} classifies {loaded.classes}, the data holds {classes}")
    log.info("starting from the weights of %s %s", loaded.manifest["name"], loaded.manifest["version"])
    weights = {name: tensor.clone() for name, tensor in loaded.module.state_dict().items()}
    return weights, str(loaded.manifest["architecture"]["name"])


def backbone_weights(start: dict[str, torch.Tensor], model: nn.Module) -> dict[str, torch.Tensor]:
    """``model``'s own weights with every backbone tensor that ``start`` (another architecture) holds replaced.

    A presence model can so start from a pooling model's backbone; its head (and a fine backbone's lateral,
    named by :func:`compact_name`) starts fresh. Fails when a backbone tensor of ``start`` has another shape
    (another width) or none matches.
    """
    own = model.state_dict()
    backbone = {
        name: compact_name(name) for name in own if name.startswith("backbone.") and compact_name(name) in start
    }
    wrong = [name for name, source in backbone.items() if start[source].shape != own[name].shape]
    if wrong or not backbone:
        raise TrainingError(f"--init-from: the artifact's backbone does not match this architecture's ({wrong[:3]})")
    taken = {name: start[source] for name, source in backbone.items()}
    fresh = sorted({name.rsplit(".", 2)[0] for name in own if name not in taken})
    log.info("took %d backbone tensors of %d; fresh: %s", len(taken), len(own), fresh)
    return {**own, **taken}


def lineage_fills(config: FitConfig) -> list[str] | None:
    """The removal fills this fit trains with (none without ``--counterfactual``), together with those the artifact it
    starts from was trained with: what an evaluation must not count as a fill the model never saw."""
    own = [fill for fill in config.counterfactual_methods.split(",") if fill] if config.counterfactual > 0 else []
    start = trained_fills(artifact.load(Path(config.init_from)).manifest) if config.init_from else []
    return merged_fills(own, start)


def counterfactual_training(config: FitConfig, data: Dataset, train: np.ndarray) -> CounterfactualTraining | None:
    """The trainer's counterfactual augmentation with its no-tumour donors (train side), or None when off."""
    if config.counterfactual <= 0 and config.counterfactual_insert <= 0:
        return None
    if not config.boxes or config.localisation_weight <= 0:
        raise TrainingError("counterfactual augmentation needs the tumour boxes (--boxes, --localisation-weight > 0)")
    if NO_TUMOUR not in data.classes:
        raise TrainingError(f"counterfactual augmentation needs a {NO_TUMOUR!r} class")
    methods = tuple(method for method in config.counterfactual_methods.split(",") if method)
    unknown = [method for method in methods if method not in REMOVALS]
    if unknown or not methods:
        raise TrainingError(f"--counterfactual-methods {config.counterfactual_methods!r}: choose from {REMOVALS}")
    if not 0.0 <= config.counterfactual_insert <= 1.0:
        raise TrainingError(f"--counterfactual-insert {config.counterfactual_insert}: a share from 0 to 1")
    if not 0.0 <= config.counterfactual_margin <= 1.0:
        raise TrainingError(
            f"--counterfactual-margin {config.counterfactual_margin}: a share of the box's size from 0 to 1 (default "
            f"{MARGIN})"
        )
    notumor = data.classes.index(NO_TUMOUR)
    donors = data.images[train][torch.from_numpy(data.labels[train] == notumor)]
    removable = removable_classes(config.counterfactual_classes, data.classes)
    log.info(
        "counterfactual augmentation: %.0f %% removals of %s tumours by %s (boxes grown by %.0f %%), as many controls, "
        "%.0f %% of no-tumour images with a tumour inserted",
        100 * config.counterfactual,
        [data.classes[index] for index in removable],
        methods,
        100 * config.counterfactual_margin,
        100 * config.counterfactual_insert,
    )
    return CounterfactualTraining(
        config.counterfactual,
        methods,
        notumor,
        donors,
        margin=config.counterfactual_margin,
        removable=removable,
        insert=config.counterfactual_insert,
    )


def removable_classes(names: str, classes: list[str]) -> tuple[int, ...]:
    """The indices of the tumour classes named in ``names`` (comma-separated; empty: every class but notumor)."""
    chosen = [name for name in names.split(",") if name] or [name for name in classes if name != NO_TUMOUR]
    wrong = [name for name in chosen if name not in classes or name == NO_TUMOUR]
    if wrong:
        tumours = [name for name in classes if name != NO_TUMOUR]
        raise TrainingError(
            f"--counterfactual-classes {names!r}: {wrong} are not tumour classes; choose from {tumours}"
        )
    return tuple(classes.index(name) for name in chosen)


def resume_state(trainer: Trainer, config: FitConfig, last: Path) -> RunState:
    """Load ``last.pt`` into the trainer and return where the run stood; a fresh state when there is none."""
    if not last.exists():
        log.info("--resume: no %s yet, starting from the first epoch", last)
        return RunState()
    checkpoint = torch.load(last, map_location=trainer.dist_info.device, weights_only=False)
    # A checkpoint written before a field existed ran with that field's default.
    written = {**dataclasses.asdict(FitConfig(data=config.data, out=config.out)), **checkpoint["config"]}
    if written != dataclasses.asdict(config):
        raise TrainingError(f"{last} was written by another configuration; use a new --out or drop --resume")
    trainer.model.load_state_dict(checkpoint["model"])
    if trainer.ema is not None:
        trainer.ema.load_state_dict(checkpoint["ema"])
    trainer.optimizer.load_state_dict(checkpoint["optimizer"])
    trainer.scheduler.load_state_dict(checkpoint["scheduler"])
    state = RunState(**{**checkpoint["state"], "best_score": tuple(checkpoint["state"]["best_score"])})
    log.info("resumed from %s after epoch %d", last, state.epoch)
    return state


def write_epoch(
    out: Path, trainer: Trainer, state: RunState, *, run: dict[str, Any], metrics: dict[str, Any] | None
) -> None:
    """Write ``last.pt`` and ``history.json`` (and ``best.pt`` when ``metrics`` are of a new best epoch).

    ``run``: what identifies the run in every checkpoint (config, classes, preprocessing, data, commit).
    """
    if metrics is not None:
        best = {**run, "weights": trainer.scored.state_dict(), "metrics": metrics, "epoch": state.epoch}
        save_checkpoint(out / "best.pt", best)
    checkpoint = {
        **run,
        "model": _unwrap(trainer.model).state_dict(),
        "ema": trainer.ema.state_dict() if trainer.ema is not None else None,
        "optimizer": trainer.optimizer.state_dict(),
        "scheduler": trainer.scheduler.state_dict(),
        "state": dataclasses.asdict(state),
    }
    save_checkpoint(out / "last.pt", checkpoint)
    atomic_write_text(out / "history.json", json.dumps(state.history, indent=1))


def run_epoch(
    trainer: Trainer, data: Dataset, split: tuple[np.ndarray, np.ndarray], *, seed: int
) -> tuple[dict[str, Any], dict[str, Any]]:
    """Train one epoch and evaluate on the validation side: the metrics (the same on every rank) and a history row."""
    train, val = split
    started = time.perf_counter()
    train_loss, train_localisation = train_one_epoch(
        trainer, data.images[train], torch.from_numpy(data.labels[train]), epoch_seed=seed
    )
    metrics = evaluate(
        trainer.scored,
        data.images[val],
        data.labels[val],
        data.classes,
        spec=trainer.spec,
        device=trainer.dist_info.device,
    )
    if trainer.dist_info.world_size > 1:  # every rank must take the same early-stopping decision
        shared = [metrics]
        dist.broadcast_object_list(shared, src=0)
        metrics = shared[0]
    row = {
        "train_loss": round(train_loss, 5),
        "train_localisation": round(train_localisation, 5),
        "val_accuracy": round(metrics["accuracy"], 5),
        "val_macro_f1": round(metrics["macro_f1"], 5),
        "val_nll": round(metrics["nll"], 5),
        "lr": trainer.optimizer.param_groups[0]["lr"],
        "seconds": round(time.perf_counter() - started, 1),
    }
    return metrics, row


def fit(config: FitConfig, resume: bool = False) -> dict[str, Any]:
    """Train a model as ``config`` says and return the best epoch's validation metrics.

    Writes ``split.json``, ``last.pt`` (every epoch), ``best.pt`` and ``history.json`` under
    ``config.out``. With ``resume``, continues from ``last.pt`` of the same configuration.
    """
    if config.select not in ("best", "last"):
        raise TrainingError(f"--select {config.select!r}: best (by validation macro-F1) or last (the final epoch)")
    dist_info = setup_distributed(config.device)
    out = Path(config.out)
    out.mkdir(parents=True, exist_ok=True)
    torch.manual_seed(config.seed)
    data, train, val, split_summary = prepare_split(config, dist_info)
    trainer = build_trainer(config, data, train, dist_info)
    state = resume_state(trainer, config, out / "last.pt") if resume else RunState()
    if dist_info.world_size > 1:
        trainer.model = nn.parallel.DistributedDataParallel(trainer.model)
    run = {
        "version": CHECKPOINT_VERSION,
        "config": dataclasses.asdict(config),
        "classes": data.classes,
        "preprocess": dataclasses.asdict(trainer.spec),
        "fingerprint": data.fingerprint,
        "split": split_summary,
        "git_commit": git_commit(),
        "counterfactual_fills": lineage_fills(config),
    }
    while state.epoch < config.epochs and state.epoch - state.best_epoch <= config.patience:
        metrics, row = run_epoch(trainer, data, (train, val), seed=config.seed * 100_003 + state.epoch)
        state.epoch += 1
        row = {"epoch": state.epoch, **row}
        score = (round(metrics["macro_f1"], 6), -metrics["nll"])
        # "last": a fixed schedule (fine-tuning towards what validation accuracy does not measure) keeps its last epoch.
        improved = score > state.best_score or config.select == "last"
        if improved:
            state.best_score, state.best_epoch = score, state.epoch
        state.history.append(row)
        log.info("epoch %d/%d %s%s", state.epoch, config.epochs, json.dumps(row), "  *best*" if improved else "")
        if dist_info.is_main:
            write_epoch(out, trainer, state, run=run, metrics=metrics if improved else None)
    if state.epoch - state.best_epoch > config.patience:
        log.info("early stop: no macro-F1 gain for %d epochs (best epoch %d)", config.patience, state.best_epoch)
    if dist_info.world_size > 1:
        dist.barrier()
    best_metrics: dict[str, Any] = torch.load(out / "best.pt", weights_only=False)["metrics"]
    return best_metrics


def load_trained(checkpoint_path: Path) -> tuple[Classifier, dict[str, Any]]:
    """Rebuild the best model from ``best.pt``: the eager model in eval mode and the checkpoint dict."""
    if not checkpoint_path.is_file():
        raise TrainingError(f"no checkpoint at {checkpoint_path}; train one with `python -m training fit`")
    checkpoint: dict[str, Any] = torch.load(checkpoint_path, map_location="cpu", weights_only=False)
    if "weights" not in checkpoint:
        raise TrainingError(
            f"{checkpoint_path} is not a model checkpoint (a run's best.pt) but a resume state (last.pt); "
            f"give {checkpoint_path.with_name('best.pt')}"
        )
    config = checkpoint["config"]
    classes = checkpoint["classes"]
    model = build_model(
        config["architecture"],
        len(classes),
        config["width"],
        config["dropout"],
        absent_index=absent_index(config["architecture"], classes),
    )
    model.load_state_dict(checkpoint["weights"])
    return model.eval(), checkpoint
