"""Numbers read from the paper's figures (docs/reference/papers.md §2.5, "figure data": recovered
from the vector
data of the PDFs in npbaskerville/dnn-rmt-spacings, about 0.5 % digitisation error).

All of the paper's spectra were float32 (docs/reference/papers.md §2.6), its ratios used the
absolute cut
|lambda| > 1e-10 and its <r~> is binned (each 0.25-wide bin's mass times the bin mean of
min(r, 1/r)); the GOE surmise binned the same way gives 0.540 and <r | r < 10> = 1.460.
"""

from __future__ import annotations

from typing import Any

#: fraction of batch-Hessian eigenvalues with |lambda| < eps (docs/reference/papers.md §2.5(a))
PAPER_EPS = (1e-100, 1e-40, 1e-30, 1e-20, 1e-10, 1e-8, 1e-6, 1e-4)
PAPER_DEGENERACY: dict[str, tuple[float, ...]] = {
    "MNIST logistic, test": (0.047, 0.048, 0.128, 0.333, 0.370, 0.375, 0.611, 0.927),
    "MNIST logistic, train": (0.048, 0.121, 0.128, 0.354, 0.944, 0.960, 0.979, 0.995),
    "MNIST logistic untrained, test": (0.047, 0.048, 0.128, 0.333, 0.370, 0.375, 0.610, 0.927),
    "MNIST logistic untrained, train": (0.044, 0.113, 0.121, 0.336, 0.878, 0.931, 0.931, 0.960),
    "MNIST MLP, test": (0.037, 0.050, 0.149, 0.342, 0.452, 0.590, 0.826, 0.836),
    "MNIST deep MLP, test": (0.052, 0.074, 0.157, 0.334, 0.442, 0.507, 0.800, 0.819),
    "CIFAR-10 ResNet-34-features logistic, test": (0, 0, 0, 0, 0.000, 0.004, 0.294, 0.888),
    "LeNet, test": (0.017, 0.042, 0.048, 0.111, 0.300, 0.538, 0.584, 0.589),
    "Bike MLP GGN": (0.072, 0.135, 0.158, 0.369, 0.642, 0.900, 0.996, 0.996),
}

#: spacing-ratio figure numbers (docs/reference/papers.md §2.5(b)): <r | r<10>, binned <r~>, TV
# GOE, TV Poisson
PAPER_RATIOS: dict[str, tuple[float, float, float, float]] = {
    "MNIST logistic, test, batches": (1.476, 0.534, 0.010, 0.192),
    "MNIST logistic, train, batches": (1.542, 0.525, 0.029, 0.178),
    "MNIST logistic, test, full data": (1.475, 0.532, 0.023, 0.191),
    "MNIST logistic, train, full data": (1.476, 0.536, 0.021, 0.200),
    "MNIST untrained, test, batches": (1.477, 0.533, 0.013, 0.191),
    "MNIST untrained, train, batches": (1.493, 0.527, 0.022, 0.181),
    "MNIST untrained, full data": (1.501, 0.525, 0.031, 0.180),
    "MNIST MLP, test": (1.470, 0.531, 0.015, 0.187),
    "MNIST deep MLP, test": (1.472, 0.535, 0.009, 0.194),
    "CIFAR-10 ResNet-34 features, batches": (1.473, 0.535, 0.009, 0.194),
    "LeNet CIFAR-10, test": (1.473, 0.535, 0.009, 0.194),
    "Bike MLP GGN": (1.473, 0.535, 0.009, 0.194),
}

# (model label, state, curvature, scope, split) -> (ratio row, degeneracy row or None)
_MAP: dict[tuple[str, str, str, str, str], tuple[str, str | None]] = {
    ("MNIST logistic", "trained", "hessian", "batch", "test"): (
        "MNIST logistic, test, batches",
        "MNIST logistic, test",
    ),
    ("MNIST logistic", "trained", "hessian", "batch", "train"): (
        "MNIST logistic, train, batches",
        "MNIST logistic, train",
    ),
    ("MNIST logistic", "trained", "hessian", "full", "test"): (
        "MNIST logistic, test, full data",
        None,
    ),
    ("MNIST logistic", "trained", "hessian", "full", "train"): (
        "MNIST logistic, train, full data",
        None,
    ),
    ("MNIST logistic", "untrained", "hessian", "batch", "test"): (
        "MNIST untrained, test, batches",
        "MNIST logistic untrained, test",
    ),
    ("MNIST logistic", "untrained", "hessian", "batch", "train"): (
        "MNIST untrained, train, batches",
        "MNIST logistic untrained, train",
    ),
    ("MNIST logistic", "untrained", "hessian", "full", "test"): (
        "MNIST untrained, full data",
        None,
    ),
    ("MNIST logistic", "untrained", "hessian", "full", "train"): (
        "MNIST untrained, full data",
        None,
    ),
    ("MNIST MLP", "trained", "hessian", "batch", "test"): ("MNIST MLP, test", "MNIST MLP, test"),
    ("MNIST deep MLP", "trained", "hessian", "batch", "test"): (
        "MNIST deep MLP, test",
        "MNIST deep MLP, test",
    ),
    ("LeNet CIFAR-10", "trained", "hessian", "batch", "test"): (
        "LeNet CIFAR-10, test",
        "LeNet, test",
    ),
    ("Bike MLP GGN", "trained", "ggn", "batch", "test"): ("Bike MLP GGN", "Bike MLP GGN"),
}


def paper_row_for(
    label: str | None, state: str, curvature: str, scope: str, split: str = "test"
) -> dict[str, Any] | None:
    """The paper's figure numbers for this model variant, or None where the paper has none.

    The paper's MLP/LeNet/Bike spectra are of the test split only; for those the train-split
    quick run is compared with the test-split numbers (said in the row name).
    """
    if label is None:
        return None
    key = (label, state, curvature, scope, split)
    if key not in _MAP:
        key = (label, state, curvature, scope, "test")
    if key not in _MAP:
        return None
    ratio_row, deg_row = _MAP[key]
    r = PAPER_RATIOS[ratio_row]
    out: dict[str, Any] = {
        "row": ratio_row,
        "mean_r_lt10": r[0],
        "mean_rt_binned": r[1],
        "tv_goe": r[2],
        "tv_poisson": r[3],
    }
    if deg_row is not None:
        out["degeneracy_row"] = deg_row
        out["zero_1e-4"] = PAPER_DEGENERACY[deg_row][-1]
    return out
