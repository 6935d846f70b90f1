"""Training data: dataset readers, pair sampling, augmentation and label maps (read raw, crop on the fly)."""
