"""Learning stage: models, KD losses, the training loop, soft targets and metrics."""
