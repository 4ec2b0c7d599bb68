"""One critical-point search or minimisation of the memorisation task, and the spectra at the
point found (the checkpointed unit of the run).

A search (:func:`run_search`): a random start (weights N(0, s^2 / fan_in), s ~ U(init_scale)),
a log-uniform random number of full-batch gradient-descent steps (so that starts, hence critical
points, span many energies down to near the minimisers), then
:func:`.critical_points.find_critical_point` (Levenberg-Marquardt on |grad L|^2 with exact
float64 Hessians, the paper's method) or :func:`.critical_points.find_minimum`. A critical-point
search that stalls at a point that is not critical is continued by eigenvector following
towards the index it reached (:func:`.critical_points.find_critical_point_of_index`; config
``rescue_*``; ``finder`` = "lm+ef" in the record when that yields the point). Kinds ending in
``_wd`` do the same on L + (lam / 2)|theta|^2 (:func:`.task.with_weight_decay`).

A point is kept only when |grad| <= ``accept_gtol`` AND its Newton step <= ``accept_xtol``
(a small gradient on a slope that flattens towards infinity is not a critical point) AND its
Hessian has no numerically exact zero mode (saturated units whose gradient underflows; a point at
infinity that float64 cannot tell from a critical point); minimisers must moreover have index 0.

At a kept point the spectra of H, H0 (Gauss-Newton) and H1 (residual) of the data loss L come
from :mod:`hessrmt.curvature` (``HessianOperator``, ``GGNOperator``, ``ResidualOperator``); the
index alpha is the fraction of negative eigenvalues of the searched objective's Hessian
(H, or H + lam I for the variant). It is compared with the theory (a) the paper's way,
alpha(eps, phi) at the raw energy eps = L; (b) at the effective energy
eps_eff = var(H1) / (2 mean(H0)^2), the energy at which the model's H1/H0 scale ratio matches the
measured one (the theory's units: H0 mean 1, H1 variance 2 eps); (c) as the index of the
network's own H0 spectrum free-plus a semicircle with H1's measured mean and variance
(:func:`hessrmt.rmt.pennington_bahri.index_free_sum`), which tests the freeness / semicircle
assumptions alone.
"""

from __future__ import annotations

import dataclasses
import math
import time
from typing import Any

import numpy as np
import torch

from hessrmt.results import Metadata, Result
from hessrmt.rmt import pennington_bahri as theory

from . import task as T
from .config import Config, weight_decay_of
from .critical_points import (
    CriticalPointSearch,
    find_critical_point,
    find_critical_point_of_index,
    find_minimum,
)

#: Hessian eigenvalues with |l| <= ZERO_MODE_RTOL max|l| count as exact zero modes (none at the
#: kept critical points of the quick and width-8 runs: their smallest |l| / max|l| >= 3e-7; 4-13 at
#: the runaway "minima" with |theta| ~ 100-1300, whose smallest are ~1e-15).
ZERO_MODE_RTOL = 1e-10
#: Monte Carlo draws of :func:`hessrmt.rmt.pennington_bahri.index_free_sum` per kept point.
FREE_SUM_SAMPLES = 4


@dataclasses.dataclass(frozen=True)
class PointRecord(Result):
    """One search and, when kept, the spectra at the point (energy = data loss L)."""

    kind = "pennington_bahri_point"

    search: str  # one of config.KINDS
    weight_decay: float
    phi_target: float
    phi: float
    seed: int
    n_params: int
    n_data: int
    start_energy: float
    init_scale: float
    gd_steps: int
    energy: float
    objective: float
    grad_norm: float
    newton_step: float
    gradient_flatness: float
    zero_modes: int
    theta_norm: float
    saturated_fraction: float
    converged: bool
    accepted: bool
    iterations: int
    reason: str
    index_count: int
    index: float
    index_finder: int
    h_minus_h0_h1: float
    h0_mean: float
    h1_mean: float
    h1_variance: float
    eps_eff: float
    alpha_theory: float
    alpha_theory_eff: float
    alpha_free: float
    alpha_free_se: float
    seconds: float
    config_key: str
    theta: np.ndarray
    eig_h: np.ndarray
    eig_h0: np.ndarray
    eig_h1: np.ndarray
    grad_norm_history: np.ndarray
    finder: str = "lm"
    meta: Metadata = dataclasses.field(default_factory=Metadata)

    @property
    def is_critical_search(self) -> bool:
        return self.search.startswith("critical")

    def row(self) -> dict[str, Any]:
        """The per-point entry of ``summary.json``."""
        keep = (
            "search weight_decay phi seed energy objective index index_count grad_norm "
            "newton_step theta_norm saturated_fraction zero_modes gradient_flatness accepted "
            "iterations h0_mean h1_mean h1_variance eps_eff alpha_theory alpha_theory_eff "
            "alpha_free alpha_free_se reason finder"
        ).split()
        return {k: getattr(self, k) for k in keep}


