"""The fit loop: ``train_one_epoch`` and ``evaluate`` as explicit functions, checkpoints as one dict.

Runs single-process or under ``torchrun`` (DistributedDataParallel; gloo on CPU, nccl on CUDA).
Every epoch writes ``last.pt`` atomically; ``--resume`` reloads it and continues exactly where a
killed run stopped (per-epoch seeds are derived from the run seed, so nothing else is needed).
The kept epoch (``select``: the best by validation macro-F1, ties by lower NLL, or the last) is in ``best.pt``.
Experiments add batch transforms and loss terms through :func:`fit`'s arguments (:mod:`training.fit.batch`).
"""

from __future__ import annotations

import dataclasses
import json
import logging
import math
import os
import sys
import time
from collections.abc import Callable, Sequence
from contextlib import nullcontext
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.distributed as dist
from torch import nn
from torch.optim.swa_utils import AveragedModel, get_ema_multi_avg_fn
from tqdm import tqdm

from mlcore.errors import DatasetError, TrainingError
from mlcore.files import atomic_write_text
from mlcore.preprocessing import PreprocessSpec, normalise
from training.data.augment import AugmentConfig, augment_batch
from training.data.boxes import box_masks, read_boxes
from training.data.dataset import Dataset, load_dataset
from training.data.dedup import find_duplicate_groups
from training.data.split import groups_on_both_sides, stratified_group_split
from training.data.unknown_kind import UnknownKindTumours, load_unknown_kind, split_groups, unknown_kind_label
from training.fit.batch import Batch, BatchTransform, LossTerm, Step
from training.fit.checkpoint import checkpoint_spec, read_model_checkpoint, save_checkpoint
from training.fit.counterfactual import NO_TUMOUR, REMOVALS, CounterfactualTraining
from training.fit.localisation import count_boxes, localisation_loss
from training.fit.losses import TumourAnyKindLoss, localisation_targets
from training.fit.models import EvidenceMap, build_model, get_architecture
from training.fit.recipe import FitConfig, unknown_kind_folder
from training.metrics import classification_metrics
from training.provenance import git_commit

log = logging.getLogger(__name__)


CHECKPOINT_VERSION = 1


@dataclass(frozen=True)
class LocalisationTerm:
    """A loss of the architecture's class-evidence map against the box masks — the localisation loss
    (:func:`training.fit.localisation.localisation_loss`) unless ``loss`` says otherwise — for the images of the batch
    that keep a box, times ``weight``. ``absent`` (the no-tumour class, or -1) lets a tumour of unknown kind be
    localised on its most likely kind's map."""

    weight: float
    evidence: EvidenceMap
    absent: int = -1
    name: str = "localisation"
    loss: Callable[[torch.Tensor, torch.Tensor], torch.Tensor] = localisation_loss  # (evidence N×h×w, masks N×1×S×S)

    def __call__(self, model: nn.Module, step: Step) -> torch.Tensor:
        boxed, masks = step.batch.boxed, step.batch.masks
        if boxed is None or masks is None or not bool(boxed.any()):
            return step.features.sum() * 0.0  # kept in the graph so that DDP ranks stay in step
        labels = step.batch.labels
        target = localisation_targets(step.logits, labels, self.absent) if self.absent >= 0 else labels
        evidence = self.evidence(_unwrap(model).get_submodule("head"), step.features[boxed], target[boxed])
        return self.weight * self.loss(evidence, masks[boxed])


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
    masks: tuple[torch.Tensor, torch.Tensor] | None = None  # every training image's box mask and whether it has one
    transforms: tuple[BatchTransform, ...] = ()
    terms: tuple[LossTerm, ...] = ()

    @property
    def scored(self) -> nn.Module:
        """The model that is evaluated and exported: the EMA average when there is one."""
        return self.ema.module if self.ema is not None else _unwrap(self.model)


