"""The images the fits read: the dataset in memory, its duplicate groups and split, augmentation, tumours of unknown
kind, synthetic phantoms."""