def spectra(task: T.MemorisationTask, theta: np.ndarray) -> dict[str, Any]:
    """Eigenvalues of H, H0 = GGN and H1 = residual of the data loss from hessrmt.curvature."""
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


def _start(task: T.MemorisationTask, config: Config, rng: np.random.Generator, grad_fn: Any):
    init_scale = float(rng.uniform(*config.init_scale))
    theta = T.initial_parameters(task, rng, scale=init_scale)
    lo, hi = np.log1p(config.gd_steps_min), np.log1p(config.gd_steps_max)
    gd_steps = int(np.rint(np.expm1(rng.uniform(lo, hi))))
    for _ in range(gd_steps):
        theta = theta - config.gd_lr * grad_fn(theta)
    return theta, init_scale, gd_steps


def _find(config: Config, critical: bool, theta: torch.Tensor, fun, g, h) -> CriticalPointSearch:
    if critical:
        return find_critical_point(
            fun,
            theta,
            gtol=config.gtol,
            xtol=config.accept_xtol,
            max_iter=config.max_iter,
            stall_window=config.stall_window,
            grad_fn=g,
            hess_fn=h,
        )
    return find_minimum(
        fun,
        theta,
        gtol=config.gtol,
        xtol=config.accept_xtol,
        max_iter=config.min_max_iter,
        grad_fn=g,
        hess_fn=h,
    )


def _zero_modes(res: CriticalPointSearch) -> int:
    l_abs = np.abs(res.hessian_eigenvalues)
    return int(np.sum(l_abs <= ZERO_MODE_RTOL * l_abs.max())) if l_abs.size else 0


def is_critical(res: CriticalPointSearch, config: Config) -> bool:
    """The acceptance test of a critical point: |grad| <= ``accept_gtol``, Newton step <=
    ``accept_xtol``, no exact Hessian zero mode and a finite value (module docstring)."""
    return bool(
        res.grad_norm <= config.accept_gtol
        and res.newton_step <= config.accept_xtol
        and _zero_modes(res) == 0
        and math.isfinite(res.value)
    )


def _rescue(
    config: Config, res: CriticalPointSearch, fun, g, h
) -> tuple[CriticalPointSearch, bool]:
    """Eigenvector following from a stalled |grad L|^2 search's end point towards a critical
    point of the index it reached (:func:`.critical_points.find_critical_point_of_index`):
    (its result, True) when that passes :func:`is_critical`, else (the stalled search, with
    the rescue's stop reason appended, False)."""
    if config.rescue_iter < 1 or not np.all(np.isfinite(res.x)):
        return res, False
    ef = find_critical_point_of_index(
        fun,
        res.x,
        res.index,
        radius=config.rescue_radius,
        max_iter=config.rescue_iter,
        max_growth=config.rescue_growth,
        gtol=config.gtol,
        xtol=config.accept_xtol,
        grad_fn=g,
        hess_fn=h,
    )
    if is_critical(ef, config):
        return ef, True
    return dataclasses.replace(res, reason=f"{res.reason}; then {ef.reason}"), False


