"""The ``pspin_descent`` section: gradient descent on spherical p-spins at several N."""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np

from hessrmt.rmt.complexity import abc

from .pspin import PSpin, gradient_descent

__all__ = ["descent_section", "fraction_with_se"]


def fraction_with_se(mask: np.ndarray) -> dict[str, float]:
    """Fraction of True and its binomial standard error sqrt(f(1 - f)/n)."""
    n = int(mask.size)
    f = float(np.mean(mask)) if n else math.nan
    return {"fraction": f, "stderr": math.sqrt(f * (1 - f) / n) if n else math.nan, "n": n}


def descent_section(
    p: int,
    ns: Sequence[int],
    disorder: int,
    starts: int,
    *,
    lr: float,
    max_steps: int,
    gtol: float,
    band: float,
    seed: int,
    progress=None,
) -> tuple[dict[str, np.ndarray], dict]:
    """For each N: ``disorder`` coupling samples x ``starts`` descents; stopping energies, indices,
    fractions below -E_0 and within ``band`` of -E_inf (binomial SE over all runs, and the SE of
    the per-sample fractions across disorder samples)."""
    e0, einf = abc.threshold(p, 0), abc.e_inf(p)
    arrays: dict[str, np.ndarray] = {}
    per_n = []
    seq = np.random.SeedSequence(seed)
    for n, child in zip(ns, seq.spawn(len(ns)), strict=True):
        energies, index, gnorm, group = [], [], [], []
        for s, g in enumerate(child.spawn(disorder)):
            a, b = g.spawn(2)
            model = PSpin(int(n), p, rng=np.random.default_rng(a))
            r = gradient_descent(
                model, starts, rng=np.random.default_rng(b), lr=lr, max_steps=max_steps, gtol=gtol
            )
            energies.append(r.energy), index.append(r.index), gnorm.append(r.grad_norm)
            group.append(np.full(starts, s))
            if progress is not None:
                progress(1)
        e = np.concatenate(energies)
        idx = np.concatenate(index)
        gn = np.concatenate(gnorm)
        grp = np.concatenate(group)
        arrays[f"energy_N{n}"], arrays[f"index_N{n}"], arrays[f"grad_norm_N{n}"] = e, idx, gn
        below = e < -e0
        near = np.abs(e + einf) <= band
        per_sample = np.array([near[grp == s].mean() for s in range(disorder)])
        per_n.append({
            "N": int(n),
            "runs": int(e.size),
            "converged_fraction": float(np.mean(gn <= gtol)),
            "energy_mean": float(e.mean()),
            "energy_stderr": float(e.std(ddof=1) / math.sqrt(e.size)) if e.size > 1 else None,
            "energy_min": float(e.min()),
            "converged_runs": int(np.sum(gn <= gtol)),
            "energy_mean_converged": float(e[gn <= gtol].mean()) if np.any(gn <= gtol) else None,
            "below_minus_E0": fraction_with_se(below),
            "within_band_of_minus_E_inf": fraction_with_se(near),
            "within_band_stderr_between_disorder": float(per_sample.std(ddof=1)
                                                         / math.sqrt(disorder))
            if disorder > 1 else None,
            "index_counts": np.bincount(idx).tolist(),
            "index_zero_fraction": fraction_with_se(idx == 0),
        })  # fmt: skip
    info = {
        "p": p, "E_0": e0, "E_inf": einf, "band": band, "disorder_samples": disorder,
        "starts_per_sample": starts, "lr": lr, "max_steps": max_steps, "gtol": gtol,
        "per_N": per_n,
        "conventions": "energy per site H_N/N; sphere |sigma|^2 = N; index = negative "
        "eigenvalues of the Riemannian Hessian (< -1e-6)",
    }  # fmt: skip
    return arrays, info
