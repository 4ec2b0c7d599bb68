"""Checks shared by the readers of local data files (:mod:`hessrmt.data.mnist`,
:mod:`hessrmt.data.cifar10`): finding a file under ``--data-root`` and checking labels.

Every failure is a one-line :class:`hessrmt.errors.DataError` naming the file and what to do.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from hessrmt.errors import DataError


def find_file(root: Path, names: list[str], subdirs: list[str]) -> Path:
    for sub in subdirs:
        for n in names:
            for cand in (root / sub / n, root / sub / (n + ".gz")):
                if cand.is_file():
                    return cand
    raise DataError(
        f"could not find {names[0]} (or .gz) under {root}; point --data-root at the "
        "folder holding the files (nothing is downloaded)"
    )


def check_labels(y: np.ndarray, n_classes: int, where: str) -> np.ndarray:
    y = np.asarray(y)
    if y.ndim != 1 or not np.issubdtype(y.dtype, np.integer):
        raise DataError(f"{where}: labels must be a 1-D integer array, got {y.dtype} {y.shape}")
    if y.size and (y.min() < 0 or y.max() >= n_classes):
        raise DataError(
            f"{where}: labels must lie in 0..{n_classes - 1}, found {int(y.min())}.."
            f"{int(y.max())}; the file is damaged or not this data set"
        )
    return y.astype(np.int64)
