"""Batch Hessians of real networks as H_b = A + X_b (paper 4, arXiv 2205.08601).

For one trained network: A is the exact float64 Hessian of the mean training loss over the whole
training split, H_b the exact Hessian of the mean loss over a batch of b samples drawn without
replacement (seeded), X_b = H_b - A. Measured per batch size b (several batches each, every
estimate with a standard error over batches):

* **noise scale** s(b) = ||X_b||_F / sqrt(P) (the RMS eigenvalue of X_b), fitted by a power law
  s = c b^-alpha (alpha against 1/2) and by the finite-population law of sampling without
  replacement, s = c sqrt((n - b) / (b (n - 1))) (the variance of a mean of b draws without
  replacement from n);
* **delocalisation** of X_b's eigenvectors: inverse participation ratio sum_i v_i^4 against GOE's
  3 / (P + 2) (ratio 1: delocalised), and the kurtosis of sqrt(P) v_i against Porter-Thomas
  (Gaussian components: 3);
* **local statistics**: mean reduced spacing ratio <r~> of X_b's central half against GOE 0.5307
  and Poisson 0.3863 (Atas et al. 2013; ``docs/reference/oracles.md`` §4.3);
* **outliers**: the top r = C - 1 eigenvalues of A are the spikes theta_i (the classes' outliers);
  the prediction for H_b is :class:`hessrmt.rmt.local_law.DeformedModel` with A's remaining
  eigenvalues as the bulk (compressed to at most ``max_atoms`` quantiles) and the paper's noise
  model, a semicircle of variance s(b)^2 (X_b with GOE statistics); measured: H_b's top r
  eigenvalues;
* **overlaps**: for each spike u_i, the largest |<v, u_i>|^2 over H_b's top 2r eigenvectors v
  (near-degenerate spikes mix, so the i-th eigenvector need not be u_i's) against
  1/omega'(rho_i);
* **batch-size law**: s(b) = c b^-alpha fitted on the smallest and largest b only, outliers
  predicted at the other b;
* **damping**: u_i^T (H_b + delta)^{-1} u_i against 1/(theta_i + delta'), delta' = -omega(-delta).

The model X_b free from A is an assumption of the paper; the agreement measured here is what this
module reports, whatever it is.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from hessrmt.errors import InputError
from hessrmt.rmt.batch_noise import (  # noqa: F401  (re-exported: the experiment's names)
    GOE_MEAN_RATIO,
    POISSON_MEAN_RATIO,
    batch_noise_rows,
    compress_law,
    ipr_ratio,
    mean_reduced_ratio,
    mean_se,
    spikes_and_bulk,
)
from hessrmt.rmt.laws import EmpiricalLaw, Semicircle
from hessrmt.rmt.local_law import DeformedModel

#: the damping deltas, as multiples of the smallest delta keeping H_b + delta positive on the
#: model's bulk and on every batch Hessian (the dense and the matrix-free path alike)
DAMPING_QUANTILES = (1.1, 1.5, 2.0, 4.0)


def damping_deltas(
    model: DeformedModel, lowest: Sequence[float], quantiles: Sequence[float] = DAMPING_QUANTILES
) -> np.ndarray:
    """The damping values tried: ``quantiles`` x max(-(left edge of the model's bulk), -(lowest
    eigenvalue of every batch Hessian)), so that H_b + delta is positive definite (floor 1e-8)."""
    floor = max(-model.support()[0], max(-float(lo) for lo in lowest))
    return np.asarray(quantiles, dtype=float) * max(floor, 1e-8)


def damping_record(
    b: Any,
    deltas: np.ndarray,
    model: DeformedModel,
    theta: np.ndarray,
    measured: np.ndarray,
    measured_se: np.ndarray,
) -> dict[str, Any]:
    """One batch size's damping row: the measured u^T (H_b + delta)^-1 u (mean, SE over batches)
    next to the local law's 1 / (theta + delta'), delta' = the model's effective damping, and the
    naive 1 / (theta + delta)."""
    dprime = model.effective_damping(deltas)
    return {
        "b": b,
        "delta": deltas,
        "effective_delta": dprime,
        "measured": measured,
        "measured_se": measured_se,
        "predicted": 1.0 / (theta[:, None] + dprime[None, :]),
        "naive": 1.0 / (theta[:, None] + deltas[None, :]),
    }


@dataclass(frozen=True)
class NetworkSpec:
    """One network of the experiment (recorded in the summary)."""

    key: str
    model: str  # "mlp:H" (d -> H -> C, ReLU) or a zoo name
    dataset: str = "digits"
    epochs: int = 30
    lr: float = 0.05
    n_samples: int | None = None


def fpc_scale(b: np.ndarray, n: int) -> np.ndarray:
    """sqrt((n - b) / (b (n - 1))): standard deviation of a mean of b draws without replacement
    from n values of unit variance (finite-population correction)."""
    b = np.asarray(b, dtype=float)
    return np.sqrt((n - b) / (b * (n - 1)))


def fit_noise_scale(b: np.ndarray, s: np.ndarray, n: int) -> dict[str, Any]:
    """Fit s(b) by a power law c b^-alpha (least squares in logs, alpha's standard error) and by
    the finite-population law c fpc(b) (least squares in logs); residual RMS of both in logs."""
    b = np.asarray(b, dtype=float)
    s = np.asarray(s, dtype=float)
    if b.size < 3:
        raise InputError("the noise-scale fit needs at least three batch sizes")
    X = np.column_stack([np.ones_like(b), np.log(b)])
    coef, *_ = np.linalg.lstsq(X, np.log(s), rcond=None)
    res = np.log(s) - X @ coef
    dof = b.size - 2
    cov = (res @ res / dof) * np.linalg.inv(X.T @ X)
    alpha, alpha_se = -coef[1], float(np.sqrt(cov[1, 1]))
    f = np.log(fpc_scale(b, n))
    logc = float(np.mean(np.log(s) - f))
    res_fpc = np.log(s) - (logc + f)
    return {
        "alpha": float(alpha),
        "alpha_interval": [float(alpha - 1.96 * alpha_se), float(alpha + 1.96 * alpha_se)],
        "power_c": float(np.exp(coef[0])),
        "power_rms_log_residual": float(np.sqrt(np.mean(res**2))),
        "fpc_c": float(np.exp(logc)),
        "fpc_rms_log_residual": float(np.sqrt(np.mean(res_fpc**2))),
    }


def quadratic_forms(
    ev: np.ndarray, vec: np.ndarray, u: np.ndarray, deltas: np.ndarray
) -> np.ndarray:
    """u_i^T (H + delta)^{-1} u_i for H = vec diag(ev) vec^T; shape (len(u's), len(deltas))."""
    c2 = (vec.T @ u) ** 2  # (P, r)
    return np.stack([(c2 / (ev + d)[:, None]).sum(axis=0) for d in deltas], axis=1)


def analyse_batches(
    A_eigs: np.ndarray,
    A_vecs: np.ndarray,
    batches: dict[int, list[np.ndarray]],
    *,
    n_train: int,
    n_spikes: int,
    damping_quantiles: Sequence[float] = DAMPING_QUANTILES,
    max_atoms: int = 400,
) -> dict[str, Any]:
    """All measurements of the module docstring from A (eigenpairs) and the batch Hessians
    ``batches[b]`` (dense matrices, several per b). JSON-able dict of sections."""
    theta, U, bulk_law = spikes_and_bulk(A_eigs, A_vecs, n_spikes, max_atoms)
    P = A_eigs.size
    bs = np.array(sorted(batches), dtype=float)
    noise_rows, deloc_rows, out_rows, ov_rows, damp_rows = [], [], [], [], []
    A = (A_vecs * A_eigs) @ A_vecs.T
    for b in sorted(batches):
        rows, hb_decomp, model = batch_noise_rows(A, theta, U, bulk_law, batches[b], b)
        noise_rows.append(rows["noise"])
        deloc_rows.append(rows["delocalisation"])
        out_rows.append(rows["outliers"])
        ov_rows.append(rows["overlaps"])
        # damping: delta above both the model's bulk and every batch Hessian's lowest eigenvalue
        deltas = damping_deltas(model, [he[0] for he, _ in hb_decomp], damping_quantiles)
        q = np.array([quadratic_forms(he, hv, U, deltas) for he, hv in hb_decomp])
        damp_rows.append(damping_record(b, deltas, model, theta, *mean_se(q)))
    s = np.array([r["s"] for r in noise_rows])
    fit = fit_noise_scale(bs, s, n_train) if bs.size >= 3 else None
    law = _batch_size_law(bs, s, bulk_law, theta, out_rows)
    return {
        "n_parameters": int(P),
        "n_train": int(n_train),
        "n_spikes": int(n_spikes),
        "noise_scale": {"rows": noise_rows, "fit": fit},
        "delocalisation": {"rows": deloc_rows, "goe_mean_ratio": GOE_MEAN_RATIO},
        "outliers": {"rows": out_rows, "batch_size_law": law},
        "overlaps": {"rows": ov_rows},
        "damping": {"rows": damp_rows},
    }


def _batch_size_law(
    bs: np.ndarray,
    s: np.ndarray,
    bulk_law: EmpiricalLaw,
    theta: np.ndarray,
    out_rows: list[dict[str, Any]],
) -> dict[str, Any] | None:
    """Fit s(b) = c b^-alpha on the smallest and largest b and predict the outliers at every
    other b (compared with the measured ones)."""
    if bs.size < 3:
        return None
    b0, b1 = bs[0], bs[-1]
    alpha = -np.log(s[-1] / s[0]) / np.log(b1 / b0)
    rows = []
    for b, row in zip(bs[1:-1], out_rows[1:-1]):
        s_pred = s[-1] * (b / b1) ** (-alpha)
        model = DeformedModel(bulk_law, Semicircle(float(s_pred) ** 2))
        pred = model.outliers(theta)
        rows.append(
            {
                "b": float(b),
                "s_predicted": float(s_pred),
                "predicted": [None if p is None else float(p) for p in pred],
                "measured": row["measured"],
                "measured_se": row["measured_se"],
            }
        )
    return {"fitted_on": [float(b0), float(b1)], "alpha": float(alpha), "rows": rows}
