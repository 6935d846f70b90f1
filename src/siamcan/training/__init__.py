"""Training: losses, LR schedule, checkpoints, DDP and the trainer behind ``siamcan train``."""
