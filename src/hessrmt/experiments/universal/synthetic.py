"""Synthetic check of the deformed model (paper 4, arXiv 2205.08601): everything is known.

H = A + X with A = diag(theta_1, ..., theta_r, 0, ..., 0) and X a GOE matrix of variance s^2
(semicircle noise) or a Wishart matrix W = Z Z^T / n (Marchenko-Pastur noise, phi = N/n). For each
size N and ``reps`` independent draws, measured against
:class:`hessrmt.rmt.local_law.DeformedModel`:

* the top eigenvalues of H against the predicted outliers rho_i (omega(rho_i) = theta_i);
* the squared overlaps |<v_i, e_i>|^2 against 1/omega'(rho_i);
* the resolvent quadratic form e_i^T (H + delta)^{-1} e_i against 1/(theta_i + delta'),
  delta' = -omega(-delta) (the local law's effective damping).

Each measured quantity is reported as mean +- standard error over the draws; the absolute error of
the mean against theory is expected to shrink with N (finite-N corrections: O(N^-1/2) for
outliers and overlaps, O(N^-1/2) for the quadratic forms).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from hessrmt.errors import InputError
from hessrmt.rmt.ensembles import goe, wishart
from hessrmt.rmt.laws import MarchenkoPastur, Semicircle
from hessrmt.rmt.local_law import DeformedModel, point_mass
from hessrmt.rng import as_generator

from .networks import mean_se as _mean_se


def synthetic_model(noise: str, variance: float, phi: float) -> DeformedModel:
    """The limit model of the synthetic check (A = spikes + zeros)."""
    if noise == "goe":
        return DeformedModel(point_mass(), Semicircle(variance))
    if noise == "wishart":
        return DeformedModel(point_mass(), MarchenkoPastur(phi, scale=variance))
    raise InputError(f"noise must be 'goe' or 'wishart', got {noise!r}")


def run_synthetic(
    sizes: Sequence[int] = (500, 1000, 2000),
    *,
    thetas: Sequence[float] = (4.0, 2.5, 1.6),
    deltas: Sequence[float] = (2.5, 3.0, 4.0, 6.0),
    noise: str = "goe",
    variance: float = 1.0,
    phi: float = 0.5,
    reps: int = 10,
    rng: Any = 0,
) -> dict[str, Any]:
    """Run the synthetic check; returns a JSON-able dict (see the module docstring)."""
    gen = as_generator(rng)
    thetas = np.asarray(thetas, dtype=float)
    deltas = np.asarray(deltas, dtype=float)
    if reps < 2:
        raise InputError(f"reps must be at least 2 (for standard errors), got {reps}")
    if np.any(thetas <= 0) or np.any(np.diff(thetas) >= 0):
        raise InputError("thetas must be positive and strictly decreasing")
    model = synthetic_model(noise, variance, phi)
    rho = model.outliers(thetas)
    pred_out = np.array([np.nan if r is None else r for r in rho])
    pred_ov = np.array(model.overlaps(thetas))
    dprime = model.effective_damping(deltas)
    pred_q = 1.0 / (thetas[:, None] + dprime[None, :])
    r = thetas.size
    rows = []
    for n in sizes:
        if n <= 2 * r:
            raise InputError(f"size {n} is too small for {r} spikes")
        tops, ovs, qs = [], [], []
        for _ in range(reps):
            if noise == "goe":
                x = goe(n, rng=gen, variance=variance)
            else:
                x = wishart(n, round(n / phi), rng=gen, variance=variance)
            h = x.copy()
            h[np.arange(r), np.arange(r)] += thetas
            ev, vec = np.linalg.eigh(h)
            tops.append(ev[::-1][:r])
            ovs.append(vec[np.arange(r), ::-1][:, :r].diagonal() ** 2)
            q = np.empty((r, deltas.size))
            for j, d in enumerate(deltas):
                # e_i^T (H + d)^{-1} e_i from the eigendecomposition
                q[:, j] = ((vec[:r, :] ** 2) / (ev + d)).sum(axis=1)
            qs.append(q)
        top_m, top_se = _mean_se(np.array(tops))
        ov_m, ov_se = _mean_se(np.array(ovs))
        q_m, q_se = _mean_se(np.array(qs))
        rows.append(
            {
                "n": int(n),
                "top": top_m,
                "top_se": top_se,
                "overlap": ov_m,
                "overlap_se": ov_se,
                "quadratic": q_m,
                "quadratic_se": q_se,
                "outlier_error": np.where(np.isnan(pred_out), np.nan, np.abs(top_m - pred_out)),
                "overlap_error": np.abs(ov_m - pred_ov),
                "quadratic_error": np.abs(q_m - pred_q),
            }
        )
    return {
        "noise": noise,
        "variance": variance,
        "phi": phi if noise == "wishart" else None,
        "thetas": thetas,
        "deltas": deltas,
        "reps": reps,
        "threshold": model.threshold(),
        "bulk_edge": model.support()[1],
        "predicted_outliers": pred_out,
        "predicted_overlaps": pred_ov,
        "effective_damping": dprime,
        "predicted_quadratic": pred_q,
        "sizes": rows,
    }
