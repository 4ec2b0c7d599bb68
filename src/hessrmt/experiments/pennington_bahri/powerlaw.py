"""Shifted power laws y = c_g (x - x0_g)^gamma fitted to groups of points, with intervals and a
test of a hypothesised exponent.

General (no knowledge of critical points): the Pennington-Bahri pipeline fits the index alpha
against the energy eps, one group per phi, where the 3/2 law (Pennington & Bahri 2017; see
docs/reference/papers.md section 4.3) says alpha ~ alpha0 ((eps - eps_c) / eps_c)^(3/2) close
above a threshold.

Model and estimator. For each group g, log y = log c_g + gamma_g log(x - x0_g) + noise; the
exponent is either shared by all groups (``shared_exponent=True``) or fitted per group. The
threshold x0_g is either free (constrained below the group's smallest x by the parametrisation
x0_g = min(x_g) - exp(t_g)) or fixed at 0 (``threshold="zero"``). Least squares in log y
(:func:`scipy.optimize.least_squares`), i.e. the maximum-likelihood fit for log-normal noise.

Intervals: percentile bootstrap (2.5 %, 97.5 %) resampling points within each group, seeded.

Test of gamma = gamma_H (``test_exponent``): the extra-sum-of-squares F test for nested least
squares models (e.g. Seber & Wild, "Nonlinear Regression", 1989, section 5.3):
F = (RSS_H - RSS) / (q RSS / (n - k)), with q = the number of exponents constrained (1 when the
exponent is shared; one per group otherwise), k the number of free parameters, compared with
F(q, n - k). Exact for linear models with Gaussian noise and asymptotically valid otherwise; the
tests check its level by simulation under the null and its power on a known-false exponent.
It assumes independent, equal-variance scatter in log y; where that fails (points of one phi
clustered in alpha, a threshold near the smallest x) it can reject a value that the bootstrap
interval contains (measured on the Pennington-Bahri quick run: gamma interval [0.57, 1.68], F test
p = 5e-14 for 3/2). Hence also the bootstrap test dual to the printed interval
(``bootstrap_p_value``): two-sided percentile p = min(1, 2 min(1 + #{g* <= gamma_H},
1 + #{g* >= gamma_H}) / (B + 1)) over the B bootstrap exponents g* (Efron & Tibshirani, "An
Introduction to the Bootstrap", 1993, section 16.4 on percentile-interval tests). It rejects at
level a exactly when gamma_H lies outside the percentile interval of level 1 - a (up to one
replicate at the ends), and it cannot fall below 2 / (B + 1): decisions use it, so a decision
never contradicts the interval next to it.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Mapping
from typing import Any

import numpy as np

from hessrmt.errors import InputError

ArrayPair = tuple[np.ndarray, np.ndarray]


@dataclasses.dataclass(frozen=True)
class GroupPowerLaw:
    """One group's parameters: y = c (x - x0)^exponent."""

    c: float
    x0: float
    exponent: float
    n_points: int
    x0_interval: tuple[float, float] | None = None
    exponent_interval: tuple[float, float] | None = None


@dataclasses.dataclass(frozen=True)
class PowerLawFit:
    """Outcome of :func:`fit_power_law` (``exponent`` is None, with a ``reason``, when no fit)."""

    exponent: float | None
    exponent_interval: tuple[float, float] | None
    shared_exponent: bool
    threshold: str
    groups: dict[str, GroupPowerLaw]
    n_points: int
    n_bootstrap: int = 0
    rss: float | None = None
    dof: int | None = None
    test_exponent: float | None = None
    test_statistic: float | None = None
    p_value: float | None = None
    bootstrap_p_value: float | None = None
    reason: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


class _Layout:
    """Named parameters of the least-squares vector: ("gamma", g), ("logc", g), ("t", g)."""

    def __init__(self, keys: list[Any], shared: bool, free: bool, fixed_gamma: float | None):
        self.names: list[tuple[str, Any]] = []
        if fixed_gamma is None:
            self.names += [("gamma", None)] if shared else [("gamma", k) for k in keys]
        self.names += [("logc", k) for k in keys]
        if free:
            self.names += [("t", k) for k in keys]
        self.pos = {n: i for i, n in enumerate(self.names)}
        self.shared, self.free, self.fixed_gamma = shared, free, fixed_gamma

    def gamma(self, p: np.ndarray, k: Any) -> float:
        if self.fixed_gamma is not None:
            return self.fixed_gamma
        return p[self.pos[("gamma", None if self.shared else k)]]

    def logc(self, p: np.ndarray, k: Any) -> float:
        return p[self.pos[("logc", k)]]

    def x0(self, p: np.ndarray, k: Any, xmin: float) -> float:
        return xmin - math.exp(p[self.pos[("t", k)]]) if self.free else 0.0


def _least_squares(
    data: Mapping[Any, ArrayPair], keys: list[Any], layout: _Layout
) -> tuple[np.ndarray, float] | None:
    from scipy.optimize import least_squares

    x0, lo, hi = [], [], []
    for kind, k in layout.names:
        if kind == "gamma":
            x0.append(1.5), lo.append(0.05), hi.append(10.0)
        elif kind == "logc":
            x0.append(float(np.log(np.mean(data[k][1])))), lo.append(-np.inf), hi.append(np.inf)
        else:
            xmin = float(np.min(data[k][0]))
            x0.append(math.log(0.5 * xmin)), lo.append(-30.0), hi.append(math.log(xmin))

    def residuals(p: np.ndarray) -> np.ndarray:
        out = []
        for k in keys:
            x, y = data[k]
            shifted = x - layout.x0(p, k, float(np.min(x)))
            out.append(np.log(y) - layout.logc(p, k) - layout.gamma(p, k) * np.log(shifted))
        return np.concatenate(out)

    try:
        sol = least_squares(residuals, x0, bounds=(lo, hi))
    except ValueError:
        return None
    if not sol.success:
        return None
    return sol.x, float(np.sum(sol.fun**2))


