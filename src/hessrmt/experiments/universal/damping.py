"""Damped Newton with naive and local-law damping (paper 4's practical consequence).

Softmax regression on digits (P = 650, exact float64 Hessians through the closed form): each step
takes a batch of b samples, its gradient g_b and Hessian H_b, and moves theta <- theta - lr (H_b +
delta I)^{-1} g_b. Two arms from the same initialisations and batch sequences:

* **naive**: delta = target (the damping one "sets"), target = ``target_over_noise`` x s(b), the
  batch-noise scale measured at initialisation (so the target sits where the noise matters);
* **local law**: delta chosen so that the effective damping delta' = -omega(-delta) of the true
  Hessian's outlier directions equals the target (:class:`hessrmt.rmt.local_law.DeformedModel`
  with the full-data Hessian's non-outlier eigenvalues at initialisation as the bulk and a
  semicircle of the measured batch-noise variance s(b)^2), i.e. the damping the true Hessian
  feels is the target.

Reported: the full-data training loss after every step, mean and standard error over seeds per
arm, and the final difference (local law minus naive) with its standard error (paired by seed).

The steps' solves (H_b + delta I) x = g_b are dense (``numpy.linalg.solve``) while P is at most
``dense_max_params``, and above it matrix-free, by MINRES with Hessian-vector products only
(:func:`hessrmt.curvature.shifted_minres`, relative residual ``solve_rtol``; the largest true
residual and the number of steps whose solve missed 10 x ``solve_rtol`` are recorded under
``solver``: such a step still takes MINRES's minimum-residual iterate). The set-up at
initialisation (A's spectrum, the noise scale) uses dense P x P matrices either way: the model is
fixed at P = 650.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import scipy.optimize
import torch

from hessrmt.errors import InputError
from hessrmt.rmt.laws import Semicircle
from hessrmt.rmt.local_law import DeformedModel

from .networks import compress_law, mean_se


def _hessian(model: torch.nn.Module, X: torch.Tensor, y: torch.Tensor) -> np.ndarray:
    from hessrmt.curvature import HessianOperator, dense_matrix

    op = HessianOperator(model, torch.nn.CrossEntropyLoss(), [(X, y)], dtype=torch.float64)
    M = dense_matrix(op)
    return M.detach().numpy()


def _flat_grad(
    model: torch.nn.Module, X: torch.Tensor, y: torch.Tensor
) -> tuple[float, np.ndarray]:
    model.zero_grad()
    loss = torch.nn.functional.cross_entropy(model(X), y)
    loss.backward()
    g = torch.cat([p.grad.reshape(-1) for p in model.parameters()])
    return float(loss.detach()), g.detach().numpy()


def _set_flat(model: torch.nn.Module, theta: np.ndarray) -> None:
    with torch.no_grad():
        i = 0
        for p in model.parameters():
            n = p.numel()
            p.copy_(torch.as_tensor(theta[i : i + n]).reshape(p.shape))
            i += n


def _minres_step(
    model: torch.nn.Module,
    X: torch.Tensor,
    y: torch.Tensor,
    g: np.ndarray,
    delta: float,
    rtol: float,
) -> tuple[np.ndarray, float]:
    """(H_b + delta I)^{-1} g by MINRES with Hessian-vector products; (step, true residual)."""
    from hessrmt.curvature import HessianOperator, shifted_minres

    op = HessianOperator(model, torch.nn.CrossEntropyLoss(), [(X, y)], dtype=torch.float64)
    sol = shifted_minres(op, g, [delta], rtol=rtol)
    return sol.solutions[0, :, 0].numpy().copy(), float(sol.residuals[0, 0])


def local_law_damping(model: DeformedModel, target: float) -> float:
    """The delta whose effective damping -omega(-delta) equals ``target``."""
    lo = -model.support()[0] * (1 + 1e-6) + 1e-9
    if model.effective_damping(lo)[0] >= target:
        raise InputError(
            f"target effective damping {target:g} is below what any admissible delta gives "
            f"({model.effective_damping(lo)[0]:.4g}); raise the target"
        )
    hi = max(2 * target, lo * 2)
    while model.effective_damping(hi)[0] < target:
        hi *= 2
    return float(
        scipy.optimize.brentq(lambda d: model.effective_damping(d)[0] - target, lo, hi, xtol=1e-12)
    )


def run_damped_newton(
    *,
    seeds: int = 3,
    steps: int = 15,
    batch_size: int = 32,
    target_over_noise: float = 3.0,
    lr: float = 1.0,
    n_noise_batches: int = 4,
    seed: int = 0,
    dense_max_params: int | None = None,
    solve_rtol: float = 1e-10,
) -> dict[str, Any]:
    """Run both arms (module docstring); JSON-able dict. ``dense_max_params``: above this P
    the steps are solved by MINRES (None: always dense)."""
    from hessrmt.data import load_dataset
    from hessrmt.nn.data import to_tensors
    from hessrmt.nn.zoo import build_model

    data = load_dataset("digits", seed=seed)
    X, y = to_tensors(data, split="train", dtype=torch.float64)
    n = X.shape[0]
    curves: dict[str, list[list[float]]] = {"naive": [], "local_law": []}
    n_params = 0
    method = "dense"
    residuals: list[float] = []
    deltas, targets = [], []
    for s in range(seeds):
        model = build_model(
            "logreg", input_shape=data.input_shape, n_outputs=data.n_outputs, seed=seed + s
        )
        theta0 = torch.cat([p.detach().reshape(-1) for p in model.parameters()]).numpy().copy()
        n_params = theta0.size
        if dense_max_params is not None and n_params > dense_max_params:
            method = "minres"
        gen = np.random.default_rng(seed + 1000 + s)
        A = _hessian(model, X, y)
        a_eigs = np.linalg.eigvalsh(A)
        r = data.n_outputs - 1
        scales = []
        for _ in range(n_noise_batches):
            idx = torch.as_tensor(gen.choice(n, size=batch_size, replace=False))
            xe = np.linalg.eigvalsh(_hessian(model, X[idx], y[idx]) - A)
            scales.append(np.sqrt((xe**2).mean()))
        noise = float(np.mean(scales))
        target = target_over_noise * noise
        dm = DeformedModel(compress_law(a_eigs[:-r], 400), Semicircle(noise**2))
        delta_local = local_law_damping(dm, target)
        targets.append(target)
        deltas.append(delta_local)
        batches = [gen.choice(n, size=batch_size, replace=False) for _ in range(steps)]
        for arm, delta in (("naive", target), ("local_law", delta_local)):
            _set_flat(model, theta0)
            theta = theta0.copy()
            with torch.no_grad():
                curve = [float(torch.nn.functional.cross_entropy(model(X), y))]
            for idx in batches:
                ti = torch.as_tensor(idx)
                _, g = _flat_grad(model, X[ti], y[ti])
                if method == "minres":
                    step, res = _minres_step(model, X[ti], y[ti], g, delta, solve_rtol)
                    residuals.append(res)
                else:
                    H = _hessian(model, X[ti], y[ti])
                    step = np.linalg.solve(H + delta * np.eye(H.shape[0]), g)
                theta = theta - lr * step
                _set_flat(model, theta)
                with torch.no_grad():
                    curve.append(float(torch.nn.functional.cross_entropy(model(X), y)))
            curves[arm].append(curve)
    out: dict[str, Any] = {
        "model": f"logreg on digits (P = {n_params}), float64, mean cross-entropy",
        "batch_size": batch_size,
        "target_over_noise": target_over_noise,
        "target_effective_damping": mean_se(targets)[0],
        "lr": lr,
        "steps": steps,
        "seeds": seeds,
        "local_law_delta": mean_se(deltas),
        "solver": {"method": method}
        if method == "dense"
        else {
            "method": "minres",
            "reason": f"P = {n_params} > dense_max_params = {dense_max_params}",
            "rtol": solve_rtol,
            "max_residual": max(residuals) if residuals else None,
            "unconverged_steps": int(sum(r > 10 * solve_rtol for r in residuals)),
            "steps": len(residuals),
        },
    }
    for arm, c in curves.items():
        m, se = mean_se(np.array(c))
        out[arm] = {"loss_mean": m, "loss_se": se}
    diff = np.array(curves["local_law"])[:, -1] - np.array(curves["naive"])[:, -1]
    out["final_difference"] = mean_se(diff)
    return out