def train_one_epoch(
    trainer: Trainer, images: torch.Tensor, labels: torch.Tensor, *, epoch_seed: int
) -> tuple[float, dict[str, float]]:
    """One pass over this rank's shard of the training images; returns the mean total loss and each term's mean.

    The shuffling is the same on every rank (seeded by ``epoch_seed``); each rank takes every
    ``world_size``-th image and all ranks run the same number of steps, as DDP requires.
    """
    dist_info, batch_size = trainer.dist_info, trainer.batch_size
    trainer.model.train()
    order = torch.randperm(len(images), generator=torch.Generator().manual_seed(epoch_seed))
    shard = order[dist_info.rank :: dist_info.world_size]
    steps = len(order) // dist_info.world_size // batch_size
    aug_generator = torch.Generator().manual_seed(epoch_seed * 1009 + dist_info.rank)
    torch.manual_seed(epoch_seed * 1013 + dist_info.rank)
    total = 0.0
    term_totals = {term.name: 0.0 for term in trainer.terms}
    bar = tqdm(range(steps), desc="train", unit="batch", leave=False, disable=not _show_progress(dist_info))
    for step in bar:
        index = shard[step * batch_size : (step + 1) * batch_size]
        loss, parts = batch_loss(trainer, images, labels, index=index, generator=aug_generator)
        trainer.optimizer.zero_grad(set_to_none=True)
        loss.backward()
        trainer.optimizer.step()
        trainer.scheduler.step()
        if trainer.ema is not None:
            trainer.ema.update_parameters(_unwrap(trainer.model))
        total += float(loss.detach())
        for name, value in parts.items():
            term_totals[name] += value
        bar.set_postfix(loss=f"{total / (step + 1):.4f}")
    return total / max(1, steps), {name: value / max(1, steps) for name, value in term_totals.items()}


def batch_loss(
    trainer: Trainer, images: torch.Tensor, labels: torch.Tensor, *, index: torch.Tensor, generator: torch.Generator
) -> tuple[torch.Tensor, dict[str, float]]:
    """The loss of one batch (transforms, augmentation, class loss + every loss term) and each term's value."""
    device = trainer.dist_info.device
    masks, boxed = (trainer.masks[0][index], trainer.masks[1][index]) if trainer.masks is not None else (None, None)
    batch = Batch(images[index], labels[index], masks, boxed)
    if trainer.transforms:
        rng = np.random.default_rng(int(torch.randint(0, 2**31 - 1, (1,), generator=generator)))
        for transform in trainer.transforms:
            batch = transform(batch, rng)
    augmented, moved_masks = augment_batch(batch.images, trainer.augment, generator, batch.masks)
    inputs = normalise(augmented, trainer.spec).to(device, non_blocking=True)
    on_device = Batch(
        images=inputs.contiguous(memory_format=torch.channels_last),
        labels=batch.labels.to(device, non_blocking=True),
        masks=moved_masks.to(device) if moved_masks is not None else None,
        boxed=batch.boxed.to(device) if batch.boxed is not None else None,
    )
    with _autocast(device, trainer.amp):
        logits, features = trainer.model(on_device.images, return_features=True)
        loss = trainer.criterion(logits, on_device.labels)
        parts: dict[str, float] = {}
        for term in trainer.terms:
            value = term(trainer.model, Step(on_device, logits, features))
            loss = loss + value
            parts[term.name] = float(value.detach())
    return loss, parts


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


@dataclass(frozen=True)
class UnknownKindSplit:
    """Tumours of unknown kind, split by group: the training side (repeated as the recipe says) and the validation
    side."""

    train: UnknownKindTumours
    val: UnknownKindTumours


def unknown_kind_split(config: FitConfig, show_progress: bool) -> UnknownKindSplit | None:
    """``unknown_kind``'s tumours split by group (``unknown_kind_val_fraction`` of the groups held aside), or None."""
    if not config.unknown_kind:
        return None
    if config.unknown_kind_repeat < 1:
        raise TrainingError(f"unknown_kind_repeat {config.unknown_kind_repeat}: at least 1")
    folder = unknown_kind_folder(config)
    assert folder is not None
    tumours = load_unknown_kind(folder, config.image_size, show_progress=show_progress)
    train, val = split_groups(tumours.groups, config.unknown_kind_val_fraction, config.seed)
    return UnknownKindSplit(train=tumours.subset(np.tile(train, config.unknown_kind_repeat)), val=tumours.subset(val))