def fit_power_law(
    groups: Mapping[Any, ArrayPair],
    *,
    shared_exponent: bool = True,
    threshold: str = "free",
    bootstrap: int = 200,
    seed: int = 0,
    test_exponent: float | None = None,
) -> PowerLawFit:
    """Fit y = c_g (x - x0_g)^gamma(_g) to ``groups`` {key: (x, y)} (see the module docstring).

    Only points with x > 0 and y > 0 are used; a group needs more points than its parameters
    (4 with a free threshold and its own exponent, 3 with a free threshold, 2 otherwise), else it
    is left out. Returns a :class:`PowerLawFit`; group keys become strings.
    """
    if threshold not in ("free", "zero"):
        raise InputError(f"threshold must be 'free' or 'zero', got {threshold!r}")
    free = threshold == "free"
    need = 2 + int(free) + int(not shared_exponent)
    use: dict[Any, ArrayPair] = {}
    for k, (x, y) in groups.items():
        x, y = np.asarray(x, float), np.asarray(y, float)
        if x.shape != y.shape or x.ndim != 1:
            raise InputError(f"group {k!r}: x and y must be 1-D arrays of one length")
        ok = (x > 0) & (y > 0) & np.isfinite(x) & np.isfinite(y)
        if np.sum(ok) >= need and len(np.unique(x[ok])) >= need:
            use[k] = (x[ok], y[ok])
    n_points = int(sum(len(x) for x, _ in use.values()))
    empty = dict(shared_exponent=shared_exponent, threshold=threshold, groups={})
    if not use:
        reason = f"no group has {need} or more points with x > 0 and y > 0"
        return PowerLawFit(None, None, n_points=n_points, reason=reason, **empty)
    keys = sorted(use)
    layout = _Layout(keys, shared_exponent, free, None)
    best = _least_squares(use, keys, layout)
    if best is None:
        return PowerLawFit(None, None, n_points=n_points, reason="least squares failed", **empty)
    p, rss = best
    dof = n_points - len(layout.names)

    rng = np.random.default_rng(seed)
    boots = []
    for _ in range(int(bootstrap)):
        sample = {}
        for k in keys:
            x, y = use[k]
            i = rng.integers(0, len(x), len(x))
            sample[k] = (x[i], y[i])
        if all(len(np.unique(sample[k][0])) >= need for k in keys):
            q = _least_squares(sample, keys, layout)
            if q is not None:
                boots.append(
                    {
                        k: (layout.gamma(q[0], k), layout.x0(q[0], k, float(np.min(sample[k][0]))))
                        for k in keys
                    }
                )

    def interval(values: list[float]) -> tuple[float, float] | None:
        if len(values) < 10:
            return None
        return (float(np.percentile(values, 2.5)), float(np.percentile(values, 97.5)))

    out_groups = {}
    for k in keys:
        xmin = float(np.min(use[k][0]))
        out_groups[str(k)] = GroupPowerLaw(
            c=float(np.exp(layout.logc(p, k))),
            x0=float(layout.x0(p, k, xmin)),
            exponent=float(layout.gamma(p, k)),
            n_points=len(use[k][0]),
            x0_interval=interval([b[k][1] for b in boots]) if free else None,
            exponent_interval=interval([b[k][0] for b in boots]),
        )
    exponent = float(layout.gamma(p, keys[0])) if shared_exponent else None
    exponent_interval = interval([b[keys[0]][0] for b in boots]) if shared_exponent else None
    stat = p_value = boot_p = None
    if test_exponent is not None and (shared_exponent or len(keys) == 1):
        boot_p = bootstrap_p_value([b[keys[0]][0] for b in boots], test_exponent)
    if test_exponent is not None and dof > 0:
        null = _least_squares(use, keys, _Layout(keys, shared_exponent, free, test_exponent))
        if null is not None:
            from scipy.stats import f as f_dist

            q_constraints = 1 if shared_exponent else len(keys)
            stat = max(null[1] - rss, 0.0) / q_constraints / (rss / dof) if rss > 0 else math.inf
            p_value = float(f_dist.sf(stat, q_constraints, dof))
    return PowerLawFit(
        exponent=exponent,
        exponent_interval=exponent_interval,
        shared_exponent=shared_exponent,
        threshold=threshold,
        groups=out_groups,
        n_points=n_points,
        n_bootstrap=len(boots),
        rss=rss,
        dof=dof,
        test_exponent=test_exponent,
        test_statistic=None if stat is None else float(stat),
        p_value=p_value,
        bootstrap_p_value=boot_p,
    )


def bootstrap_p_value(
    values: list[float], hypothesis: float, min_replicates: int = 10
) -> float | None:
    """Two-sided percentile-bootstrap p-value of ``hypothesis`` (module docstring), or None with
    fewer than ``min_replicates`` replicates (no interval is given then either)."""
    v = np.asarray(values, float)
    if v.size < min_replicates:
        return None
    below = 1 + int(np.sum(v <= hypothesis))
    above = 1 + int(np.sum(v >= hypothesis))
    return float(min(1.0, 2.0 * min(below, above) / (v.size + 1)))
