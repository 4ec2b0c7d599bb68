"""Critical points of a smooth function by damped Newton with exact float64 Hessians.

Two searches, both on a function ``fun: R^P -> R`` given as a torch function of a flat float64
vector (its gradient and Hessian come from :mod:`torch.func`; meant for P up to a few thousand):

* :func:`find_critical_point` finds a zero of the gradient of ANY index by minimising
  ``q(x) = |grad f(x)|^2 / 2`` with Levenberg-Marquardt on the residual r(x) = grad f(x), whose
  Jacobian is the symmetric Hessian H:

      delta = -(H^2 + lam I)^{-1} H r = -Q diag(l_i / (l_i^2 + lam)) Q^T r,   H = Q diag(l) Q^T,

  with lam scaled by max l_i^2, decreased after an accepted step (q drops) and increased after a
  rejected one; one eigendecomposition per iteration serves every lam tried. Near a
  non-degenerate critical point lam -> 0 and this is Newton's method (quadratic convergence), so
  the gradient norm goes down to round-off. (Newton-type minimisation of |grad L|^2 as in
  Pennington & Bahri 2017 and Dauphin et al. 2014; LM damping: More 1978.)
* :func:`find_minimum` minimises f itself with the "saddle-free" damped Newton step
  delta = -Q diag(1 / (|l_i| + lam)) Q^T g (accepted when f drops), then polishes the point with
  :func:`find_critical_point` so that its gradient norm is tiny.

A search can end at a local minimum of |grad f|^2 that is not a critical point (H r = 0 with
r != 0); ``converged`` is then False and the caller should discard the point. The index is the
number of Hessian eigenvalues below ``-index_rtol * max |l_i|`` at the final point.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable

import numpy as np
import torch

from hessrmt.errors import InputError

TorchFun = Callable[[torch.Tensor], torch.Tensor]


@dataclasses.dataclass(frozen=True)
class CriticalPointSearch:
    """Outcome of one search.

    Attributes:
        x: the final point (float64 NumPy vector).
        value: f(x).
        grad_norm: Euclidean norm of grad f(x).
        index: number of Hessian eigenvalues < -index_rtol * max |eigenvalue| (count).
        index_fraction: index / P.
        hessian_eigenvalues: eigenvalues of the exact Hessian at x (ascending).
        converged: grad_norm <= gtol.
        iterations: Newton iterations used.
        grad_norm_history: gradient norm after each iteration (the first entry is at x0).
        reason: why the search stopped.
    """

    x: np.ndarray
    value: float
    grad_norm: float
    index: int
    index_fraction: float
    hessian_eigenvalues: np.ndarray
    converged: bool
    iterations: int
    grad_norm_history: np.ndarray
    reason: str


def _as_start(x0: torch.Tensor | np.ndarray) -> torch.Tensor:
    x = torch.as_tensor(np.asarray(x0) if not isinstance(x0, torch.Tensor) else x0)
    x = x.detach().to(torch.float64).clone()
    if x.ndim != 1 or x.numel() == 0:
        raise InputError(f"the starting point must be a non-empty 1-D vector, got {tuple(x.shape)}")
    if not torch.isfinite(x).all():
        raise InputError("the starting point has non-finite entries")
    return x


def _check_options(gtol: float, max_iter: int) -> None:
    if not (gtol > 0 and math.isfinite(gtol)):
        raise InputError(f"gtol must be a positive number, got {gtol}")
    if int(max_iter) != max_iter or max_iter < 1:
        raise InputError(f"max_iter must be a positive integer, got {max_iter}")


def _result(
    fun: TorchFun,
    x: torch.Tensor,
    evals: torch.Tensor,
    gnorm: float,
    history: list[float],
    gtol: float,
    iterations: int,
    reason: str,
    index_rtol: float,
) -> CriticalPointSearch:
    scale = float(evals.abs().max()) if evals.numel() else 0.0
    index = int((evals < -index_rtol * scale).sum())
    return CriticalPointSearch(
        x=x.numpy().copy(),
        value=float(fun(x)),
        grad_norm=float(gnorm),
        index=index,
        index_fraction=index / x.numel(),
        hessian_eigenvalues=evals.numpy().copy(),
        converged=bool(gnorm <= gtol),
        iterations=iterations,
        grad_norm_history=np.asarray(history, dtype=float),
        reason=reason,
    )


def find_critical_point(
    fun: TorchFun,
    x0: torch.Tensor | np.ndarray,
    *,
    gtol: float = 1e-10,
    max_iter: int = 200,
    damping: float = 1e-4,
    index_rtol: float = 1e-10,
    max_rejections: int = 30,
    stall_window: int | None = 60,
    stall_factor: float = 3.0,
) -> CriticalPointSearch:
    """Find a critical point of ``fun`` near ``x0`` (any index) by LM on grad f = 0.

    Args:
        fun: torch function of a flat float64 vector returning a scalar (twice differentiable).
        x0: starting point.
        gtol: stop when |grad f| <= gtol (the point is then ``converged``).
        max_iter: maximum Newton iterations (one exact Hessian + eigendecomposition each).
        damping: initial lam relative to max eigenvalue^2 of H.
        index_rtol: eigenvalues below -index_rtol * max|eigenvalue| count in the index.
        max_rejections: give up after this many consecutive rejected trial steps.
        stall_window, stall_factor: stop early when |grad f| has not dropped by ``stall_factor``
            over the last ``stall_window`` iterations (a "gradient-flat" region, where H is
            nearly singular along grad f: Frye et al. 2019); None disables the test.
    """
    _check_options(gtol, max_iter)
    from torch.func import grad, hessian

    x = _as_start(x0)
    g_fn, h_fn = grad(fun), hessian(fun)
    r = g_fn(x)
    q = float(r @ r)
    history = [math.sqrt(q)]
    mu = float(damping)
    reason = "max_iter reached"
    it = 0
    while True:
        H = h_fn(x)
        evals, Q = torch.linalg.eigh(0.5 * (H + H.T))  # always those of the final point
        if not torch.isfinite(evals).all():
            reason = "non-finite Hessian"
            break
        if math.sqrt(q) <= gtol:
            reason = "gradient norm below gtol"
            break
        if it >= max_iter:
            break
        it += 1
        rt = Q.T @ r
        scale2 = float((evals**2).max()) or 1.0
        accepted = False
        for _ in range(int(max_rejections)):
            x_new = x - Q @ (evals * rt / (evals**2 + mu * scale2))
            r_new = g_fn(x_new)
            q_new = float(r_new @ r_new)
            if math.isfinite(q_new) and q_new < q:
                x, r, q = x_new, r_new, q_new
                mu = max(mu / 5.0, 1e-16)
                accepted = True
                break
            mu *= 4.0
        history.append(math.sqrt(q))
        if not accepted:
            history.pop()
            reason = "no decrease of |grad f|^2 (stationary point of |grad f|^2?)"
            break
        if (
            stall_window
            and len(history) > stall_window
            and history[-1] > history[-1 - stall_window] / stall_factor
        ):
            reason = f"stalled: |grad f| fell less than {stall_factor:g}x in {stall_window} steps"
            break
    return _result(fun, x, evals, math.sqrt(q), history, gtol, it, reason, index_rtol)


def find_minimum(
    fun: TorchFun,
    x0: torch.Tensor | np.ndarray,
    *,
    gtol: float = 1e-10,
    max_iter: int = 300,
    damping: float = 1e-3,
    index_rtol: float = 1e-10,
    polish_iter: int = 50,
) -> CriticalPointSearch:
    """Minimise ``fun`` by saddle-free damped Newton, then polish with :func:`find_critical_point`.

    The step is -Q diag(1/(|l_i| + lam)) Q^T g with lam = damping x max|l_i|, adapted like LM
    (accepted when f decreases). Stops when |grad f| <= 1e3 gtol and H is positive semi-definite
    (up to ``index_rtol``), then Newton-polishes to |grad f| <= gtol.
    """
    _check_options(gtol, max_iter)
    from torch.func import grad, hessian

    x = _as_start(x0)
    g_fn, h_fn = grad(fun), hessian(fun)
    f = float(fun(x))
    mu = float(damping)
    history = []
    for _ in range(int(max_iter)):
        g = g_fn(x)
        history.append(float(g.norm()))
        H = h_fn(x)
        evals, Q = torch.linalg.eigh(0.5 * (H + H.T))
        scale = float(evals.abs().max()) or 1.0
        if history[-1] <= 1e3 * gtol and bool((evals >= -index_rtol * scale).all()):
            break
        gt = Q.T @ g
        accepted = False
        for _ in range(30):
            step = -(Q @ (gt / (evals.abs() + mu * scale)))
            x_new = x + step
            f_new = float(fun(x_new))
            if math.isfinite(f_new) and f_new < f:
                x, f = x_new, f_new
                mu = max(mu / 5.0, 1e-12)
                accepted = True
                break
            mu *= 4.0
        if not accepted:
            break
    res = find_critical_point(fun, x, gtol=gtol, max_iter=polish_iter, index_rtol=index_rtol)
    history.extend(res.grad_norm_history.tolist())
    return dataclasses.replace(
        res,
        iterations=len(history) - 1,
        grad_norm_history=np.asarray(history, dtype=float),
    )
