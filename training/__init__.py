"""Offline training of brainxai: data, splits, augmentation, the CNN, fit, evaluation, export."""
