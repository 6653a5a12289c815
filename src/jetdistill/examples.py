"""Data for the examples: scikit-learn's handwritten digits in the generic HDF5 layout.

The digits example (``config/examples/digits.yaml``) repeats Hinton et al. (2015), section 3,
on data that ships with scikit-learn (1,797 8x8 images, 16 grey levels, no download): a
large MLP teacher with dropout, a small student, T = 20, and a variant with one digit left
out of the transfer set. Writing the images to the generic layout (``features`` (N, 64)
float32, ``labels`` (N,) int64) makes them go through exactly the path a user's own data
take (``data.source: generic``).
"""

from __future__ import annotations

import logging
import os
from pathlib import Path

import h5py
import numpy as np

from jetdistill.io import atomic_path

log = logging.getLogger(__name__)

DIGIT_CLASSES: tuple[str, ...] = tuple(str(d) for d in range(10))


def write_digits(path: str | os.PathLike[str]) -> dict[str, int]:
    """Write the 1,797 digits (raw grey levels 0..16, one row of 64 pixels per image) to
    ``path`` in the generic layout, atomically; returns ``{"n": ..., "n_features": 64}``.

    The pixels are written raw: the view's normalisation (``standard`` for generic data by
    default) is fitted on the teacher-training split like for any other data set.
    """
    from sklearn.datasets import load_digits  # bundled with scikit-learn: offline

    digits = load_digits()
    x = np.asarray(digits.data, dtype=np.float32)
    y = np.asarray(digits.target, dtype=np.int64)
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    with atomic_path(path) as tmp, h5py.File(tmp, "w") as f:
        f.create_dataset("features", data=x)
        f.create_dataset("labels", data=y)
        f.attrs["class_names"] = ",".join(DIGIT_CLASSES)
        f.attrs["source"] = "sklearn.datasets.load_digits"
    log.info("wrote %d digits (%d pixels each) to %s", len(y), x.shape[1], path)
    return {"n": len(y), "n_features": int(x.shape[1])}
