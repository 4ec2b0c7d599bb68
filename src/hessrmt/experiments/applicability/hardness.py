"""Exponential hardness of the true loss (Baskerville, Granziol & Keating, arXiv:2102.06740 v1).

The paper trains ResNet-50 on ImageNet with epoch budgets T and records the best validation loss
(and top-1 error) together with the epoch ``t`` at which it was reached. It fits

    y(t) = a + b * exp(c * t)          (c < 0)

with ``scipy.optimize.curve_fit`` where ``t`` is the *epoch index of the best value* (not T), with
initial guesses p0 = (0.9, 0.1, -0.1) for the loss and (0.2, 0.1, -0.1) for the error. The
asymptote ``a`` is the loss reachable with unlimited training, and the exponential approach means
each further decrement of the loss costs exponentially more epochs. Reference values
(docs/reference/papers.md
§2.8, oracle PAPER-1): loss (0.9432, 0.7611, -0.0458), error (0.2330, 0.1673, -0.0406).

Intervals: (i) Wald intervals from the ``curve_fit`` covariance with Student-t quantiles on
n - 3 degrees of freedom, and (ii) a seeded residual bootstrap (refit to fitted values plus
resampled residuals), percentile intervals. The data are shipped in
``hessrmt/data/imagenet_hardness.csv`` with their citation in the header comment.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass, field
from importlib import resources

import numpy as np
from scipy import optimize, stats

from hessrmt.errors import ConvergenceError, DataError, InputError
from hessrmt.results import Metadata, Result
from hessrmt.rng import RngLike, as_generator, seed_of

#: Citation of the shipped table (also in the CSV header).
CITATION = (
    "N. P. Baskerville, D. Granziol, J. P. Keating, 'Applicability of Random Matrix Theory in "
    "Deep Learning', arXiv:2102.06740 v1 (2021); data: npbaskerville/dnn-rmt-spacings "
    "(commit d5393079), notebooks/Exponential Hardness of True Loss/"
)

#: Initial guesses used by the authors' notebooks.
P0 = {"loss": (0.9, 0.1, -0.1), "error": (0.2, 0.1, -0.1)}

#: The authors' notebook output (docs/reference/papers.md §2.8), for the report's comparison table.
PAPER_VALUES = {
    "loss": (0.94325, 0.76132, -0.045849),
    "error": (0.232955, 0.167443, -0.040667),
}

PARAM_NAMES = ("a", "b", "c")


@dataclass(frozen=True)
class HardnessTable:
    """The ImageNet table: budgets T, best-loss epochs and losses, best-error epochs and errors."""

    budget: np.ndarray
    loss_epoch: np.ndarray
    loss: np.ndarray
    error_epoch: np.ndarray
    error: np.ndarray
    citation: str = CITATION


def load_imagenet_hardness() -> HardnessTable:
    """Read the shipped table ``hessrmt/data/imagenet_hardness.csv``."""
    try:
        text = resources.files("hessrmt.data").joinpath("imagenet_hardness.csv").read_text()
    except (FileNotFoundError, ModuleNotFoundError) as exc:  # pragma: no cover - packaging
        raise DataError(
            "hessrmt/data/imagenet_hardness.csv is missing; reinstall hessrmt (pip install -e .)"
        ) from exc
    rows = [ln for ln in text.splitlines() if ln.strip() and not ln.startswith("#")]
    header = rows[0].split(",")
    expected = ["T", "loss_epoch", "min_val_loss", "err_epoch", "min_top1_error"]
    if header != expected:
        raise DataError(f"imagenet_hardness.csv has columns {header}, expected {expected}")
    data = np.array([[float(x) for x in r.split(",")] for r in rows[1:]], dtype=np.float64)
    return HardnessTable(
        budget=data[:, 0].astype(np.int64),
        loss_epoch=data[:, 1],
        loss=data[:, 2],
        error_epoch=data[:, 3],
        error=data[:, 4],
    )


def exp_model(t: np.ndarray, a: float, b: float, c: float) -> np.ndarray:
    """``a + b exp(c t)``."""
    return a + b * np.exp(c * np.asarray(t, dtype=np.float64))


@dataclass(frozen=True)
class ExpFit(Result):
    """Fit of ``y = a + b exp(c t)`` with intervals.

    ``params`` = (a, b, c); ``stderr`` from the curve_fit covariance; ``wald_low/high`` are
    Student-t intervals at ``level``; ``boot_low/high`` residual-bootstrap percentile intervals
    (``n_boot`` refits, ``n_boot_failed`` of which did not converge and were dropped).
    """

    name: str
    t: np.ndarray
    y: np.ndarray
    params: np.ndarray
    stderr: np.ndarray
    wald_low: np.ndarray
    wald_high: np.ndarray
    boot_low: np.ndarray
    boot_high: np.ndarray
    level: float
    n_boot: int
    n_boot_failed: int
    rmse: float
    meta: Metadata = field(default_factory=Metadata)

    kind = "exp-fit"

    def as_dict(self) -> dict[str, object]:
        """Plain summary: each parameter with value, stderr and both intervals."""
        out: dict[str, object] = {"name": self.name, "model": "a + b*exp(c*t)"}
        for i, p in enumerate(PARAM_NAMES):
            out[p] = {
                "value": float(self.params[i]),
                "stderr": float(self.stderr[i]),
                "wald": [float(self.wald_low[i]), float(self.wald_high[i])],
                "bootstrap": [float(self.boot_low[i]), float(self.boot_high[i])],
            }
        out["level"] = self.level
        out["rmse"] = self.rmse
        out["n_points"] = int(self.t.size)
        out["n_boot"] = self.n_boot
        out["n_boot_failed"] = self.n_boot_failed
        return out


def _curve_fit(
    t: np.ndarray, y: np.ndarray, p0: tuple[float, float, float]
) -> tuple[np.ndarray, np.ndarray]:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", optimize.OptimizeWarning)
        popt, pcov = optimize.curve_fit(exp_model, t, y, p0=p0, maxfev=20000)
    return np.asarray(popt, dtype=np.float64), np.asarray(pcov, dtype=np.float64)


def fit_exponential(
    t: np.ndarray,
    y: np.ndarray,
    *,
    p0: tuple[float, float, float] = (0.9, 0.1, -0.1),
    name: str = "",
    level: float = 0.95,
    n_boot: int = 1000,
    rng: RngLike = 0,
) -> ExpFit:
    """Least-squares fit of ``y = a + b exp(c t)`` with Wald and residual-bootstrap intervals.

    Raises :class:`InputError` for mismatched/short/non-finite input and
    :class:`ConvergenceError` when the point fit fails.
    """
    t = np.asarray(t, dtype=np.float64)
    y = np.asarray(y, dtype=np.float64)
    if t.ndim != 1 or t.shape != y.shape:
        raise InputError(f"t and y must be 1-D of equal length, got {t.shape} and {y.shape}")
    if t.size < 4:
        raise InputError(f"need at least 4 points to fit 3 parameters with intervals, got {t.size}")
    if not (np.all(np.isfinite(t)) and np.all(np.isfinite(y))):
        raise InputError("t and y must be finite; remove NaN/inf rows first")
    if not 0 < level < 1:
        raise InputError(f"level must lie in (0, 1), got {level}")
    if n_boot < 0:
        raise InputError(f"n_boot must be >= 0, got {n_boot}")
    try:
        popt, pcov = _curve_fit(t, y, p0)
    except RuntimeError as exc:
        raise ConvergenceError(
            f"exponential fit of {name or 'data'} did not converge: {exc}"
        ) from exc
    fitted = exp_model(t, *popt)
    resid = y - fitted
    dof = t.size - 3
    se = np.sqrt(np.clip(np.diag(pcov), 0.0, np.inf))
    q = stats.t.ppf(0.5 + level / 2, dof)
    gen = as_generator(rng)
    boots = []
    failed = 0
    # residuals rescaled for leverage-free degrees of freedom (Davison & Hinkley, 1997, §6.3)
    centred = (resid - resid.mean()) * np.sqrt(t.size / dof)
    for _ in range(n_boot):
        yb = fitted + gen.choice(centred, size=t.size, replace=True)
        try:
            pb, _ = _curve_fit(t, yb, tuple(popt))
        except (RuntimeError, ValueError):
            failed += 1
            continue
        if np.all(np.isfinite(pb)):
            boots.append(pb)
        else:
            failed += 1
    if boots:
        arr = np.asarray(boots)
        lo = np.quantile(arr, 0.5 - level / 2, axis=0)
        hi = np.quantile(arr, 0.5 + level / 2, axis=0)
    else:
        lo = hi = np.full(3, np.nan)
    return ExpFit(
        name=name,
        t=t,
        y=y,
        params=popt,
        stderr=se,
        wald_low=popt - q * se,
        wald_high=popt + q * se,
        boot_low=lo,
        boot_high=hi,
        level=float(level),
        n_boot=int(n_boot),
        n_boot_failed=int(failed),
        rmse=float(np.sqrt(np.mean(resid**2))),
        meta=Metadata.create(
            seed=seed_of(rng),
            dtype="float64",
            conventions={
                "model": "y = a + b*exp(c*t), t = epoch index of the best value",
                "fit": "scipy.optimize.curve_fit (least squares)",
                "wald_interval": f"t-quantile, {dof} dof",
                "bootstrap": "residual bootstrap, residuals centred and scaled by sqrt(n/(n-3))",
            },
        ),
    )


def fit_hardness(*, n_boot: int = 1000, level: float = 0.95, rng: RngLike = 0) -> dict[str, ExpFit]:
    """Fit the shipped ImageNet table: ``{"loss": ExpFit, "error": ExpFit}`` (paper's p0)."""
    table = load_imagenet_hardness()
    gens = dict(zip(("loss", "error"), as_generator(rng).spawn(2)))
    return {
        "loss": fit_exponential(
            table.loss_epoch,
            table.loss,
            p0=P0["loss"],
            name="loss",
            level=level,
            n_boot=n_boot,
            rng=gens["loss"],
        ),
        "error": fit_exponential(
            table.error_epoch,
            table.error,
            p0=P0["error"],
            name="error",
            level=level,
            n_boot=n_boot,
            rng=gens["error"],
        ),
    }


def hardness_summary(fits: dict[str, ExpFit], *, seed: int | None = None) -> dict[str, object]:
    """The ``hardness`` section of ``summary.json``."""
    out: dict[str, object] = {
        name: f.as_dict() | {"paper": list(PAPER_VALUES[name])} for name, f in fits.items()
    }
    out["citation"] = CITATION
    out["seed"] = seed
    return out
