"""The multiplicity check of the Lanczos eigensolver, as its own function.

A single-vector Krylov space holds one direction of each eigenspace, so Lanczos (like ARPACK) can
report a "converged" answer that skips copies of a multiple eigenvalue. :func:`missed_direction`
looks for such a copy: a short Lanczos run (the recurrence of
:mod:`~hessrmt.curvature.krylov.recurrence`) on the operator restricted to the orthogonal
complement of the returned Ritz vectors ``X``. A Ritz value ``rho`` (vector ``y``) of that
restriction that beats the least wanted returned value by more than a margin of at least twice
``||(A X - X Theta)^T y||`` proves, by Cauchy interlacing on the compression of ``A`` to
``span(X, y)`` (Parlett, "The Symmetric Eigenvalue Problem", 1998, sec. 10.1), that ``A`` has
``k`` eigenvalues more wanted than that value: the answer missed one. The check is one-sided: a
missed eigenvalue the short run does not resolve goes unnoticed.
"""

from __future__ import annotations

import numpy as np
import scipy.linalg
import torch

from hessrmt.curvature.krylov.numerics import WORK_DTYPE, random_orthonormal_rows
from hessrmt.curvature.krylov.recurrence import lanczos_extend, start_state
from hessrmt.curvature.linop import CurvatureOperator


def zero_at_wanted_end(lam: np.ndarray, which: str, zero_band: float) -> bool:
    """True when a returned value is zero within ``zero_band`` and another one lies beyond the
    band on the less wanted side (``"SA"``: above it; ``"LA"``: below it; ``"BE"``: either end's
    half). Then copies of the zero eigenvalue (a null space) may have been skipped for the
    nonzero ones; ``"LM"`` (zero is the least wanted) never triggers."""
    lam = np.asarray(lam)
    if which == "LM":
        return False
    zero = np.abs(lam) <= zero_band
    if which == "SA":
        return bool(zero.any() and np.any(lam > zero_band))
    if which == "LA":
        return bool(zero.any() and np.any(lam < -zero_band))
    asc = np.sort(lam)  # BE: ceil(k/2) from the top, floor(k/2) from the bottom
    k = len(asc)
    top, bottom = asc[k // 2 :], asc[: k // 2]
    return zero_at_wanted_end(bottom, "SA", zero_band) or zero_at_wanted_end(top, "LA", zero_band)


def more_wanted(rho: np.ndarray, lam: np.ndarray, which: str, margin: float) -> np.ndarray:
    """Mask of values ``rho`` that beat the least wanted of ``lam`` by more than ``margin``."""
    if which == "LA":
        return rho > lam.min() + margin
    if which == "SA":
        return rho < lam.max() - margin
    if which == "LM":
        return np.abs(rho) > np.abs(lam).min() + margin
    k = len(lam)  # BE: ceil(k/2) from the top, floor(k/2) from the bottom
    asc = np.sort(lam)
    top, bottom = asc[k // 2 :], asc[: k // 2]
    out = rho > top.min() + margin
    if bottom.size:
        out |= rho < bottom.max() - margin
    return out


def missed_direction(
    op: CurvatureOperator,
    Xt: torch.Tensor,
    lam: np.ndarray,
    anorm: float,
    which: str,
    steps: int,
    margin: float,
    rng: np.random.Generator,
) -> torch.Tensor | None:
    """Look for a wanted eigenvalue outside the span of the orthonormal rows ``Xt``: the
    returned Ritz vectors, or any basis that spans them (the eigensolver passes its final Krylov
    basis, which deflates more; a vector orthogonal to it is orthogonal to the Ritz vectors, so
    the margin argument of the module doc is unchanged).

    Runs ``steps`` Lanczos steps (full CGS2, ``Xt`` as the deflated basis prefix) from a random
    start orthogonal to ``Xt``; stops early at a breakdown (``beta <= 100 eps ||A||_est``). A Ritz
    value of the restriction more wanted (``which``) than the least wanted of ``lam`` by more than
    ``margin`` (module doc) is a missed eigenvalue: returns its Ritz vector ``y`` as a (1, P) row
    (the one farthest from the median of ``lam``), or None.
    """
    n = op.shape[0]
    kx = Xt.shape[0]
    steps = min(steps, n - kx)
    if steps < 1:
        return None
    device = op.device
    u = random_orthonormal_rows(Xt, 1, rng, device)
    state = start_state(u, kx + steps, projection=True, prefix=Xt)
    state.scale[:] = max(anorm, 1e-300)  # breakdown relative to ||A||_est of the main run
    lanczos_extend(op, state, kx + steps, breakdown_rtol=100 * np.finfo(float).eps)
    used = int(state.used[0]) - kx
    T = state.T[0, kx : kx + used, kx : kx + used]
    rho, Sr = scipy.linalg.eigh(T)
    bad = more_wanted(rho, lam, which, margin)
    if not bad.any():
        return None
    i = int(np.flatnonzero(bad)[np.argmax(np.abs(rho[bad] - np.median(lam)))])
    y = torch.as_tensor(Sr[:, i], dtype=WORK_DTYPE, device=device) @ state.V[0, kx : kx + used]
    return (y / torch.linalg.vector_norm(y))[None, :]
