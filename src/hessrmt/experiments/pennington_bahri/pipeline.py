"""The Pennington & Bahri (2017) memorisation experiment, end to end.

Steps (conventions of the task in :mod:`.task`, of the theory in
:mod:`hessrmt.rmt.pennington_bahri`):

1. For each phi in ``config.phis`` and each of ``config.starts`` seeds: a random start
   (weights N(0, s^2/fan_in), s ~ U(``init_scale``)) followed by a log-uniform random number of
   full-batch gradient descent steps in [``gd_steps_min``, ``gd_steps_max``] (so that starts,
   hence critical points, span many energies down to near the minimisers), then the
   critical-point finder (:func:`.critical_points.find_critical_point`, Levenberg-Marquardt on
   |grad L|^2 with exact float64 Hessians, in closed form from :func:`.task.flat_derivatives`).
   Most searches end in gradient-flat regions (tanh units drifting to saturation or to the linear
   regime: the nearest critical point is at infinity) and are stopped after ``stall_window``
   steps without progress, so the run makes many cheap searches. A point is kept only when
   |grad L| <= ``accept_gtol`` AND its Newton step is <= ``accept_xtol`` (absolute; a
   small gradient on a slope that flattens towards infinity is not a critical point) AND H has
   no numerically exact zero mode (saturated units whose gradient underflows); every
   gradient norm and Newton step is recorded, and repeats of one point (same phi, index and
   energy to 1e-8: the network's permutation / sign symmetries) are counted once.
2. For each phi in ``config.min_phis``: ``config.min_starts`` minimisations
   (:func:`.critical_points.find_minimum`), kept when |grad L| <= ``accept_gtol`` and index 0.
3. At each kept point the spectra of H, H0 (Gauss-Newton) and H1 (residual) are computed with
   :mod:`hessrmt.curvature` (``HessianOperator``, ``GGNOperator``, ``ResidualOperator``,
   ``dense_matrix``), the index alpha is the fraction of negative eigenvalues of H, and the theory
   index alpha(eps, phi) is evaluated (i) at the raw energy and (ii) at the effective energy
   eps_eff = var(H1) / (2 mean(H0)^2), the energy at which the model's H1/H0 scale ratio matches
   the measured one (the theory's units: H0 mean 1, H1 variance 2 eps).
4. The 3/2 law: alpha = c_phi (eps - eps0_phi)^gamma is fitted by least squares in log alpha
   (a common gamma, one c and eps0 per phi) to the distinct saddles with 0 < alpha <= ``alpha_max``;
   the interval is a seeded bootstrap over points (percentile 2.5-97.5 %). The same fit applied to
   the theory's alpha at the same energies is reported as a calibration.
5. Figures, ``summary.json`` and ``report.html``. Each search is checkpointed atomically in
   ``checkpoints/`` (a rerun with the same configuration resumes); all outputs are written
   atomically.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import math
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch

from hessrmt.errors import InputError
from hessrmt.io import atomic_write_bytes, atomic_write_json, to_jsonable
from hessrmt.results import Metadata, Result
from hessrmt.rmt import pennington_bahri as theory

from . import task as T
from .critical_points import CriticalPointSearch, find_critical_point, find_minimum

# ---------------------------------------------------------------------------------------------
# Configuration
# ---------------------------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class Config:
    """Settings of one run (all recorded in ``summary.json``)."""

    width: int = 16
    n_in: int | None = None
    n_out: int | None = None
    bias: bool = False
    phis: tuple[float, ...] = (0.25, 0.5, 0.75)
    starts: int = 400
    init_scale: tuple[float, float] = (0.5, 3.0)
    gd_steps_min: int = 10
    gd_steps_max: int = 2000
    gd_lr: float = 0.5
    min_phis: tuple[float, ...] = (0.1, 0.3, 0.5, 0.7, 0.9)
    min_starts: int = 2
    max_iter: int = 400
    stall_window: int = 40
    min_max_iter: int = 400
    gtol: float = 1e-10
    accept_gtol: float = 1e-8
    accept_xtol: float = 1e-6
    alpha_max: float = 0.3
    bootstrap: int = 200
    seed: int = 0
    quick: bool = False
    threads: int = 1

    def key(self) -> str:
        """A hash of the settings that change results (checkpoints are tied to it)."""
        d = dataclasses.asdict(self)
        d.pop("bootstrap")
        d.pop("threads")
        return hashlib.sha256(json.dumps(d, sort_keys=True).encode()).hexdigest()[:16]


def quick_config(seed: int = 0) -> Config:
    """A small run for tests and smoke checks (width 5, P = 50; about 2-3 minutes on one core).

    Most searches end in gradient-flat regions (see :mod:`.critical_points`), so the quick run
    spends its time on many cheap searches (300 per phi; closed-form derivatives)."""
    return Config(
        width=5,
        phis=(0.25, 0.5),
        starts=300,
        min_phis=(0.25, 0.5, 0.75),
        min_starts=3,
        min_max_iter=150,
        bootstrap=100,
        seed=seed,
        quick=True,
    )


def full_config(seed: int = 0, **overrides: Any) -> Config:
    """The paper-sized run: width = n_in = n_out = 16, no biases (P = 512)."""
    return dataclasses.replace(Config(seed=seed), **overrides)


def _validate(config: Config) -> None:
    if config.width < 1 or config.starts < 0 or config.min_starts < 0:
        raise InputError("width must be >= 1 and the numbers of starts >= 0")
    if not (0 <= config.gd_steps_min <= config.gd_steps_max):
        raise InputError("need 0 <= gd_steps_min <= gd_steps_max")
    if not (0 < config.init_scale[0] <= config.init_scale[1]) or config.gd_lr <= 0:
        raise InputError("init_scale must be an interval of positive numbers and gd_lr > 0")
    if config.stall_window < 1 or config.accept_xtol <= 0:
        raise InputError("stall_window must be >= 1 and accept_xtol > 0")
    for phi in (*config.phis, *config.min_phis):
        if not (math.isfinite(phi) and phi > 0):
            raise InputError(f"every phi must be positive, got {phi}")
    if not (config.accept_gtol > 0 and config.gtol > 0):
        raise InputError("gtol and accept_gtol must be positive")
    if config.max_iter < 1 or config.min_max_iter < 1:
        raise InputError("max_iter must be >= 1")
    if config.threads < 1:
        raise InputError(f"threads must be >= 1, got {config.threads}")


#: Hessian eigenvalues with |l| <= ZERO_MODE_RTOL max|l| count as exact zero modes (none at the
#: kept critical points of the quick and width-8 runs: their smallest |l| / max|l| >= 3e-7; 4-13 at
#: the runaway "minima" with |theta| ~ 100-1300, whose smallest are ~1e-15).
ZERO_MODE_RTOL = 1e-10

# ---------------------------------------------------------------------------------------------
# One search (the checkpointed unit)
# ---------------------------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class PointRecord(Result):
    """One critical-point search and, when kept, the spectra at the point."""

    kind = "pennington_bahri_point"

    search: str  # "critical" or "minimum"
    phi_target: float
    phi: float
    seed: int
    n_params: int
    n_data: int
    start_energy: float
    init_scale: float
    gd_steps: int
    energy: float
    grad_norm: float
    newton_step: float
    gradient_flatness: float
    zero_modes: int
    converged: bool
    accepted: bool
    iterations: int
    reason: str
    index_count: int
    index: float
    index_finder: int
    h_minus_h0_h1: float
    h0_mean: float
    h1_variance: float
    eps_eff: float
    alpha_theory: float
    alpha_theory_eff: float
    seconds: float
    config_key: str
    theta: np.ndarray
    eig_h: np.ndarray
    eig_h0: np.ndarray
    eig_h1: np.ndarray
    grad_norm_history: np.ndarray
    meta: Metadata = dataclasses.field(default_factory=Metadata)

    def row(self) -> dict[str, Any]:
        """The per-point entry of ``summary.json``."""
        return {
            "search": self.search,
            "phi": self.phi,
            "seed": self.seed,
            "energy": self.energy,
            "index": self.index,
            "index_count": self.index_count,
            "grad_norm": self.grad_norm,
            "newton_step": self.newton_step,
            "theta_norm": float(np.linalg.norm(self.theta)),
            "zero_modes": self.zero_modes,
            "gradient_flatness": self.gradient_flatness,
            "accepted": self.accepted,
            "iterations": self.iterations,
            "eps_eff": self.eps_eff,
            "alpha_theory": self.alpha_theory,
            "alpha_theory_eff": self.alpha_theory_eff,
            "reason": self.reason,
        }


def _spectra(task: T.MemorisationTask, theta: np.ndarray) -> dict[str, Any]:
    """Eigenvalues of H, H0 = GGN and H1 = residual from :mod:`hessrmt.curvature`."""
    from hessrmt.curvature import (
        GGNOperator,
        HessianOperator,
        ResidualOperator,
        dense_matrix,
        eigenvalues,
    )

    model = T.set_parameters(T.build_model(task), theta)
    data = task.batches()
    mats = {}
    for name, cls in (("h", HessianOperator), ("h0", GGNOperator), ("h1", ResidualOperator)):
        op = cls(model, T.loss_fn, data, dtype=torch.float64)
        mats[name] = dense_matrix(op)
    eig = {k: eigenvalues(v).numpy() for k, v in mats.items()}
    scale = float(mats["h"].abs().max()) or 1.0
    err = float((mats["h"] - mats["h0"] - mats["h1"]).abs().max()) / scale
    return {"eig": eig, "h_minus_h0_h1": err}


def _run_search(task: T.MemorisationTask, config: Config, search: str, seed: int) -> PointRecord:
    t0 = time.perf_counter()
    rng = np.random.default_rng([config.seed, seed, round(1e6 * task.phi_target), 7])
    fun = T.flat_loss(task)
    grad_fn, hess_fn = T.flat_derivatives(task) if not task.bias else (None, None)
    init_scale = float(rng.uniform(*config.init_scale))
    theta = T.initial_parameters(task, rng, scale=init_scale)
    # log-uniform number of gradient-descent steps in [gd_steps_min, gd_steps_max]: starts (and so
    # critical points) at many energies, down to near the minimisers
    lo, hi = np.log1p(config.gd_steps_min), np.log1p(config.gd_steps_max)
    gd_steps = int(np.rint(np.expm1(rng.uniform(lo, hi))))
    if gd_steps:
        from torch.func import grad

        g = grad(fun) if grad_fn is None else grad_fn
        for _ in range(gd_steps):
            theta = theta - config.gd_lr * g(theta)
    start_energy = float(fun(theta))
    res: CriticalPointSearch
    if search == "critical":
        res = find_critical_point(
            fun,
            theta,
            gtol=config.gtol,
            xtol=config.accept_xtol,
            max_iter=config.max_iter,
            stall_window=config.stall_window,
            grad_fn=grad_fn,
            hess_fn=hess_fn,
        )
    else:
        res = find_minimum(
            fun,
            theta,
            gtol=config.gtol,
            xtol=config.accept_xtol,
            max_iter=config.min_max_iter,
            grad_fn=grad_fn,
            hess_fn=hess_fn,
        )
    # a critical point: tiny gradient AND a tiny Newton step (not a slope flattening to infinity)
    # AND no numerically exact zero mode of H: such modes come from tanh units saturated so far
    # that their gradient underflows (|theta| in the hundreds: a point at infinity that float64
    # cannot tell from a critical point) or from dead / duplicated units (degenerate points)
    l_abs = np.abs(res.hessian_eigenvalues)
    zero_modes = int(np.sum(l_abs <= ZERO_MODE_RTOL * l_abs.max())) if l_abs.size else 0
    accepted = bool(
        res.grad_norm <= config.accept_gtol
        and res.newton_step <= config.accept_xtol
        and zero_modes == 0
        and math.isfinite(res.value)
    )
    if search == "minimum":
        accepted = accepted and res.index == 0
    nan = float("nan")
    eig = {"h": np.empty(0), "h0": np.empty(0), "h1": np.empty(0)}
    idx_count, idx, err, h0m, h1v, eps_eff, a_raw, a_eff = 0, nan, nan, nan, nan, nan, nan, nan
    if accepted:
        sp = _spectra(task, res.x)
        eig, err = sp["eig"], sp["h_minus_h0_h1"]
        scale = float(np.max(np.abs(eig["h"])))
        idx_count = int(np.sum(eig["h"] < -1e-10 * scale))
        idx = idx_count / task.n_params
        h0m = float(np.mean(eig["h0"]))
        h1v = float(np.mean((eig["h1"] - np.mean(eig["h1"])) ** 2))
        eps_eff = h1v / (2.0 * h0m**2)
        a_raw = theory.index(max(res.value, 0.0), task.phi)
        a_eff = theory.index(eps_eff, task.phi)
    return PointRecord(
        search=search,
        phi_target=task.phi_target,
        phi=task.phi,
        seed=seed,
        n_params=task.n_params,
        n_data=task.n_data,
        start_energy=start_energy,
        init_scale=init_scale,
        gd_steps=gd_steps,
        energy=res.value,
        grad_norm=res.grad_norm,
        newton_step=res.newton_step,
        gradient_flatness=res.gradient_flatness,
        zero_modes=zero_modes,
        converged=res.converged,
        accepted=accepted,
        iterations=res.iterations,
        reason=res.reason,
        index_count=idx_count,
        index=idx,
        index_finder=res.index,
        h_minus_h0_h1=err,
        h0_mean=h0m,
        h1_variance=h1v,
        eps_eff=eps_eff,
        alpha_theory=a_raw,
        alpha_theory_eff=a_eff,
        seconds=time.perf_counter() - t0,
        config_key=config.key(),
        theta=res.x,
        eig_h=eig["h"],
        eig_h0=eig["h0"],
        eig_h1=eig["h1"],
        grad_norm_history=res.grad_norm_history,
        meta=Metadata.create(seed=config.seed, dtype="float64", conventions=task.conventions()),
    )


# ---------------------------------------------------------------------------------------------
# Fits
# ---------------------------------------------------------------------------------------------


def fit_power_law(
    groups: dict[float, tuple[np.ndarray, np.ndarray]],
    *,
    bootstrap: int = 200,
    seed: int = 0,
    eps0: str = "free",
) -> dict[str, Any]:
    """Fit alpha = c_g (eps - eps0_g)^gamma with a common gamma and per-group c_g, eps0_g.

    ``eps0="free"``: eps0_g < min eps of the group is fitted (needs >= 3 points with alpha > 0 per
    group); ``eps0="zero"``: alpha = c_g eps^gamma (>= 2 points per group). Least squares in
    log alpha over all usable groups; returns gamma, a seeded bootstrap 95 % percentile interval
    (resampling points within groups), per-group parameters and the number of points, or
    ``gamma = None`` with a ``reason``.
    """
    from scipy.optimize import least_squares

    if eps0 not in ("free", "zero"):
        raise InputError(f"eps0 must be 'free' or 'zero', got {eps0!r}")
    free = eps0 == "free"
    need = 3 if free else 2
    use = {}
    for k, (e, a) in groups.items():
        e, a = np.asarray(e, float), np.asarray(a, float)
        ok = (a > 0) & (e > 0)
        if np.sum(ok) >= need:
            use[k] = (e[ok], a[ok])
    n_points = int(sum(len(e) for e, _ in use.values()))
    if not use:
        return {
            "gamma": None,
            "interval": None,
            "n_points": n_points,
            "eps0": eps0,
            "reason": f"no phi group has {need} or more critical points with 0 < alpha",
        }
    keys = sorted(use)
    width = 2 if free else 1

    def fit(data: dict[float, tuple[np.ndarray, np.ndarray]]) -> np.ndarray | None:
        # parameters: gamma, then per group log c (and log(min eps - eps0) when free)
        x0 = [1.5]
        lo, hi = [0.05], [10.0]
        for k in keys:
            e, a = data[k]
            x0 += [float(np.log(np.mean(a)))]
            lo += [-np.inf]
            hi += [np.inf]
            if free:
                x0 += [float(np.log(0.5 * np.min(e)))]
                lo += [-30.0]
                hi += [float(np.log(np.min(e)))]

        def res(p: np.ndarray) -> np.ndarray:
            out = []
            for i, k in enumerate(keys):
                e, a = data[k]
                shift = np.min(e) - np.exp(p[2 + 2 * i]) if free else 0.0
                out.append(np.log(a) - p[1 + width * i] - p[0] * np.log(e - shift))
            return np.concatenate(out)

        try:
            sol = least_squares(res, x0, bounds=(lo, hi))
        except ValueError:
            return None
        return sol.x if sol.success else None

    p = fit(use)
    if p is None:
        return {
            "gamma": None,
            "interval": None,
            "n_points": n_points,
            "eps0": eps0,
            "reason": "least-squares fit failed",
        }
    rng = np.random.default_rng(seed)
    boots = []
    for _ in range(int(bootstrap)):
        sample = {}
        for k in keys:
            e, a = use[k]
            i = rng.integers(0, len(e), len(e))
            sample[k] = (e[i], a[i])
        if all(len(np.unique(sample[k][0])) >= need for k in keys):
            q = fit(sample)
            if q is not None:
                boots.append(q[0])
    interval = (
        [float(np.percentile(boots, 2.5)), float(np.percentile(boots, 97.5))]
        if len(boots) >= 10
        else None
    )
    groups_out = {}
    for i, k in enumerate(keys):
        e, _ = use[k]
        groups_out[str(k)] = {
            "c": float(np.exp(p[1 + width * i])),
            "eps0": float(np.min(e) - np.exp(p[2 + 2 * i])) if free else 0.0,
            "n_points": len(e),
        }
    return {
        "gamma": float(p[0]),
        "interval": interval,
        "n_bootstrap": len(boots),
        "n_points": n_points,
        "eps0": eps0,
        "groups": groups_out,
        "reason": None,
    }


# ---------------------------------------------------------------------------------------------
# Figures
# ---------------------------------------------------------------------------------------------


def _figures(
    records: list[PointRecord], config: Config, summary: dict[str, Any] | None = None
) -> dict[str, Any]:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figs: dict[str, Any] = {}
    # (i) theoretical densities
    fig, axes = plt.subplots(1, 3, figsize=(13, 3.6), sharey=True)
    for ax, phi in zip(axes, (0.25, 0.5, 0.75)):
        for eps in (0.0, 0.001, 0.01, 0.05, 0.1):
            law = theory.PenningtonBahriLaw(phi, eps)
            lo = min(law.support_intervals()[0][0], 0.0) - 0.2
            x = np.linspace(lo, law.support_intervals()[-1][1] + 0.2, 600)
            ax.plot(x, law.density(x), lw=1.2, label=f"eps = {eps:g}")
        ax.axvline(0, color="k", lw=0.5)
        ax.set_ylim(0, 1.6)
        ax.set_title(f"phi = {phi:g} (eps_c = {theory.critical_energy(phi):.4g})")
        ax.set_xlabel("eigenvalue")
    axes[0].set_ylabel("density of H0 + H1")
    axes[-1].legend(fontsize=8)
    figs["densities"] = fig

    kept = [r for r in records if r.search == "critical" and r.accepted]
    mins = [r for r in records if r.search == "minimum" and r.accepted]
    # (ii) alpha vs eps, theory and experiment
    fig, ax = plt.subplots(figsize=(6.5, 4.5))
    for i, phi_t in enumerate(config.phis):
        pts = [r for r in kept + mins if r.phi_target == phi_t]
        phi = pts[0].phi if pts else phi_t
        eps_c = theory.critical_energy(phi)
        eps = np.unique(
            np.concatenate([np.linspace(0.0, 0.7, 29), eps_c * (1 + np.geomspace(1e-2, 2, 8))])
        )
        ax.plot(eps, [theory.index(e, phi) for e in eps], color=f"C{i}", lw=1.2,
                label=f"theory phi = {phi:.3g}")  # fmt: skip
        if pts:
            ax.scatter([r.energy for r in pts], [r.index for r in pts], color=f"C{i}", s=18,
                       marker="o", label=f"experiment phi = {phi:.3g}")  # fmt: skip
        ex = (summary or {}).get("exponent", {})
        grp = (ex.get("groups") or {}).get(str(phi_t))
        if ex.get("gamma") is not None and grp is not None and pts:
            e_hi = max(r.energy for r in pts)
            ee = np.linspace(grp["eps0"], e_hi, 100)
            ax.plot(ee, grp["c"] * (ee - grp["eps0"]) ** ex["gamma"], "--", color=f"C{i}",
                    lw=1, label=f"fit c (eps - eps0)^{ex['gamma']:.2f}")  # fmt: skip
    ax.set_xlabel("energy eps = L")
    ax.set_ylabel("index alpha (fraction of negative eigenvalues)")
    ax.legend(fontsize=8)
    figs["index_vs_energy"] = fig

    # (iv) minimiser energies vs phi
    fig, ax = plt.subplots(figsize=(6, 4))
    p = np.linspace(0, 1, 101)
    ax.plot(p, (1 - p) ** 2 / 2, "k-", lw=1, label="(1 - phi)^2 / 2")
    ax.plot(p, (1 - p) / 2, "k:", lw=1, label="(1 - phi)/2 (linear model, phi = n_in/m)")
    if mins:
        ax.scatter([r.phi for r in mins], [r.energy for r in mins], color="C3", s=20,
                   label="minimisers found (critical points)")  # fmt: skip
    runaway = [r for r in records if r.search == "minimum" and not r.accepted]
    if runaway:
        ax.scatter([r.phi for r in runaway], [r.energy for r in runaway], facecolors="none",
                   edgecolors="C7", s=20, label="minimisation unconverged")  # fmt: skip
    ax.set_xlabel("phi")
    ax.set_ylabel("energy of minimisers")
    ax.legend(fontsize=8)
    figs["minimiser_energy"] = fig

    # (iii) H0, H1 and H spectra at one critical point
    chosen = _chosen_point(kept)
    if chosen is not None:
        figs["spectra"] = _spectra_figure(chosen, plt)
    return figs


def _chosen_point(kept: list[PointRecord]) -> PointRecord | None:
    """The kept saddle with the median energy among those with positive index, else any."""
    pos = [r for r in kept if r.index > 0] or kept
    if not pos:
        return None
    pos = sorted(pos, key=lambda r: r.energy)
    return pos[len(pos) // 2]


def _spectra_figure(r: PointRecord, plt: Any) -> Any:
    fig, axes = plt.subplots(1, 3, figsize=(13, 3.6))
    c0, v1 = r.h0_mean, r.h1_variance
    bins = max(10, int(np.sqrt(r.n_params)) * 2)
    # H0 against MP(phi) with mean c0
    ax = axes[0]
    ax.hist(r.eig_h0 / c0, bins=bins, density=True, alpha=0.5, label="H0 (GGN) / mean")
    mp = theory.PenningtonBahriLaw(r.phi, 0.0)
    lo, hi = mp.support_intervals()[0]
    x = np.linspace(lo, hi, 300)
    ax.plot(x, mp.density(x), "k-", label=f"MP(phi = {r.phi:.3g})")
    ax.set_title("H0 against Marchenko-Pastur")
    ax.legend(fontsize=8)
    # H1 against a semicircle of the measured variance
    ax = axes[1]
    m1 = float(np.mean(r.eig_h1))
    ax.hist(r.eig_h1, bins=bins, density=True, alpha=0.5, label="H1 (residual)")
    rad = 2 * math.sqrt(v1)
    x = np.linspace(m1 - rad, m1 + rad, 300)
    ax.plot(x, np.sqrt(np.maximum(rad**2 - (x - m1) ** 2, 0)) / (2 * math.pi * v1), "k-",
            label="semicircle, same variance")  # fmt: skip
    ax.set_title("H1 against the semicircle")
    ax.legend(fontsize=8)
    # H against the H0 + H1 theory at eps_eff
    ax = axes[2]
    ax.hist(r.eig_h / c0, bins=bins, density=True, alpha=0.5, label="H / mean(H0)")
    law = theory.PenningtonBahriLaw(r.phi, r.eps_eff)
    lo, hi = law.support_intervals()[0][0], law.support_intervals()[-1][1]
    x = np.linspace(lo, hi, 300)
    ax.plot(x, law.density(x), "k-", label=f"theory, eps_eff = {r.eps_eff:.3g}")
    ax.axvline(0, color="k", lw=0.5)
    ax.set_title(f"H at eps = {r.energy:.3g}, alpha = {r.index:.3g}")
    ax.legend(fontsize=8)
    return fig


# ---------------------------------------------------------------------------------------------
# Run
# ---------------------------------------------------------------------------------------------


def planned_searches(config: Config) -> list[tuple[str, float, int]]:
    """(search kind, phi, seed) of every search, in run order."""
    plan = [("critical", phi, s) for phi in config.phis for s in range(config.starts)]
    plan += [("minimum", phi, s) for phi in config.min_phis for s in range(config.min_starts)]
    return plan


#: Mean finder iterations per critical-point search (measured: 97 in the quick run, where most
#: searches stall after ``stall_window`` = 40 steps without progress; 73 for the successful ones).
MEAN_SEARCH_ITERATIONS = 100
#: Fixed cost per search in seconds (start, checkpoint, record; spectra of the few kept points):
#: the quick run took 81 s of CPU for 600 searches against 50 s from the per-iteration costs.
SEARCH_OVERHEAD_SECONDS = 0.05


def estimate_seconds(config: Config) -> float:
    """Expected duration: measured cost of one finder iteration (closed-form Hessian,
    eigendecomposition, two gradients) and of one gradient-descent step per phi, times the
    mean number of iterations (:data:`MEAN_SEARCH_ITERATIONS`; ``min_max_iter`` for
    minimisations) and the mean of the log-uniform number of descent steps, plus
    :data:`SEARCH_OVERHEAD_SECONDS` per search."""
    from torch.func import grad, hessian

    previous_threads = torch.get_num_threads()
    torch.set_num_threads(config.threads)
    per_phi: dict[float, tuple[float, float]] = {}
    try:
        for phi in sorted(set(config.phis) | set(config.min_phis)):
            task = T.make_task(phi, width=config.width, n_in=config.n_in, n_out=config.n_out,
                               bias=config.bias, seed=config.seed)  # fmt: skip
            fun = T.flat_loss(task)
            g_fn, h_fn = (grad(fun), hessian(fun)) if task.bias else T.flat_derivatives(task)
            theta = T.initial_parameters(task, np.random.default_rng(0))
            h_fn(theta)  # warm-up (the first call pays one-off set-up costs)
            t_iter, t_grad = [], []
            for _ in range(3):
                t0 = time.perf_counter()
                torch.linalg.eigh(h_fn(theta))
                t1 = time.perf_counter()
                g_fn(theta)
                t2 = time.perf_counter()
                t_iter.append(t1 - t0 + 2 * (t2 - t1))
                t_grad.append(t2 - t1)
            per_phi[phi] = (min(t_iter), min(t_grad))
    finally:
        torch.set_num_threads(previous_threads)
    lo, hi = config.gd_steps_min, config.gd_steps_max
    mean_gd = (hi - lo) / math.log((1 + hi) / (1 + lo)) if hi > lo else float(hi)
    total = 0.0
    for kind, phi, _ in planned_searches(config):
        t_iter, t_grad = per_phi[phi]
        iters = MEAN_SEARCH_ITERATIONS if kind == "critical" else config.min_max_iter + 50
        total += t_iter * iters + t_grad * mean_gd + SEARCH_OVERHEAD_SECONDS
    return total


def _key(kind: str, phi: float, seed: int) -> str:
    return f"{kind}_phi{phi:.6g}_seed{seed}".replace(".", "p")  # no dots: not a suffix


def run(
    config: Config,
    out: str | Path,
    *,
    progress: bool = False,
    log: Any = None,
) -> dict[str, Any]:
    """Run (or resume) the experiment into ``out``; returns the summary dict."""
    _validate(config)
    previous_threads = torch.get_num_threads()
    # the matrices are tiny: extra intra-op threads only add overhead (4x slower measured with
    # 2 threads on a shared 2-core machine), so the run uses ``config.threads`` (default 1)
    torch.set_num_threads(config.threads)
    try:
        return _run(config, Path(out), progress=progress, log=log)
    finally:
        torch.set_num_threads(previous_threads)


def _run(config: Config, out: Path, *, progress: bool, log: Any) -> dict[str, Any]:
    torch_threads = torch.get_num_threads()
    ckpt = out / "checkpoints"
    ckpt.mkdir(parents=True, exist_ok=True)
    plan = planned_searches(config)
    tasks: dict[float, T.MemorisationTask] = {}
    records: list[PointRecord] = []
    iterator: Any = plan
    if progress:
        from tqdm import tqdm

        iterator = tqdm(plan, desc="critical-point searches", unit="search", file=sys.stderr)
    t_start = time.perf_counter()
    resumed = 0
    for kind, phi, seed in iterator:
        stem = ckpt / _key(kind, phi, seed)
        rec = None
        if (ckpt / f"{stem.name}.json").exists():
            try:
                rec = PointRecord.load(stem)
            except Exception:  # a damaged checkpoint is recomputed
                rec = None
            if rec is not None and rec.config_key != config.key():
                rec = None
            resumed += rec is not None
        if rec is None:
            if phi not in tasks:
                tasks[phi] = T.make_task(phi, width=config.width, n_in=config.n_in,
                                         n_out=config.n_out, bias=config.bias,
                                         seed=config.seed)  # fmt: skip
            rec = _run_search(tasks[phi], config, kind, seed)
            rec.save(stem)
        records.append(rec)
    summary = summarize(records, config)
    summary["run"] = {
        "seconds": time.perf_counter() - t_start,
        "resumed_searches": resumed,
        "torch_threads": torch_threads,
    }
    atomic_write_json(out / "summary.json", summary)
    figs = _figures(records, config, summary)
    _write_figures_and_report(out, figs, summary, records, config)
    if log is not None:
        log(f"wrote {out / 'summary.json'} and {out / 'report.html'}")
    return summary


def distinct_points(kept: list[PointRecord], rtol: float = 1e-8) -> list[PointRecord]:
    """The kept points less repeats: a point whose phi and index equal those of an earlier one
    and whose energy agrees to ``rtol`` is the same critical point up to the network's symmetries
    (hidden-unit permutations and sign flips), found again from another start. Repeats would
    weigh one point several times in the exponent fit."""
    out: list[PointRecord] = []
    for r in kept:
        if not any(
            q.phi_target == r.phi_target
            and q.index_count == r.index_count
            and abs(q.energy - r.energy) <= rtol * max(abs(r.energy), 1e-300)
            for q in out
        ):
            out.append(r)
    return out


def summarize(records: list[PointRecord], config: Config) -> dict[str, Any]:
    """The content of ``summary.json``."""
    crit = [r for r in records if r.search == "critical"]
    kept = [r for r in crit if r.accepted]
    distinct = distinct_points(kept)
    mins = [r for r in records if r.search == "minimum"]
    groups = {}
    theory_groups = {}
    per_phi = []
    for phi_t in config.phis:
        rs = [r for r in crit if r.phi_target == phi_t]
        ks = [r for r in distinct if r.phi_target == phi_t]
        per_phi.append(
            {
                "phi_target": phi_t,
                "phi": rs[0].phi if rs else phi_t,
                "n_searches": len(rs),
                "n_kept": sum(r.accepted for r in rs),
                "n_distinct": len(ks),
                "success_rate": (sum(r.accepted for r in rs) / len(rs)) if rs else None,
                "energy_range": [min(r.energy for r in ks), max(r.energy for r in ks)]
                if ks
                else None,
                "index_counts": sorted({r.index_count for r in ks}),
                "n_fit": sum(0 < r.index <= config.alpha_max for r in ks),
            }
        )
        pts = [r for r in distinct if r.phi_target == phi_t and 0 < r.index <= config.alpha_max]
        groups[phi_t] = (np.array([r.energy for r in pts]), np.array([r.index for r in pts]))
        theory_groups[phi_t] = (
            np.array([r.energy for r in pts]),
            np.array([r.alpha_theory for r in pts]),
        )
    fit = fit_power_law(groups, bootstrap=config.bootstrap, seed=config.seed)
    fit_zero = fit_power_law(groups, bootstrap=config.bootstrap, seed=config.seed, eps0="zero")
    fit_theory = fit_power_law(theory_groups, bootstrap=0, seed=config.seed)
    minimisers = []
    for phi_t in config.min_phis:
        rs = [r for r in mins if r.phi_target == phi_t]
        ok = [r for r in rs if r.accepted]
        phi = rs[0].phi if rs else phi_t
        energies = [r.energy for r in ok]
        lowest = min(rs, key=lambda r: r.energy) if rs else None
        minimisers.append(
            {
                "phi_target": phi_t,
                "phi": phi,
                "n_searches": len(rs),
                "n_minimisers": len(ok),
                "energies": energies,
                "min_energy": min(energies) if energies else None,
                "mean_energy": float(np.mean(energies)) if energies else None,
                "paper_curve": (1 - phi) ** 2 / 2,
                # not necessarily a critical point: minimisation often runs off to infinity
                # (saturating tanh units, |theta| growing while L creeps down)
                "lowest_energy_reached": lowest.energy if lowest else None,
                "lowest_reached_theta_norm": float(np.linalg.norm(lowest.theta))
                if lowest
                else None,
                "lowest_reached_is_critical": bool(lowest.accepted) if lowest else None,
            }
        )
    return to_jsonable(
        {
            "experiment": "pennington-bahri",
            "mode": "quick" if config.quick else "full",
            "config": dataclasses.asdict(config),
            "config_key": config.key(),
            "conventions": T.task_conventions() | {"theory": theory.CONVENTIONS},
            "n_searches": len(crit),
            "n_kept": len(kept),
            "n_distinct": len(distinct),
            "success_rate": len(kept) / len(crit) if crit else None,
            "per_phi": per_phi,
            "stop_reasons": {
                reason: sum(r.reason.split(":")[0] == reason for r in crit)
                for reason in sorted({r.reason.split(":")[0] for r in crit})
            },
            "accept_gtol": config.accept_gtol,
            "max_grad_norm_kept": max((r.grad_norm for r in kept), default=None),
            "exponent": fit | {"expected": 1.5, "alpha_max": config.alpha_max},
            "exponent_eps0_zero": fit_zero | {"expected": 1.5, "alpha_max": config.alpha_max},
            "exponent_theory_at_same_energies": fit_theory,
            "minimisers": minimisers,
            "critical_points": [r.row() for r in records],
            "max_relative_h_minus_h0_h1": max(
                (r.h_minus_h0_h1 for r in records if r.accepted), default=None
            ),
            "meta": dataclasses.asdict(
                Metadata.create(seed=config.seed, dtype="float64", conventions=T.task_conventions())
            ),
        }
    )


def _write_figures_and_report(
    out: Path,
    figs: dict[str, Any],
    summary: dict[str, Any],
    records: list[PointRecord],
    config: Config,
) -> None:
    import io

    import matplotlib.pyplot as plt

    from hessrmt.report.html import Section, Table, write_report

    fig_dir = out / "figures"
    for name, fig in figs.items():
        buf = io.BytesIO()
        fig.savefig(buf, format="png", dpi=110, bbox_inches="tight")
        atomic_write_bytes(fig_dir / f"{name}.png", buf.getvalue())
    ex = summary["exponent"]
    gamma = "n/a" if ex["gamma"] is None else f"{ex['gamma']:.3g}"
    interval = ex.get("interval")
    sections = [
        Section(
            "Theory: density of H0 + H1",
            html="<p>H0 Marchenko-Pastur (ratio phi, mean 1) free-plus a semicircle of variance "
            "2 eps (H1); density from the cubic 2 eps phi G^3 - (2 eps + z phi) G^2 + "
            "(z - 1 + phi) G - 1 = 0.</p>",
            figures=[("Theoretical densities for phi in {1/4, 1/2, 3/4}", figs["densities"])],
        ),
        Section(
            "Index against energy",
            html=f"<p>{summary['n_kept']} of {summary['n_searches']} searches ended at a "
            f"critical point (|grad L| &le; {config.accept_gtol:g} and Newton step &le; "
            f"{config.accept_xtol:g}), {summary['n_distinct']} of them distinct; the others "
            "stopped in gradient-flat regions (grad L nearly in the kernel of H: tanh units "
            "drifting to saturation or to the linear regime, where the nearest critical point is "
            "at infinity; Frye et al. 2021) or on slopes flattening towards infinity (tiny "
            f"gradient, long Newton step); stop reasons: {summary['stop_reasons']}. "
            f"Fitted exponent gamma = {gamma} (95 % bootstrap interval {interval}; "
            f"{ex['n_points']} distinct saddles with 0 &lt; alpha &le; {config.alpha_max}; "
            "alpha = c_phi (eps - eps0_phi)^gamma with a free threshold eps0_phi per phi, as "
            "the paper fits its data with a fitted critical energy); the 3/2 law predicts 1.5. "
            "The critical points lie far above the theory's eps_c (their energies are near "
            "those of the minimisers, which the H0 + H1 model puts at alpha &gt; 0), so the "
            "fit probes the growth of alpha above the empirical threshold eps0, not the "
            "theory's edge; the same fit applied to the theory's alpha at the same energies "
            "(summary: exponent_theory_at_same_energies) shows how far from the 3/2 regime the "
            "theory is there. Theory curves use the raw energy as eps; the table also gives the "
            "theory at eps_eff = var(H1) / (2 mean(H0)^2), the energy at which the model's "
            "H1/H0 scale ratio matches the measured one. Caveats: the paper's phi convention "
            "(here P / (m n_out)) and loss normalisation are unverified against its text.</p>",
            figures=[
                ("alpha vs eps: theory (lines) and critical points (dots)", figs["index_vs_energy"])
            ],
            tables=[
                Table(
                    "Kept critical points",
                    [
                        "phi",
                        "energy",
                        "index",
                        "|grad L|",
                        "Newton step",
                        "eps_eff",
                        "alpha theory(eps)",
                        "alpha theory(eps_eff)",
                    ],
                    [
                        [
                            r.phi,
                            r.energy,
                            r.index,
                            r.grad_norm,
                            r.newton_step,
                            r.eps_eff,
                            r.alpha_theory,
                            r.alpha_theory_eff,
                        ]
                        for r in records
                        if r.accepted and r.search == "critical"
                    ],
                )
            ],
        ),
        Section(
            "Energy of minimisers",
            figures=[("Minimiser energy against phi", figs["minimiser_energy"])],
            tables=[
                Table(
                    "Minimisers",
                    ["phi", "found", "min energy", "mean energy", "(1 - phi)^2 / 2"],
                    [
                        [
                            m["phi"],
                            m["n_minimisers"],
                            m["min_energy"],
                            m["mean_energy"],
                            m["paper_curve"],
                        ]
                        for m in summary["minimisers"]
                    ],
                )
            ],
        ),
    ]
    if "spectra" in figs:
        sections.append(
            Section(
                "Spectra of H0 and H1 at a critical point",
                figures=[("H0 vs MP, H1 vs semicircle, H vs the H0 + H1 theory", figs["spectra"])],
            )
        )
    write_report(
        out / "report.html",
        "Pennington & Bahri (ICML 2017): Hessians at critical points",
        sections,
        meta={
            "config": summary["config"],
            "conventions": summary["conventions"],
            "run": summary.get("run", {}),
        },
    )
    for fig in figs.values():
        plt.close(fig)