def prepare_split(
    config: FitConfig, dist_info: Distributed
) -> tuple[Dataset, np.ndarray, np.ndarray, dict[str, Any], UnknownKindSplit | None]:
    """Load the data, de-duplicate, split by duplicate group, and write ``split.json`` (main rank); the tumours of
    unknown kind are split by their groups and recorded there too."""
    data = load_dataset(Path(config.data), config.image_size, config.skip_bad, show_progress=_show_progress(dist_info))
    report = find_duplicate_groups(data.exact_keys, data.phashes, config.phash_distance)
    train, val = stratified_group_split(data.labels, report.groups, config.val_fraction, config.seed)
    leaked = groups_on_both_sides(report.groups, train, val)
    if leaked:
        raise TrainingError(f"split leaks {len(leaked)} duplicate groups; this is a bug")
    summary = {**report.summary(), "train": len(train), "val": len(val)}
    log.info("de-duplication and split: %s", json.dumps(summary))
    extra = unknown_kind_split(config, _show_progress(dist_info))
    if extra is not None:
        unique_train = list(dict.fromkeys(extra.train.paths))
        summary = {**summary, "unknown_kind_train": len(unique_train), "unknown_kind_val": len(extra.val.paths)}
    if dist_info.is_main:
        split: dict[str, Any] = {
            "classes": data.classes,
            "fingerprint": data.fingerprint,
            "seed": config.seed,
            "val_fraction": config.val_fraction,
            "dedup": summary,
            "train": [data.paths[i] for i in train],
            "val": [data.paths[i] for i in val],
        }
        if extra is not None:
            split["unknown_kind"] = {
                "root": str(unknown_kind_folder(config)),
                "train": unique_train,
                "val": extra.val.paths,
            }
        atomic_write_text(Path(config.out) / "split.json", json.dumps(split, indent=1))
    return data, train, val, summary, extra


def training_masks(
    config: FitConfig, data: Dataset, train: np.ndarray, extra: UnknownKindTumours | None = None
) -> tuple[torch.Tensor, torch.Tensor] | None:
    """Box masks of the ``train`` images (never the validation ones), followed by those of the training side's
    tumours of unknown kind (``extra``), and which have a box; None without boxes or localisation weight."""
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
    if extra is not None:
        masks, has_box = torch.cat([masks, extra.masks]), torch.cat([has_box, extra.has_box])
        log.info("and %d tumours of unknown kind with a box", int(extra.has_box.sum()))
    return masks, has_box


def input_statistics(images: torch.Tensor) -> tuple[float, float]:
    """Mean and standard deviation of the training images."""
    return float(images.mean()), float(images.std())


def build_trainer(
    config: FitConfig,
    data: Dataset,
    train: np.ndarray,
    dist_info: Distributed,
    *,
    extra: UnknownKindTumours | None = None,
    transforms: Sequence[BatchTransform] = (),
    terms: Sequence[LossTerm] = (),
) -> Trainer:
    """The model (channels-last, on the device), its EMA, AdamW with warm-up + cosine, the class loss, the box masks,
    and the batch transforms and loss terms: the recipe's (counterfactual removals, localisation) and ``transforms`` /
    ``terms`` after them."""
    mean, std = input_statistics(data.images[train])
    spec = PreprocessSpec(size=config.image_size, mean=round(mean, 6), std=round(std, 6))
    model: nn.Module = build_model(
        config.architecture, len(data.classes), config.width, config.dropout, pretrained=config.pretrained
    )
    if config.start_from:
        start_from_checkpoint(model, config, spec, data.fingerprint)
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
    images = len(train) + (len(extra.paths) if extra is not None else 0)
    steps_per_epoch = images // dist_info.world_size // config.batch_size
    if steps_per_epoch < 1:
        raise TrainingError(f"{images} training images are fewer than one batch of {config.batch_size} per process")
    total_steps, warmup_steps = config.epochs * steps_per_epoch, max(1, int(config.warmup_epochs * steps_per_epoch))
    masks = training_masks(config, data, train, extra)
    recipe_transforms = [counterfactual_transform(config, data, train)] if config.counterfactual > 0 else []
    absent = data.classes.index(NO_TUMOUR) if config.unknown_kind else -1
    recipe_terms: list[LossTerm] = []
    if masks is not None:
        evidence = get_architecture(config.architecture).evidence
        recipe_terms.append(LocalisationTerm(config.localisation_weight, evidence, absent))
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
        masks=masks,
        transforms=(*recipe_transforms, *transforms),
        terms=(*recipe_terms, *terms),
    )


