"""MNIST and Fashion-MNIST from local IDX files (nothing is downloaded).

The four IDX files (``train``/``t10k`` images and labels, optionally gzipped: decided by
content, :func:`hessrmt.validation.sniff`) are looked for in ``root``, ``root/raw`` or
``root/<MNIST|FashionMNIST>/raw`` as torchvision lays them out. IDX format (that of the MNIST
distribution files): two zero bytes, a type code, the number of dimensions, the big-endian
32-bit sizes, then the data; every file is checked against its header.
"""

from __future__ import annotations

import gzip
import math
import zlib
from pathlib import Path

import numpy as np

from hessrmt.data.local_files import check_labels, find_file
from hessrmt.errors import DataError
from hessrmt.validation import sniff

#: IDX type codes (third magic byte) and their big-endian NumPy types.
IDX_TYPES = {0x08: ">u1", 0x09: ">i1", 0x0B: ">i2", 0x0C: ">i4", 0x0D: ">f4", 0x0E: ">f8"}


def read_idx(path: Path) -> np.ndarray:
    """An IDX file (optionally gzipped: decided by its content, not its name), fully checked."""
    kind = sniff(path)
    try:
        if kind == "gzip":
            with gzip.open(path, "rb") as fh:
                data = fh.read()
        else:
            data = path.read_bytes()
    except (OSError, EOFError, gzip.BadGzipFile, zlib.error) as exc:
        msg = " ".join(str(exc).split()) or type(exc).__name__
        raise DataError(f"{path} is a damaged gzip file ({msg}); replace it") from exc
    if len(data) < 4 or data[0] != 0 or data[1] != 0 or data[2] not in IDX_TYPES:
        raise DataError(f"{path} is not an IDX file (bad magic number); replace it")
    ndim = data[3]
    header = 4 + 4 * ndim
    if not 1 <= ndim <= 4 or len(data) < header:
        raise DataError(f"{path} is not an IDX file ({ndim} dimensions); replace it")
    dims = [int.from_bytes(data[4 + 4 * i : 8 + 4 * i], "big") for i in range(ndim)]
    dtype = np.dtype(IDX_TYPES[data[2]])
    expected = header + math.prod(dims) * dtype.itemsize
    if len(data) != expected:
        raise DataError(
            f"{path} is truncated or padded: header says {'x'.join(map(str, dims))} "
            f"({expected} bytes), the file holds {len(data)}; replace it"
        )
    return np.frombuffer(data, dtype=dtype, offset=header).reshape(dims)


def load_mnist(root: Path, kind: str) -> tuple[np.ndarray, np.ndarray]:
    sub = ["", "raw", f"{kind}/raw", kind]
    parts = []
    for prefix in ("train", "t10k"):
        xpath = find_file(root, [f"{prefix}-images-idx3-ubyte", f"{prefix}-images.idx3-ubyte"], sub)
        ypath = find_file(root, [f"{prefix}-labels-idx1-ubyte", f"{prefix}-labels.idx1-ubyte"], sub)
        Xp, yp = read_idx(xpath), read_idx(ypath)
        if Xp.ndim != 3 or Xp.dtype != np.uint8:
            raise DataError(
                f"{xpath}: expected uint8 images n x 28 x 28, got {Xp.dtype} {Xp.shape}"
            )
        if yp.ndim != 1:
            raise DataError(f"{ypath}: expected a 1-D label file, got shape {yp.shape}")
        if Xp.shape[0] != yp.shape[0]:
            raise DataError(
                f"{xpath.name} holds {Xp.shape[0]} images but {ypath.name} {yp.shape[0]} "
                "labels; the files do not belong together"
            )
        parts.append((Xp, check_labels(yp, 10, str(ypath))))
    if parts[0][0].shape[1:] != parts[1][0].shape[1:]:
        raise DataError(f"{kind} train and test images differ in size under {root}")
    X = np.concatenate([p[0] for p in parts]).astype(np.float64)[:, None, :, :] / 255.0
    y = np.concatenate([p[1] for p in parts]).astype(np.int64)
    return X, y
