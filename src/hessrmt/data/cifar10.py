"""CIFAR-10 from the local batches under ``--data-root`` (nothing is downloaded).

The binary version (``cifar-10-batches-bin``: records of 1 label byte and 3,072 pixel bytes) is
read when present, else the python version (``cifar-10-batches-py``) with a restricted unpickler
that admits only arrays and plain containers (:func:`hessrmt.validation.restricted_load`: a
crafted file cannot run code). Images are returned as ``(n, 3, 32, 32)`` float64 in [0, 1],
labels as int64 in ``0 .. 9``; training batches first, then the test batch.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from hessrmt.data.local_files import check_labels
from hessrmt.errors import DataError
from hessrmt.validation import restricted_load


def read_binary_batches(files: list[Path]) -> tuple[np.ndarray, np.ndarray]:
    """CIFAR-10 binary version: records of 1 label byte + 3072 pixel bytes (no pickle)."""
    Xs, ys = [], []
    for f in files:
        raw = np.fromfile(f, dtype=np.uint8)
        if raw.size == 0 or raw.size % 3073:
            raise DataError(
                f"{f} is not a CIFAR-10 binary batch ({raw.size} bytes, not a multiple of 3073)"
            )
        rec = raw.reshape(-1, 3073)
        ys.append(check_labels(rec[:, 0].astype(np.int64), 10, str(f)))
        Xs.append(rec[:, 1:].reshape(-1, 3, 32, 32).astype(np.float64) / 255.0)
    return np.concatenate(Xs), np.concatenate(ys)


def read_python_batches(files: list[Path]) -> tuple[np.ndarray, np.ndarray]:
    """CIFAR-10 python version, read with a restricted unpickler (arrays and containers only)."""
    Xs, ys = [], []
    for f in files:
        with open(f, "rb") as fh:
            d = restricted_load(fh, what=f"CIFAR-10 batch {f}")
        if not isinstance(d, dict) or b"data" not in d or b"labels" not in d:
            raise DataError(f"{f} is not a CIFAR-10 batch (no data/labels entries)")
        data = np.asarray(d[b"data"])
        if data.dtype != np.uint8 or data.ndim != 2 or data.shape[1] != 3072:
            raise DataError(f"{f}: expected uint8 data n x 3072, got {data.dtype} {data.shape}")
        try:
            labels = np.asarray(d[b"labels"], dtype=np.int64)
        except (TypeError, ValueError, OverflowError) as exc:
            raise DataError(f"{f}: labels are not integers") from exc
        if labels.shape != (data.shape[0],):
            raise DataError(f"{f} holds {data.shape[0]} images but {labels.size} labels")
        ys.append(check_labels(labels, 10, str(f)))
        Xs.append(data.astype(np.float64).reshape(-1, 3, 32, 32) / 255.0)
    return np.concatenate(Xs), np.concatenate(ys)


def load_cifar10(root: Path) -> tuple[np.ndarray, np.ndarray]:
    """The binary version (``cifar-10-batches-bin``) when present, else the python version."""
    for base in (root / "cifar-10-batches-bin", root):
        files = [base / f"data_batch_{i}.bin" for i in range(1, 6)] + [base / "test_batch.bin"]
        if all(f.is_file() for f in files):
            return read_binary_batches(files)
    base = root / "cifar-10-batches-py" if (root / "cifar-10-batches-py").is_dir() else root
    files = [base / f"data_batch_{i}" for i in range(1, 6)] + [base / "test_batch"]
    missing = [f.name for f in files if not f.is_file()]
    if missing:
        raise DataError(
            f"CIFAR-10 files {missing} not found under {base}; point --data-root at "
            "the folder holding cifar-10-batches-bin or cifar-10-batches-py (nothing is "
            "downloaded)"
        )
    return read_python_batches(files)