def start_from_checkpoint(
    model: nn.Module, config: FitConfig, spec: PreprocessSpec, fingerprint: str | None = None
) -> None:
    """Load the weights of ``config.start_from`` (a run's ``best.pt``) into ``model``: a fit that goes on from another
    run's kept epoch with its own schedule. The checkpoint must be of the same architecture, width and normalisation
    (the same data, ``fingerprint``, and split), or its weights would mean something else; the error names the
    difference. The input side may change (the network pools over space): a fine-tune at a new resolution.
    """
    path = Path(config.start_from)
    checkpoint = read_model_checkpoint(path)
    source = checkpoint["config"]
    for name in ("architecture", "width"):
        if source[name] != getattr(config, name):
            raise TrainingError(f"start_from: {path} has {name} {source[name]!r}, this fit {getattr(config, name)!r}")
    if fingerprint is not None and checkpoint.get("fingerprint") not in (None, fingerprint):
        raise TrainingError(f"start_from: {path} was trained on other data (dataset fingerprint differs)")
    trained = checkpoint_spec(checkpoint)
    # The constants are measured on the training images at the fit's side: at the same side another split moves them
    # in the third decimal; a new side moves the standard deviation by up to ~1.5 % (resampling smooths more or less).
    tolerance = 2e-3 if trained.size == spec.size else 1e-2
    if not (
        math.isclose(trained.mean, spec.mean, abs_tol=tolerance)
        and math.isclose(trained.std, spec.std, abs_tol=tolerance)
    ):
        raise TrainingError(
            f"start_from: {path} was trained with preprocessing {trained}, this fit has {spec} "
            "(other data or another split)"
        )
    try:
        model.load_state_dict(checkpoint["weights"])  # strict: every weight of the model, and only those
    except RuntimeError as exc:
        raise TrainingError(f"start_from: {path}'s weights do not fit this model: {exc}") from exc
    metrics = checkpoint["metrics"]
    log.info("started from %s (epoch %d, validation accuracy %s)", path, checkpoint["epoch"], metrics.get("accuracy"))
    if trained.size != spec.size:
        log.info("a new input side: %d px (the checkpoint trained at %d px)", spec.size, trained.size)


def class_loss(config: FitConfig, classes: list[str]) -> nn.Module:
    """Cross-entropy over the classes, and on p(no tumour) alone for tumours of unknown kind when there are any."""
    if not config.unknown_kind:
        return nn.CrossEntropyLoss(label_smoothing=config.label_smoothing)
    if NO_TUMOUR not in classes:
        raise TrainingError(f"tumours of unknown kind need a {NO_TUMOUR!r} class; the data holds {classes}")
    return TumourAnyKindLoss(classes.index(NO_TUMOUR), config.label_smoothing)


def fills_trained_with(config: FitConfig) -> list[str]:
    """The removal fills this fit trains with (none without counterfactual removals): what an evaluation must not
    count as a fill the model never saw."""
    if config.counterfactual <= 0:
        return []
    return sorted(fill for fill in config.counterfactual_methods.split(",") if fill)


def counterfactual_transform(config: FitConfig, data: Dataset, train: np.ndarray) -> CounterfactualTraining:
    """The counterfactual removals and controls as a batch transform, with their no-tumour donors (train side)."""
    if not config.boxes or config.localisation_weight <= 0:
        raise TrainingError("counterfactual augmentation needs the tumour boxes (boxes, localisation_weight > 0)")
    if NO_TUMOUR not in data.classes:
        raise TrainingError(f"counterfactual augmentation needs a {NO_TUMOUR!r} class")
    methods = tuple(method for method in config.counterfactual_methods.split(",") if method)
    unknown = [method for method in methods if method not in REMOVALS]
    if unknown or not methods:
        raise TrainingError(f"counterfactual_methods {config.counterfactual_methods!r}: choose from {REMOVALS}")
    notumor = data.classes.index(NO_TUMOUR)
    donors = data.images[train][torch.from_numpy(data.labels[train] == notumor)]
    log.info(
        "counterfactual augmentation: %.0f %% removals of tumours by %s (labelled notumor), as many controls",
        100 * config.counterfactual,
        methods,
    )
    return CounterfactualTraining(config.counterfactual, methods, notumor, donors)


def _unwrap(model: nn.Module) -> nn.Module:
    return model.module if isinstance(model, nn.parallel.DistributedDataParallel) else model


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


def training_images(
    data: Dataset, train: np.ndarray, extra: UnknownKindSplit | None
) -> tuple[torch.Tensor, torch.Tensor]:
    """The training side's images and labels, followed by the tumours of unknown kind (their own label), if any."""
    images, labels = data.images[train], torch.from_numpy(data.labels[train])
    if extra is None:
        return images, labels
    unknown = torch.full((len(extra.train.paths),), unknown_kind_label(data.classes), dtype=labels.dtype)
    return torch.cat([images, extra.train.images]), torch.cat([labels, unknown])


def answered_tumour(
    model: nn.Module, images: torch.Tensor, classes: list[str], *, spec: PreprocessSpec, device: torch.device
) -> float:
    """The share of ``images`` (all tumours) whose most probable class is a tumour class."""
    probabilities = predict_probabilities(model, images, spec, device)
    return float(np.mean(probabilities.argmax(1) != classes.index(NO_TUMOUR)))


