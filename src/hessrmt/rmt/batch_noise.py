"""Batch noise of a Hessian, X_b = H_b - A, against the free deformed model (paper 4).

Baskerville, Keating, Mezzadri, Najnudel & Granziol (arXiv 2205.08601; set-up in
``docs/reference/papers.md`` §5, derivations in ``docs/reference/universal.md``) model a batch
Hessian as H_b = A + s(b) X: A the full-data Hessian with a few outliers theta_i (its spikes), X a
noise matrix with delocalised eigenvectors and GOE local statistics, asymptotically free from A.
Given A (dense) and several batch Hessians H_b of one batch size, this module measures, per batch
and then as mean +- standard error over batches (ddof = 1):

* **noise scale** s = ||X_b||_F / sqrt(P) (the RMS eigenvalue of X_b);
* **localisation** of X_b's eigenvectors (central half of the spectrum): inverse participation
  ratio sum_i v_i^4 over GOE's E = 3 / (P + 2) (1: delocalised, Haar vectors), and the kurtosis
  of the components sqrt(P) v_i (Porter-Thomas, Gaussian components: 3), which equals
  P sum_i v_i^4 averaged over the vectors. Within a (near-)degenerate eigenspace (e.g. the null
  space of a low-rank X_b) the eigenvectors are not unique and LAPACK's choice depends on the
  BLAS threads, so both use the eigenspace's projector Pi = V V^T instead
  (:func:`cluster_ipr_ratio`): sum_i Pi_ii^2 / m over a Haar m-space's (m + 2) / (P + 2), the
  same number for m = 1 and independent of the basis;
* **local statistics**: the mean reduced spacing ratio <r~> of X_b's central half against GOE
  0.5307 and Poisson 2 ln 2 - 1 (Atas et al. 2013; ``docs/reference/oracles.md`` §4.3);
* **outliers**: the r largest eigenvalues theta of A are the spikes, A's other eigenvalues the
  bulk law mu_A (compressed to ``max_atoms`` quantiles); the prediction for H_b's top r
  eigenvalues is :class:`hessrmt.rmt.local_law.DeformedModel` (mu_A boxplus semicircle of
  variance s^2: omega(rho) = theta) with the measured s, against H_b's measured top r
  eigenvalues;
* **overlaps**: for each spike u_i, max |<v, u_i>|^2 over H_b's top 2r eigenvectors v, against
  1 / omega'(rho_i).

Pure NumPy (no torch): ``hessrmt analyze`` and ``hessrmt.experiments.universal`` both use it.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
from scipy import stats

from hessrmt.errors import InputError
from hessrmt.rmt.laws import EmpiricalLaw, Semicircle
from hessrmt.rmt.local_law import DeformedModel

#: Large-N mean reduced ratios (Atas et al. 2013; docs/reference/oracles.md §4.3).
GOE_MEAN_RATIO = 0.5307
POISSON_MEAN_RATIO = 2 * np.log(2) - 1


def mean_se(x: Sequence[float] | np.ndarray, axis: int = 0) -> tuple[Any, Any]:
    """Mean and standard error (ddof = 1) along ``axis``."""
    a = np.asarray(x, dtype=float)
    n = a.shape[axis]
    se = a.std(axis=axis, ddof=1) / np.sqrt(n) if n > 1 else np.full(np.mean(a, axis).shape, np.nan)
    return a.mean(axis=axis), se


def compress_law(eigs: np.ndarray, max_atoms: int) -> EmpiricalLaw:
    """Empirical law of ``eigs``, replaced by ``max_atoms`` equally weighted quantiles if larger."""
    eigs = np.sort(np.asarray(eigs, dtype=float).ravel())
    if eigs.size > max_atoms:
        q = (np.arange(max_atoms) + 0.5) / max_atoms
        eigs = np.quantile(eigs, q)
    return EmpiricalLaw(eigs)


def ipr_ratio(vectors: np.ndarray) -> np.ndarray:
    """Inverse participation ratio of each column over GOE's 3 / (P + 2) (1: delocalised)."""
    p = vectors.shape[0]
    return (vectors**4).sum(axis=0) / (3.0 / (p + 2))


