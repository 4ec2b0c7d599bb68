"""CIFAR-100 from local files (nothing is downloaded): the python and the binary versions.

Formats (Krizhevsky, "Learning multiple layers of features from tiny images", 2009; the layout of
https://www.cs.toronto.edu/~kriz/cifar.html):

* python version, folder ``cifar-100-python`` with pickles ``train`` (50,000 images) and ``test``
  (10,000), each a dict with ``b'data'`` (uint8, n x 3072: 1024 red, 1024 green, 1024 blue
  values, rows of 32), ``b'fine_labels'`` (0..99) and ``b'coarse_labels'`` (0..19); ``meta``
  holds ``b'fine_label_names'`` and ``b'coarse_label_names'`` (checked when present). Read with
  the restricted unpickler (:func:`hessrmt.validation.restricted_load`: only arrays and plain
  containers; a crafted file cannot run code).
* binary version, folder ``cifar-100-binary`` with ``train.bin`` and ``test.bin``: records of
  3074 bytes, <coarse label byte><fine label byte><3072 pixel bytes>.

The binary version is used when both are present. Train and test are concatenated (the split is
:func:`hessrmt.data.datasets.load_dataset`'s seeded one, as for CIFAR-10). Images are returned as
float64 (n, 3, 32, 32) / 255; labels int64, the fine ones (100 classes) by default or the coarse
ones (20 superclasses). Every file is checked (sizes, keys, counts, label ranges): a damaged or
missing file is one :class:`~hessrmt.errors.DataError` naming it.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from hessrmt.errors import DataError, InputError
from hessrmt.validation import restricted_load

__all__ = ["N_CLASSES", "load_cifar100"]

#: number of classes of each label kind
N_CLASSES = {"fine": 100, "coarse": 20}
_RECORD = 3074


def _check(y: np.ndarray, n_classes: int, where: str) -> np.ndarray:
    if y.size and (int(y.min()) < 0 or int(y.max()) >= n_classes):
        raise DataError(
            f"{where}: labels must lie in 0..{n_classes - 1}, found {int(y.min())}..{int(y.max())}"
        )
    return y.astype(np.int64)


def _binary(files: list[Path], labels: str) -> tuple[np.ndarray, np.ndarray]:
    xs, ys = [], []
    col = 0 if labels == "coarse" else 1
    for f in files:
        raw = np.fromfile(f, dtype=np.uint8)
        if raw.size == 0 or raw.size % _RECORD:
            raise DataError(
                f"{f} is not a CIFAR-100 binary file ({raw.size} bytes, not a multiple of "
                f"{_RECORD}: 2 label bytes + 3072 pixels)"
            )
        rec = raw.reshape(-1, _RECORD)
        _check(rec[:, 0].astype(np.int64), 20, f"{f} (coarse labels)")
        _check(rec[:, 1].astype(np.int64), 100, f"{f} (fine labels)")
        ys.append(rec[:, col].astype(np.int64))
        xs.append(rec[:, 2:].reshape(-1, 3, 32, 32).astype(np.float64) / 255.0)
    return np.concatenate(xs), np.concatenate(ys)


def _python(files: list[Path], labels: str) -> tuple[np.ndarray, np.ndarray]:
    xs, ys = [], []
    for f in files:
        with open(f, "rb") as fh:
            d = restricted_load(fh, what=f"CIFAR-100 file {f}")
        keys = (b"data", b"fine_labels", b"coarse_labels")
        if not isinstance(d, dict) or any(k not in d for k in keys):
            raise DataError(
                f"{f} is not a CIFAR-100 python file (needs data, fine_labels, coarse_labels)"
            )
        data = np.asarray(d[b"data"])
        if data.dtype != np.uint8 or data.ndim != 2 or data.shape[1] != 3072:
            raise DataError(f"{f}: expected uint8 data n x 3072, got {data.dtype} {data.shape}")
        out = {}
        for kind in ("fine", "coarse"):
            try:
                y = np.asarray(d[f"{kind}_labels".encode()], dtype=np.int64)
            except (TypeError, ValueError, OverflowError) as exc:
                raise DataError(f"{f}: {kind} labels are not integers") from exc
            if y.shape != (data.shape[0],):
                raise DataError(f"{f} holds {data.shape[0]} images but {y.size} {kind} labels")
            out[kind] = _check(y, N_CLASSES[kind], f"{f} ({kind} labels)")
        ys.append(out[labels])
        xs.append(data.astype(np.float64).reshape(-1, 3, 32, 32) / 255.0)
    return np.concatenate(xs), np.concatenate(ys)


def _check_meta(path: Path) -> None:
    with open(path, "rb") as fh:
        meta = restricted_load(fh, what=f"CIFAR-100 meta file {path}")
    for kind, n in N_CLASSES.items():
        names = meta.get(f"{kind}_label_names".encode()) if isinstance(meta, dict) else None
        if names is None or len(names) != n:
            raise DataError(f"{path}: expected {n} {kind}_label_names (not a CIFAR-100 meta file)")


def find_cifar100(root: Path) -> tuple[str, list[Path]] | None:
    """("binary" | "python", files) of the CIFAR-100 version under ``root`` (the folder holding
    ``cifar-100-binary`` / ``cifar-100-python``, or one of those folders), or None."""
    for base in (root / "cifar-100-binary", root):
        files = [base / "train.bin", base / "test.bin"]
        if all(f.is_file() for f in files):
            return "binary", files
    for base in (root / "cifar-100-python", root):
        files = [base / "train", base / "test"]
        if all(f.is_file() for f in files):
            return "python", files
    return None


def load_cifar100(root: str | Path, labels: str = "fine") -> tuple[np.ndarray, np.ndarray]:
    """(images (n, 3, 32, 32) in [0, 1], labels) of CIFAR-100 train + test under ``root``
    (module docstring); ``labels``: "fine" (100 classes, default) or "coarse" (20)."""
    if labels not in N_CLASSES:
        raise InputError(f"labels must be 'fine' or 'coarse', got {labels!r}")
    rootp = Path(root)
    found = find_cifar100(rootp)
    if found is None:
        raise DataError(
            f"CIFAR-100 not found under {rootp}: expected cifar-100-python/{{train,test}} or "
            "cifar-100-binary/{train,test}.bin; point --data-root at the folder holding them "
            "(nothing is downloaded)"
        )
    kind, files = found
    if kind == "binary":
        return _binary(files, labels)
    meta = files[0].parent / "meta"
    if meta.is_file():
        _check_meta(meta)
    return _python(files, labels)
