"""Deterministic seeding: one call seeds Python, NumPy and PyTorch."""

from __future__ import annotations

import os
import random

import numpy as np


def seed_everything(seed: int, *, deterministic_torch: bool = True) -> np.random.Generator:
    """Seed every RNG the project uses and return a NumPy Generator for local use.

    Same config and seed must give identical metrics on CPU, so torch is put in
    deterministic mode as well (cheap for the small dense models used here).
    """
    random.seed(seed)
    np.random.seed(seed % (2**32))
    os.environ.setdefault("PYTHONHASHSEED", str(seed))
    try:
        import torch

        torch.manual_seed(seed)
        if deterministic_torch:
            torch.use_deterministic_algorithms(True, warn_only=True)
            os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")
    except ImportError:  # pragma: no cover
        pass
    return np.random.default_rng(seed)