def run_search(task: T.MemorisationTask, config: Config, search: str, seed: int) -> PointRecord:
    """One seeded search of kind ``search`` (see the module docstring); never raises on a
    failed search (it is recorded with ``accepted = False`` and its stop reason)."""
    t0 = time.perf_counter()
    lam = weight_decay_of(config, search)
    # the start depends on (master seed, search seed, phi) only: both series start alike
    rng = np.random.default_rng([config.seed, seed, round(1e6 * task.phi_target), 7])
    loss = T.flat_loss(task)
    g0, h0 = T.flat_derivatives(task) if not task.bias else (None, None)
    fun, g, h = T.with_weight_decay(loss, g0, h0, lam)
    if g is None:
        from torch.func import grad

        g = grad(fun)
    theta, init_scale, gd_steps = _start(task, config, rng, g)
    start_energy = float(loss(theta))
    res = _find(config, search.startswith("critical"), theta, fun, g, h)
    accepted = is_critical(res, config)
    finder = "lm" if search.startswith("critical") else "minimise"
    if search.startswith("critical") and not accepted:
        rescued, ok = _rescue(config, res, fun, g, h)
        if ok:
            history = np.concatenate([res.grad_norm_history, rescued.grad_norm_history[1:]])
            res = dataclasses.replace(
                rescued,
                iterations=res.iterations + rescued.iterations,
                grad_norm_history=history,
                reason=f"{res.reason.split(':')[0]}, then a critical point by {rescued.reason}",
            )
            accepted, finder = True, "lm+ef"
        else:
            res = rescued
    zero_modes = _zero_modes(res)
    if search.startswith("minimum"):
        accepted = accepted and res.index == 0
    nan = float("nan")
    eig = {"h": np.empty(0), "h0": np.empty(0), "h1": np.empty(0)}
    idx_count, idx, err = 0, nan, nan
    h0m = h1m = h1v = eps_eff = a_raw = a_eff = a_free = a_free_se = nan
    energy = float(loss(torch.as_tensor(res.x)))
    if accepted:
        sp = spectra(task, res.x)
        eig, err = sp["eig"], sp["h_minus_h0_h1"]
        h_obj = eig["h"] + lam  # Hessian of the searched objective
        idx_count = int(np.sum(h_obj < -1e-10 * float(np.max(np.abs(h_obj)))))
        idx = idx_count / task.n_params
        h0m = float(np.mean(eig["h0"]))
        h1m = float(np.mean(eig["h1"]))
        h1v = float(np.mean((eig["h1"] - h1m) ** 2))
        eps_eff = h1v / (2.0 * h0m**2)
        a_raw = theory.index(max(energy, 0.0), task.phi)
        a_eff = theory.index(eps_eff, task.phi)
        free_rng = np.random.default_rng([config.seed, seed, round(1e6 * task.phi_target), 11])
        a_free, a_free_se = theory.index_free_sum(
            eig["h0"] + lam, h1v, h1_mean=h1m, samples=FREE_SUM_SAMPLES, rng=free_rng
        )
    return PointRecord(
        search=search,
        weight_decay=lam,
        phi_target=task.phi_target,
        phi=task.phi,
        seed=seed,
        n_params=task.n_params,
        n_data=task.n_data,
        start_energy=start_energy,
        init_scale=init_scale,
        gd_steps=gd_steps,
        energy=energy,
        objective=res.value,
        grad_norm=res.grad_norm,
        newton_step=res.newton_step,
        gradient_flatness=res.gradient_flatness,
        zero_modes=zero_modes,
        theta_norm=float(np.linalg.norm(res.x)),
        saturated_fraction=T.saturated_fraction(task, res.x) if not task.bias else nan,
        converged=res.converged,
        accepted=accepted,
        iterations=res.iterations,
        reason=res.reason,
        index_count=idx_count,
        index=idx,
        index_finder=res.index,
        h_minus_h0_h1=err,
        h0_mean=h0m,
        h1_mean=h1m,
        h1_variance=h1v,
        eps_eff=eps_eff,
        alpha_theory=a_raw,
        alpha_theory_eff=a_eff,
        alpha_free=a_free,
        alpha_free_se=a_free_se,
        seconds=time.perf_counter() - t0,
        config_key=config.key(),
        theta=res.x,
        eig_h=eig["h"],
        eig_h0=eig["h0"],
        eig_h1=eig["h1"],
        grad_norm_history=res.grad_norm_history,
        finder=finder,
        meta=Metadata.create(
            seed=config.seed,
            dtype="float64",
            conventions=task.conventions() | {"weight_decay": lam},
        ),
    )


def distinct_points(kept: list[PointRecord], rtol: float = 1e-8) -> list[PointRecord]:
    """The kept points less repeats: a point of the same search kind whose phi and index equal
    those of an earlier one and whose energy agrees to ``rtol`` is the same critical point up to
    the network's symmetries (hidden-unit permutations and sign flips), found again from another
    start. Repeats would weigh one point several times in the exponent fit."""
    out: list[PointRecord] = []
    for r in kept:
        if not any(
            q.search == r.search
            and q.phi_target == r.phi_target
            and q.index_count == r.index_count
            and abs(q.energy - r.energy) <= rtol * max(abs(r.energy), 1e-300)
            for q in out
        ):
            out.append(r)
    return out
