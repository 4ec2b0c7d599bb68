"""Critical points of a smooth function by damped Newton with exact float64 Hessians.

Two searches, both on a function ``fun: R^P -> R`` given as a torch function of a flat float64
vector (its gradient and Hessian come from :mod:`torch.func`; meant for P up to a few thousand):

* :func:`find_critical_point` finds a zero of the gradient of ANY index by minimising
  ``q(x) = |grad f(x)|^2 / 2`` with Levenberg-Marquardt on the residual r(x) = grad f(x), whose
  Jacobian is the symmetric Hessian H:

      delta = -(H^2 + lam I)^{-1} H r = -Q diag(l_i / (l_i^2 + lam)) Q^T r,   H = Q diag(l) Q^T,

  with lam adapted by the gain ratio of actual to predicted (Gauss-Newton model) reduction of q
  (Nielsen's rule); one eigendecomposition per iteration serves every lam tried. Near a
  non-degenerate critical point lam -> 0 and this is Newton's method (quadratic convergence), so
  the gradient norm goes down to round-off. (Newton-type minimisation of |grad L|^2 as in
  Pennington & Bahri 2017 and Dauphin et al. 2014; LM damping: More 1978; Madsen, Nielsen &
  Tingleff 2004.) A search that stops making progress is ended early ("stalled"): on neural
  network losses most such searches sit in gradient-flat regions (H g ~ 0, g != 0; Frye et al.,
  Neural Computation 33, 2021), e.g. tanh units drifting towards saturation or towards the
  linear regime, where the nearest critical point is at infinity; the caller restarts elsewhere.
* :func:`find_minimum` minimises f itself with the "saddle-free" damped Newton step
  delta = -Q diag(1 / (|l_i| + lam)) Q^T g (accepted when f drops), then polishes the point with
  :func:`find_critical_point` so that its gradient norm is tiny.

* :func:`find_critical_point_of_index` walks towards a critical point of a chosen index by
  hybrid eigenvector following (no merit function, so not held at minima of |grad f|^2; see
  :func:`eigenvector_following_step`), then polishes with :func:`find_critical_point`. The
  memorisation searches use it to continue the |grad f|^2 searches that stall.

A search can end at a local minimum of |grad f|^2 that is not a critical point (H r = 0 with
r != 0); ``converged`` is then False and the caller should discard the point; its
``gradient_flatness`` |H g| / (max|l| |g|) is recorded. The index is the
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
        converged: grad_norm <= gtol and newton_step <= xtol.
        iterations: Newton iterations used.
        grad_norm_history: gradient norm after each iteration (the first entry is at x0).
        reason: why the search stopped.
        gradient_flatness: |H g| / (max|eigenvalue| |g|) at x (0 when g = 0). Small values mean
            the gradient lies in the near-kernel of H: a "gradient-flat" point (Frye et al.,
            Neural Computation 33, 2021), where |g|^2 is stationary though g != 0.
        newton_step: |d| of the (barely regularised) Newton step
            d = -Q diag(l_i / (l_i^2 + (1e-10 max|l|)^2)) Q^T g at x, an estimate of the distance
            to the critical point. It is tiny at a true critical point and O(1) on a slope that
            flattens exponentially towards infinity (e.g. exp(x), or a saturating tanh unit),
            where |g| can fall below any gtol without a critical point nearby.
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
    gradient_flatness: float = float("nan")
    newton_step: float = float("nan")


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
    r: torch.Tensor,
    evals: torch.Tensor,
    Q: torch.Tensor,
    gnorm: float,
    history: list[float],
    gtol: float,
    iterations: int,
    reason: str,
    index_rtol: float,
    xtol: float,
) -> CriticalPointSearch:
    scale = float(evals.abs().max()) if evals.numel() else 0.0
    step = _newton_step(evals, Q, r)
    index = int((evals < -index_rtol * scale).sum())
    rn = float(r.norm())
    flat = float((evals * (Q.T @ r)).norm()) / (scale * rn) if scale > 0 and rn > 0 else 0.0
    return CriticalPointSearch(
        x=x.numpy().copy(),
        value=float(fun(x)),
        grad_norm=float(gnorm),
        index=index,
        index_fraction=index / x.numel(),
        hessian_eigenvalues=evals.numpy().copy(),
        converged=bool(gnorm <= gtol and step <= xtol),
        iterations=iterations,
        grad_norm_history=np.asarray(history, dtype=float),
        reason=reason,
        gradient_flatness=flat,
        newton_step=step,
    )


def _newton_step(evals: torch.Tensor, Q: torch.Tensor, r: torch.Tensor) -> float:
    """|Q diag(l / (l^2 + (1e-10 max|l|)^2)) Q^T r|: the Newton step length, regularised only
    where |l| < 1e-10 max|l| (there round-off in r would otherwise be amplified without bound)."""
    scale = float(evals.abs().max()) if evals.numel() else 0.0
    if scale == 0.0:
        return 0.0 if float(r.norm()) == 0.0 else float("inf")
    return float((evals / (evals**2 + (1e-10 * scale) ** 2) * (Q.T @ r)).norm())


def find_critical_point(
    fun: TorchFun,
    x0: torch.Tensor | np.ndarray,
    *,
    gtol: float = 1e-10,
    xtol: float = 1e-6,
    max_iter: int = 200,
    damping: float = 1e-3,
    index_rtol: float = 1e-10,
    max_rejections: int = 40,
    stall_window: int | None = 15,
    stall_factor: float = 2.0,
    grad_fn: TorchFun | None = None,
    hess_fn: TorchFun | None = None,
) -> CriticalPointSearch:
    """Find a critical point of ``fun`` near ``x0`` (any index) by LM on grad f = 0.

    Each iteration diagonalises the exact Hessian H = Q diag(l) Q^T at x and tries

        d(mu) = -Q diag(l_i / (l_i^2 + mu)) Q^T r,   r = grad f(x),

    the minimiser of the Gauss-Newton model |r + H d|^2 / 2 + mu |d|^2 / 2 of
    q = |grad f|^2 / 2. The trial is accepted when the gain ratio
    rho = (q(x) - q(x + d)) / (q(x) - |r + H d|^2 / 2) exceeds 1e-4; mu then shrinks by
    max(1/3, 1 - (2 rho - 1)^3) and otherwise grows by nu = 2, 4, 8, ... (Nielsen's rule;
    Madsen, Nielsen & Tingleff, "Methods for non-linear least squares problems", 2004, sec. 3.2).
    With mu -> 0 the step is Newton's, so convergence to a non-degenerate critical point is
    quadratic and |grad f| falls to round-off.

    Args:
        fun: torch function of a flat float64 vector returning a scalar (twice differentiable).
        x0: starting point.
        gtol: stop when |grad f| <= gtol.
        xtol: the point is ``converged`` when moreover the Newton step at it (an estimate of
            the distance to the critical point, in the units of x) is at most xtol (see
            :class:`CriticalPointSearch`; this rejects points on slopes that flatten
            exponentially, where the critical point is at infinity). Absolute, not relative
            to |x|: such slopes are met far out (|x| large), where a relative test is lenient.
        max_iter: maximum accepted steps (one exact Hessian + eigendecomposition each).
        damping: initial mu relative to max_i l_i^2 at x0.
        index_rtol: eigenvalues below -index_rtol * max|eigenvalue| count in the index.
        max_rejections: give up after this many consecutive rejected trial steps.
        stall_window, stall_factor: stop when |grad f| has not fallen by ``stall_factor`` over
            the last ``stall_window`` steps. This is how searches end in "gradient-flat" regions
            (grad f nearly in the kernel of H, e.g. tanh units drifting to saturation or to the
            linear regime, where the critical point is at infinity; Frye et al. 2021), so that a
            failed search costs little; None disables the test.
        grad_fn, hess_fn: closed-form gradient and Hessian of ``fun`` (default: from
            :mod:`torch.func`), e.g. :func:`.task.flat_derivatives`.
    """
    _check_options(gtol, max_iter)
    if not (xtol > 0 and math.isfinite(xtol)):
        raise InputError(f"xtol must be a positive number, got {xtol}")
    if stall_window is not None and (int(stall_window) != stall_window or stall_window < 1):
        raise InputError(f"stall_window must be a positive integer or None, got {stall_window}")
    if not (stall_factor > 1 and math.isfinite(stall_factor)):
        raise InputError(f"stall_factor must be a number > 1, got {stall_factor}")
    if not (damping > 0 and math.isfinite(damping)):
        raise InputError(f"damping must be a positive number, got {damping}")
    from torch.func import grad, hessian

    x = _as_start(x0)
    g_fn = grad(fun) if grad_fn is None else grad_fn
    h_fn = hessian(fun) if hess_fn is None else hess_fn
    r = g_fn(x)
    q = 0.5 * float(r @ r)
    if not math.isfinite(q):
        raise InputError("the gradient at the starting point is not finite")
    history = [math.sqrt(2 * q)]
    mu: float | None = None
    nu = 2.0
    reason = "max_iter reached"
    it = 0
    extra, extra_steps = 0, 5
    while True:
        H = h_fn(x)
        evals, Q = torch.linalg.eigh(0.5 * (H + H.T))  # always those of the final point
        if not torch.isfinite(evals).all():
            reason = "non-finite Hessian"
            break
        if math.sqrt(2 * q) <= gtol:
            if _newton_step(evals, Q, r) <= xtol:
                reason = "gradient norm below gtol"
                break
            # an ill-conditioned but genuine critical point needs a few more Newton steps to
            # bring the step below xtol; on a slope flattening to infinity they never do
            extra += 1
            if extra > extra_steps:
                reason = "gradient norm below gtol but the Newton step is long (point at infinity?)"
                break
        if it >= max_iter:
            break
        it += 1
        rt = Q.T @ r
        l2 = evals * evals
        scale2 = float(l2.max()) or 1.0
        if mu is None:
            mu = float(damping) * scale2
        accepted = False
        for _ in range(int(max_rejections)):
            w = 1.0 / (l2 + mu)
            d = -(evals * w) * rt
            resid = rt * (mu * w)  # r + H d in the eigenbasis
            pred = 0.5 * float(rt @ rt - resid @ resid)
            if not pred > 0.0:  # r is (numerically) zero or orthogonal to the range of H
                break
            x_new = x + Q @ d
            r_new = g_fn(x_new)
            q_new = 0.5 * float(r_new @ r_new)
            rho = (q - q_new) / pred
            if math.isfinite(q_new) and rho > 1e-4:
                x, r, q = x_new, r_new, q_new
                mu = max(mu * max(1.0 / 3.0, 1.0 - (2.0 * rho - 1.0) ** 3), 1e-30 * scale2)
                nu = 2.0
                accepted = True
                break
            mu *= nu
            nu *= 2.0
            if not math.isfinite(mu):
                break
        if not accepted:
            reason = "no decrease of |grad f|^2 (stationary point of |grad f|^2?)"
            break
        history.append(math.sqrt(2 * q))
        if (
            stall_window
            and len(history) > stall_window
            and history[-1] > history[-1 - stall_window] / stall_factor
        ):
            reason = f"stalled: |grad f| fell less than {stall_factor:g}x in {stall_window} steps"
            break
    return _result(
        fun, x, r, evals, Q, math.sqrt(2 * q), history, gtol, it, reason, index_rtol, xtol
    )


def find_minimum(
    fun: TorchFun,
    x0: torch.Tensor | np.ndarray,
    *,
    gtol: float = 1e-10,
    max_iter: int = 300,
    damping: float = 1e-3,
    index_rtol: float = 1e-10,
    polish_iter: int = 50,
    xtol: float = 1e-6,
    grad_fn: TorchFun | None = None,
    hess_fn: TorchFun | None = None,
) -> CriticalPointSearch:
    """Minimise ``fun`` by saddle-free damped Newton, then polish with :func:`find_critical_point`.

    The step is -Q diag(1/(|l_i| + lam)) Q^T g with lam = damping x max|l_i|, adapted like LM
    (accepted when f decreases). Stops when |grad f| <= 1e3 gtol and H is positive semi-definite
    (up to ``index_rtol``), then Newton-polishes to |grad f| <= gtol. ``grad_fn``, ``hess_fn``
    as in :func:`find_critical_point`.
    """
    _check_options(gtol, max_iter)
    from torch.func import grad, hessian

    x = _as_start(x0)
    g_fn = grad(fun) if grad_fn is None else grad_fn
    h_fn = hessian(fun) if hess_fn is None else hess_fn
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
    res = find_critical_point(
        fun,
        x,
        gtol=gtol,
        xtol=xtol,
        max_iter=polish_iter,
        index_rtol=index_rtol,
        grad_fn=grad_fn,
        hess_fn=hess_fn,
    )
    history.extend(res.grad_norm_history.tolist())
    return dataclasses.replace(
        res,
        iterations=len(history) - 1,
        grad_norm_history=np.asarray(history, dtype=float),
    )


def eigenvector_following_step(
    evals: torch.Tensor, gt: torch.Tensor, index: int, radius: float
) -> torch.Tensor:
    """The hybrid eigenvector-following step towards a critical point of index ``index``, in the
    Hessian's eigenbasis (``evals`` ascending, ``gt`` = Q^T grad f):

        h_i = s_i 2 g_i / (|l_i| (1 + sqrt(1 + 4 g_i^2 / l_i^2))),   s_i = +1 for i < index
        (uphill along the lowest modes), s_i = -1 otherwise (downhill),

    then shortened to length ``radius`` if longer (Cerjan & Miller, J. Chem. Phys. 75, 2800,
    1981; Wales, J. Chem. Phys. 101, 3750, 1994). For |g_i| << |l_i|, h_i = s_i g_i / |l_i|,
    which at a point with exactly ``index`` negative eigenvalues is the Newton step -g_i / l_i
    for every mode (quadratic convergence); for |g_i| >> |l_i|, |h_i| -> 1 (bounded steps).
    Unlike Levenberg-Marquardt on |grad f|^2 it has no merit function, so it is not held at
    minima of |grad f|^2 that are not critical points (gradient-flat points).
    """
    al = evals.abs()
    tiny = 1e-300 + 1e-14 * float(al.max()) if al.numel() else 1e-300
    al = torch.clamp(al, min=tiny)
    h = 2.0 * gt / (al * (1.0 + torch.sqrt(1.0 + 4.0 * (gt / al) ** 2)))
    s = -h
    s[:index] = h[:index]
    n = float(s.norm())
    return s * (radius / n) if n > radius else s


def find_critical_point_of_index(
    fun: TorchFun,
    x0: torch.Tensor | np.ndarray,
    index: int,
    *,
    radius: float = 0.1,
    max_iter: int = 150,
    max_growth: float = 1.5,
    switch_gtol: float = 1e-7,
    gtol: float = 1e-10,
    xtol: float = 1e-6,
    index_rtol: float = 1e-10,
    polish_iter: int = 60,
    stall_window: int | None = 20,
    grad_fn: TorchFun | None = None,
    hess_fn: TorchFun | None = None,
) -> CriticalPointSearch:
    """A critical point of the given index near ``x0`` by eigenvector following with exact
    float64 Hessians, then Levenberg-Marquardt polishing (:func:`find_critical_point`).

    Each iteration diagonalises H(x) and takes :func:`eigenvector_following_step` (at most
    ``radius`` long), until |grad f| <= ``switch_gtol`` with exactly ``index`` negative
    eigenvalues, or ``max_iter`` steps; then :func:`find_critical_point` (gtol, xtol,
    ``polish_iter``, ``stall_window``) brings |grad f| to round-off and applies the same
    ``converged`` test (|grad f| <= gtol and Newton step <= xtol). The walk is abandoned when
    |x| exceeds ``max_growth`` max(|x0|, 1): on losses whose critical points lie at infinity
    (saturating tanh units) it would otherwise run there; the result then has
    ``converged = False`` and says so in ``reason``. Used to restart the |grad f|^2 searches
    that stall at gradient-flat points, aiming at the index they had reached.
    """
    _check_options(gtol, max_iter)
    if int(index) != index or index < 0:
        raise InputError(f"index must be a non-negative integer, got {index}")
    for name, v in (("radius", radius), ("switch_gtol", switch_gtol)):
        if not (v > 0 and math.isfinite(v)):
            raise InputError(f"{name} must be a positive number, got {v}")
    if not (max_growth > 1 and math.isfinite(max_growth)):
        raise InputError(f"max_growth must be a number > 1, got {max_growth}")
    from torch.func import grad, hessian

    x = _as_start(x0)
    if index > x.numel():
        raise InputError(f"index {index} exceeds the dimension {x.numel()}")
    g_fn = grad(fun) if grad_fn is None else grad_fn
    h_fn = hessian(fun) if hess_fn is None else hess_fn
    limit = max_growth * max(float(x.norm()), 1.0)
    history: list[float] = []
    it = 0
    while True:
        r = g_fn(x)
        history.append(float(r.norm()))
        H = h_fn(x)
        evals, Q = torch.linalg.eigh(0.5 * (H + H.T))
        if not (torch.isfinite(evals).all() and math.isfinite(history[-1])):
            return _result(fun, x, r, evals, Q, history[-1], history, gtol, it,
                           "non-finite gradient or Hessian", index_rtol, xtol)  # fmt: skip
        scale = float(evals.abs().max()) if evals.numel() else 0.0
        n_neg = int((evals < -index_rtol * scale).sum())
        if (history[-1] <= switch_gtol and n_neg == index) or it >= max_iter:
            break
        x = x + Q @ eigenvector_following_step(evals, Q.T @ r, int(index), radius)
        it += 1
        if float(x.norm()) > limit:
            r = g_fn(x)
            H = h_fn(x)
            evals, Q = torch.linalg.eigh(0.5 * (H + H.T))
            history.append(float(r.norm()))
            res = _result(
                fun, x, r, evals, Q, history[-1], history, gtol, it,
                f"eigenvector following left the |x| bound (critical point at infinity?): "
                f"|x| > {limit:.3g}",
                index_rtol, xtol,
            )  # fmt: skip
            return dataclasses.replace(res, converged=False)
    res = find_critical_point(
        fun,
        x,
        gtol=gtol,
        xtol=xtol,
        max_iter=polish_iter,
        index_rtol=index_rtol,
        stall_window=stall_window,
        grad_fn=grad_fn,
        hess_fn=hess_fn,
    )
    history.extend(res.grad_norm_history[1:].tolist())
    return dataclasses.replace(
        res,
        iterations=it + res.iterations,
        grad_norm_history=np.asarray(history, dtype=float),
        reason=f"eigenvector following, then {res.reason}",
    )