#: Relative gap (of max |eigenvalue|) below which eigenvalues form one eigenspace in
#: :func:`cluster_ipr_ratio`: float64 ``eigh`` leaves ~P eps ||X|| of round-off, and vectors of
#: eigenvalues further apart than this are determined to ~1e-7.
DEGENERATE_RTOL = 1e-9


def cluster_ipr_ratio(
    values: np.ndarray, vectors: np.ndarray, rtol: float = DEGENERATE_RTOL
) -> np.ndarray:
    """Basis-independent IPR over a Haar vector's, per eigenvector (column of ``vectors``).

    ``values`` ascending (as ``numpy.linalg.eigh`` returns them). Consecutive eigenvalues closer
    than ``rtol max|values|`` form one eigenspace with orthonormal basis V (P x m) and projector
    Pi = V V^T; each of its vectors gets sum_i Pi_ii^2 / m over (m + 2) / (P + 2), the mean of
    that quantity for a Haar-random m-dimensional subspace (E Pi_ii^2 = m (m + 2) / (P (P + 2))).
    For m = 1 it is the plain IPR sum_i v_i^4 over 3 / (P + 2) (:func:`ipr_ratio`); for any m it
    does not change when V is rotated within the eigenspace.
    """
    values = np.asarray(values, dtype=float)
    P, n = vectors.shape
    scale = float(np.abs(values).max(initial=0.0))
    cuts = np.flatnonzero(np.diff(values) > rtol * scale) + 1
    out = np.empty(n)
    for a, b in zip([0, *cuts], [*cuts, n]):
        m = b - a
        diag = (vectors[:, a:b] ** 2).sum(axis=1)
        out[a:b] = (diag**2).sum() / m / ((m + 2.0) / (P + 2.0))
    return out


def mean_reduced_ratio(eigs: np.ndarray, central: float = 0.5) -> float:
    """Mean reduced spacing ratio over the central fraction ``central`` of the sorted levels."""
    ev = np.sort(eigs)
    n = ev.size
    lo = int(n * (1 - central) / 2)
    ev = ev[lo : n - lo]
    s = np.diff(ev)
    s = s[s > 1e-12 * max(1.0, np.abs(ev).max(initial=0.0))]
    if s.size < 3:
        return float("nan")  # too few distinct levels (e.g. a noise matrix of exact zeros)
    r = s[1:] / s[:-1]
    return float(np.minimum(r, 1 / r).mean())


