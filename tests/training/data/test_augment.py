"""Augmentation is seeded, changes images, and moves box masks with the image."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import torch

from training.data.augment import AugmentConfig, augment_batch
from training.data.dataset import load_dataset


def test_augmentation_is_seeded_and_changes_images(synth_root: Path) -> None:
    images = load_dataset(synth_root, size=48, show_progress=False).images[:8]
    first, _ = augment_batch(images, AugmentConfig(), torch.Generator().manual_seed(5))
    second, _ = augment_batch(images, AugmentConfig(), torch.Generator().manual_seed(5))
    assert torch.equal(first, second)
    assert not torch.allclose(first, images)
    unchanged, _ = augment_batch(images, AugmentConfig.none(), torch.Generator())
    assert torch.allclose(unchanged, images, atol=1e-5)


def test_box_masks_move_with_the_image() -> None:
    """A bright square and its mask go through the same random geometry: the mask stays on the square."""
    images = torch.zeros(16, 1, 64, 64)
    images[:, :, 10:22, 36:50] = 1.0
    masks = (images > 0).to(torch.uint8)
    config = dataclasses.replace(AugmentConfig.none(), rotate_degrees=30.0, scale=(0.8, 1.2), translate=0.15, hflip=0.5)
    moved, moved_masks = augment_batch(images, config, torch.Generator().manual_seed(3), masks)
    assert moved_masks is not None
    for image, mask in zip(moved, moved_masks, strict=True):
        bright = image[0] > 0.5
        inside = mask[0] > 0.5
        assert inside.sum() > 0
        assert (bright & inside).sum() / (bright | inside).sum() > 0.8