def run_epoch(
    trainer: Trainer,
    data: Dataset,
    val: np.ndarray,
    *,
    seed: int,
    training: tuple[torch.Tensor, torch.Tensor],
    extra: UnknownKindSplit | None = None,
) -> tuple[dict[str, Any], dict[str, Any]]:
    """Train one epoch on ``training`` (images, labels) and evaluate on the validation side: the metrics (the same on
    every rank) and a history row; with ``extra``, the row has the share of its validation tumours answered tumour."""
    started = time.perf_counter()
    train_loss, term_losses = train_one_epoch(trainer, *training, epoch_seed=seed)
    metrics = evaluate(
        trainer.scored,
        data.images[val],
        data.labels[val],
        data.classes,
        spec=trainer.spec,
        device=trainer.dist_info.device,
    )
    if extra is not None:
        metrics["unknown_kind_answered_tumour"] = answered_tumour(
            trainer.scored, extra.val.images, data.classes, spec=trainer.spec, device=trainer.dist_info.device
        )
    if trainer.dist_info.world_size > 1:  # every rank must take the same early-stopping decision
        shared = [metrics]
        dist.broadcast_object_list(shared, src=0)
        metrics = shared[0]
    row = {
        "train_loss": round(train_loss, 5),
        **{f"train_{name}": round(value, 5) for name, value in term_losses.items()},
        "val_accuracy": round(metrics["accuracy"], 5),
        "val_macro_f1": round(metrics["macro_f1"], 5),
        "val_nll": round(metrics["nll"], 5),
        "lr": trainer.optimizer.param_groups[0]["lr"],
        "seconds": round(time.perf_counter() - started, 1),
    }
    if extra is not None:
        row["val_unknown_kind_tumour"] = round(metrics["unknown_kind_answered_tumour"], 5)
    return metrics, row


def fit(
    config: FitConfig,
    resume: bool = False,
    *,
    transforms: Sequence[BatchTransform] = (),
    terms: Sequence[LossTerm] = (),
    stop_after: int | None = None,
) -> dict[str, Any]:
    """Train a model as ``config`` says and return the kept epoch's validation metrics.

    Writes ``split.json``, ``last.pt`` (every epoch), ``best.pt`` and ``history.json`` under ``config.out``. With
    ``resume``, continues from ``last.pt`` of the same configuration. ``transforms`` and ``terms`` extend the recipe's
    batch transforms and loss terms (the extension point for experiments). ``stop_after``: stop after that many epochs
    of the recipe's schedule (a short reproduction check; a later ``resume`` goes on).
    """
    if config.select not in ("best", "last"):
        raise TrainingError(f"select {config.select!r}: best (by validation macro-F1) or last (the final epoch)")
    dist_info = setup_distributed(config.device)
    out = Path(config.out)
    out.mkdir(parents=True, exist_ok=True)
    torch.manual_seed(config.seed)
    data, train, val, split_summary, extra = prepare_split(config, dist_info)
    trainer = build_trainer(
        config, data, train, dist_info, extra=extra.train if extra else None, transforms=transforms, terms=terms
    )
    training = training_images(data, train, extra)
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
        "counterfactual_fills": fills_trained_with(config),
    }
    last_epoch = config.epochs if stop_after is None else min(config.epochs, state.epoch + stop_after)
    while state.epoch < last_epoch and state.epoch - state.best_epoch <= config.patience:
        metrics, row = run_epoch(
            trainer, data, val, seed=config.seed * 100_003 + state.epoch, training=training, extra=extra
        )
        state.epoch += 1
        row = {"epoch": state.epoch, **row}
        score = (round(metrics["macro_f1"], 6), -metrics["nll"])
        # "last": a fixed schedule (fine-tuning towards what validation accuracy does not measure) keeps its last epoch.
        improved = score > state.best_score or config.select == "last"
        if improved:
            state.best_score, state.best_epoch = score, state.epoch
        state.history.append(row)
        log.info("epoch %d/%d %s%s", state.epoch, config.epochs, json.dumps(row), "  *kept*" if improved else "")
        if dist_info.is_main:
            write_epoch(out, trainer, state, run=run, metrics=metrics if improved else None)
    return finish(config, state, dist_info)


def finish(config: FitConfig, state: RunState, dist_info: Distributed) -> dict[str, Any]:
    """Say why the run stopped, wait for every rank, and return the kept epoch's validation metrics."""
    if state.epoch - state.best_epoch > config.patience:
        log.info("early stop: no macro-F1 gain for %d epochs (best epoch %d)", config.patience, state.best_epoch)
    if dist_info.world_size > 1:
        dist.barrier()
    best_metrics: dict[str, Any] = torch.load(Path(config.out) / "best.pt", weights_only=False)["metrics"]
    return best_metrics