def batch_noise_rows(
    A: np.ndarray,
    theta: np.ndarray,
    U: np.ndarray,
    bulk_law: EmpiricalLaw,
    hessians: Sequence[np.ndarray],
    b: Any,
) -> tuple[dict[str, Any], list[tuple[np.ndarray, np.ndarray]], DeformedModel]:
    """The module docstring's measurements for the batch Hessians ``hessians`` of one batch size.

    ``A``: the dense full-data Hessian; ``theta``/``U``: its spikes (descending) and their unit
    eigenvectors (columns); ``bulk_law``: A's law without the spikes. Returns the rows
    ``{"noise", "delocalisation", "outliers", "overlaps"}`` (keyed by ``b``), the
    eigendecompositions (eigenvalues ascending, vectors) of the H_b, and the fitted model.
    """
    P = A.shape[0]
    n_spikes = theta.size
    scales, iprs, kurts, ratios, tops, ovs = [], [], [], [], [], []
    hb_decomp = []
    for Hb in hessians:
        X = Hb - A
        xe, xv = np.linalg.eigh(X)
        scales.append(np.sqrt((xe**2).mean()))
        mid = slice(P // 4, P - P // 4)
        ipr = float(cluster_ipr_ratio(xe, xv)[mid].mean())
        iprs.append(ipr)
        kurts.append(ipr * 3.0 * P / (P + 2.0))  # = mean over components of (sqrt(P) v_i)^4
        ratios.append(mean_reduced_ratio(xe))
        he, hv = np.linalg.eigh(Hb)
        hb_decomp.append((he, hv))
        tops.append(he[::-1][:n_spikes])
        ovs.append(((hv[:, ::-1][:, : 2 * n_spikes].T @ U) ** 2).max(axis=0))
    m, se = mean_se(scales)
    finite = [r for r in ratios if np.isfinite(r)]
    ratio_m, ratio_se = mean_se(finite) if finite else (np.nan, np.nan)
    ipr_m, ipr_se = mean_se(iprs)
    k_m, k_se = mean_se(kurts)
    model = DeformedModel(bulk_law, Semicircle(float(m) ** 2))
    pred = model.outliers(theta)
    pred_ov = model.overlaps(theta)
    top_m, top_se = mean_se(tops)
    ov_m, ov_se = mean_se(ovs)
    rows = {
        "noise": {"b": b, "s": float(m), "s_se": float(se), "n_batches": len(scales)},
        "delocalisation": {
            "b": b,
            "ipr_over_goe": float(ipr_m),
            "ipr_over_goe_se": float(ipr_se),
            "kurtosis": float(k_m),
            "kurtosis_se": float(k_se),
            "mean_ratio": float(ratio_m),
            "mean_ratio_se": float(ratio_se),
        },
        "outliers": {
            "b": b,
            "theta": theta,
            "predicted": [None if p is None else float(p) for p in pred],
            "measured": top_m,
            "measured_se": top_se,
            "bulk_edge": model.support()[1],
        },
        "overlaps": {"b": b, "predicted": pred_ov, "measured": ov_m, "measured_se": ov_se},
    }
    return rows, hb_decomp, model


def spikes_and_bulk(
    A_eigs: np.ndarray, A_vecs: np.ndarray, n_spikes: int, max_atoms: int = 400
) -> tuple[np.ndarray, np.ndarray, EmpiricalLaw]:
    """A's top ``n_spikes`` eigenvalues (descending), their eigenvectors, and the bulk law of the
    remaining eigenvalues (:func:`compress_law`)."""
    order = np.argsort(A_eigs)[::-1]
    theta = A_eigs[order[:n_spikes]]
    U = A_vecs[:, order[:n_spikes]]
    return theta, U, compress_law(A_eigs[order[n_spikes:]], max_atoms)


def _interval(mean: Any, se: Any, n: int, level: float = 0.95) -> Any:
    """Student-t interval mean +- t_{n-1} se (None where it cannot be computed)."""
    if n < 2:
        return None
    t = float(stats.t.ppf(0.5 + level / 2, n - 1))
    lo, hi = np.asarray(mean) - t * np.asarray(se), np.asarray(mean) + t * np.asarray(se)
    return [lo.tolist(), hi.tolist()]


def batch_noise_summary(
    A: np.ndarray,
    hessians: Sequence[np.ndarray],
    *,
    n_spikes: int,
    batch_size: int,
    max_atoms: int = 400,
    z_agree: float = 3.0,
) -> dict[str, Any]:
    """Batch-noise analysis of one batch size for a report (``hessrmt analyze``).

    ``A``: dense full-data Hessian (P x P, symmetric); ``hessians``: dense batch Hessians of
    ``batch_size`` samples each (at least two, for standard errors). Everything of the module
    docstring, plus 95 % Student-t intervals over batches, z-scores against GOE's <r~> and
    Poisson's, and per spike z = (measured - predicted) / SE with ``agree`` = |z| < ``z_agree``.
    JSON-able (lists and floats; ``None`` where not computable).
    """
    A = np.asarray(A, dtype=float)
    hessians = [np.asarray(h, dtype=float) for h in hessians]
    P = A.shape[0]
    if A.ndim != 2 or A.shape != (P, P) or any(h.shape != A.shape for h in hessians):
        raise InputError("A and every batch Hessian must be square matrices of the same size")
    if len(hessians) < 2:
        raise InputError("the batch-noise analysis needs at least two batch Hessians")
    if not 1 <= n_spikes < P // 2:
        raise InputError(f"n_spikes must lie in [1, {P // 2 - 1}], got {n_spikes}")
    A = (A + A.T) / 2
    A_eigs, A_vecs = np.linalg.eigh(A)
    theta, U, bulk = spikes_and_bulk(A_eigs, A_vecs, n_spikes, max_atoms)
    rows, _, _ = batch_noise_rows(
        A, theta, U, bulk, [(h + h.T) / 2 for h in hessians], b=batch_size
    )
    n = len(hessians)
    noise, deloc, out, ov = (rows[k] for k in ("noise", "delocalisation", "outliers", "overlaps"))
    pred = np.array([np.nan if p is None else p for p in out["predicted"]], dtype=float)
    meas, meas_se = np.asarray(out["measured"]), np.asarray(out["measured_se"])
    with np.errstate(divide="ignore", invalid="ignore"):
        z = (meas - pred) / meas_se
        rel = np.abs(meas - pred) / np.abs(pred)
        ov_z = (np.asarray(ov["measured"]) - np.asarray(ov["predicted"])) / np.asarray(
            ov["measured_se"]
        )

    def clean(a: np.ndarray) -> list[float | None]:
        return [float(v) if np.isfinite(v) else None for v in np.asarray(a, dtype=float)]

    r_m, r_se = deloc["mean_ratio"], deloc["mean_ratio_se"]
    return {
        "batch_size": int(batch_size),
        "n_batches": n,
        "n_parameters": int(P),
        "n_spikes": int(n_spikes),
        "noise_scale": {
            "s": noise["s"],
            "s_se": noise["s_se"],
            "s_interval": _interval(noise["s"], noise["s_se"], n),
            "s_over_top_spike": float(noise["s"] / theta[0]) if theta[0] != 0 else None,
            "definition": "s = ||H_b - A||_F / sqrt(P), mean over batches",
        },
        "localisation": {
            "ipr_over_goe": deloc["ipr_over_goe"],
            "ipr_over_goe_se": deloc["ipr_over_goe_se"],
            "ipr_over_goe_interval": _interval(deloc["ipr_over_goe"], deloc["ipr_over_goe_se"], n),
            "kurtosis": deloc["kurtosis"],
            "kurtosis_se": deloc["kurtosis_se"],
            "kurtosis_interval": _interval(deloc["kurtosis"], deloc["kurtosis_se"], n),
            "goe_ipr_over_goe": 1.0,
            "goe_kurtosis": 3.0,
        },
        "spacing_ratio": {
            "mean_ratio": r_m if np.isfinite(r_m) else None,
            "mean_ratio_se": r_se if np.isfinite(r_se) else None,
            "mean_ratio_interval": _interval(r_m, r_se, n) if np.isfinite(r_se) else None,
            "goe": GOE_MEAN_RATIO,
            "poisson": float(POISSON_MEAN_RATIO),
            "z_goe": float((r_m - GOE_MEAN_RATIO) / r_se)
            if np.isfinite(r_se) and r_se > 0
            else None,
            "z_poisson": float((r_m - POISSON_MEAN_RATIO) / r_se)
            if np.isfinite(r_se) and r_se > 0
            else None,
        },
        "outliers": {
            "theta": clean(theta),
            "predicted": clean(pred),
            "measured": clean(meas),
            "measured_se": clean(meas_se),
            "measured_interval": _interval(meas, meas_se, n),
            "z": clean(z),
            "relative_error": clean(rel),
            "agree": [bool(np.isfinite(v) and abs(v) < z_agree) for v in z],
            "z_agree": z_agree,
            "bulk_edge": float(out["bulk_edge"]),
            "model": "A's bulk law boxplus semicircle of variance s^2 (DeformedModel)",
        },
        "overlaps": {
            "predicted": clean(ov["predicted"]),
            "measured": clean(ov["measured"]),
            "measured_se": clean(ov["measured_se"]),
            "z": clean(ov_z),
        },
    }
