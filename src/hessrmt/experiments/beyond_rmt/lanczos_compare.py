"""Granziol's single-probe Lanczos density next to multi-probe SLQ and the exact spectrum
(issue 13, item 3; ``docs/reference/papers.md`` §3: his densities are 100 Lanczos steps from one
random probe).

For a symmetric matrix H (P x P) with eigenvalues l_i, m Lanczos steps from a unit probe v give
the Gauss quadrature rule (Ritz values theta_k, weights w_k = (e_1^T s_k)^2) of the measure
sum_i (v^T u_i)^2 delta_{l_i}, whose mean over random probes is the spectral measure
(1/P) sum_i delta_{l_i} (Golub & Meurant; Ubaru, Chen & Saad, SIMAX 38 (2017) 1075). One probe
gives one draw of that random measure; SLQ averages ``probes`` of them. Distances are the
1-Wasserstein distance between the discrete measures (:func:`scipy.stats.wasserstein_distance`
with weights), in the eigenvalues' units; the single-probe distance is given over ``repeats``
independent probes (mean and range).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import scipy.stats

__all__ = ["lanczos_comparison"]


def _w1(a: tuple[np.ndarray, np.ndarray], b: tuple[np.ndarray, np.ndarray]) -> float:
    return float(scipy.stats.wasserstein_distance(a[0], b[0], a[1], b[1]))


def lanczos_comparison(
    hess: Any,
    eigs: np.ndarray,
    *,
    steps: int = 100,
    probes: int = 10,
    repeats: int = 5,
    seed: int = 0,
) -> dict[str, Any]:
    """W1 of single-probe Lanczos and of ``probes``-probe SLQ (``steps`` steps each, capped at
    P) to the exact spectrum ``eigs`` of ``hess``, and between them (module docstring)."""
    from hessrmt.curvature import slq

    dense = (np.asarray(eigs, dtype=float), np.full(len(eigs), 1.0 / len(eigs)))
    m = int(min(steps, len(eigs)))
    multi = slq(hess, num_probes=probes, num_steps=m, rng=seed)
    multi_m = (multi.nodes.ravel(), multi.weights.ravel() / multi.weights.sum())
    singles, to_multi = [], []
    for r in range(repeats):
        one = slq(hess, num_probes=1, num_steps=m, rng=seed + 1000 + r)
        one_m = (one.nodes.ravel(), one.weights.ravel() / one.weights.sum())
        singles.append(_w1(one_m, dense))
        to_multi.append(_w1(one_m, multi_m))
    spread = float(np.mean(np.abs(dense[0] - np.mean(dense[0]))))
    return {
        "steps": m,
        "probes": probes,
        "repeats": repeats,
        "seed": seed,
        "w1_single_to_dense": {
            "mean": float(np.mean(singles)),
            "min": float(np.min(singles)),
            "max": float(np.max(singles)),
            "values": singles,
        },
        "w1_slq_to_dense": _w1(multi_m, dense),
        "w1_single_to_slq": {"mean": float(np.mean(to_multi)), "values": to_multi},
        "dense_mean_abs_deviation": spread,
        "conventions": "W1 between discrete measures (weights of each Gauss rule sum to 1), "
        "Rademacher probes, full reorthogonalisation, float64",
    }
