"""Shifted linear solves (H + sigma I) X = B with products only: multi-shift MINRES.

MINRES (Paige & Saunders, "Solution of sparse indefinite systems of linear equations", SIAM J.
Numer. Anal. 12 (1975)) minimises ||b - (H + sigma I) x|| over the Krylov space
K_k(H + sigma I, b). That space does not depend on sigma (K_k(H + sigma I, b) = K_k(H, b)), and
the Lanczos recurrence of H + sigma I from b has the same vectors v_k and off-diagonals beta_k as
that of H, with diagonals alpha_k + sigma. So one Lanczos run of H per right-hand side serves every
shift: each shift keeps its own Givens rotations (the QR factorisation of its tridiagonal matrix)
and its own short-recurrence solution update, exactly the updates of the unpreconditioned MINRES
of :func:`scipy.sparse.linalg.minres` (whose ``shift`` s solves (A - s I) x = b) with alpha_k
replaced by alpha_k + sigma. H + sigma I may be indefinite (MINRES needs symmetry only); an
exactly singular shift gives the minimum-residual solution's iterate, flagged by its residual.

All right-hand sides advance in lockstep: each iteration is one ``op.matmat`` on the (P, m) block
of the columns not yet converged, in float64. The recursively updated residual estimate
|phibar_k| drives the stopping test (every shift of a column at ``rtol`` relative to ||b||);
at the end the **true** relative residuals ||b - (H + sigma I) x|| / ||b|| are computed with one
more block product and returned; a (shift, column) counts as converged when that true residual
is at most ``accept`` x ``rtol`` (default 10: in finite precision the two residuals differ by
about eps x cond(H + sigma I)).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from hessrmt.curvature.krylov.numerics import WORK_DTYPE, apply64, as_operator
from hessrmt.errors import InputError

__all__ = ["ShiftedSolveResult", "shifted_minres"]


@dataclass(frozen=True)
class ShiftedSolveResult:
    """Solutions of (H + shifts[i] I) X = B.

    Attributes:
        solutions: (S, P, m) float64 tensor, ``solutions[i]`` solves shift i.
        shifts: (S,) the shifts sigma_i.
        residuals: (S, m) true relative residuals ||b_j - (H + sigma_i) x_ij|| / ||b_j||.
        estimated_residuals: (S, m) MINRES's recursive estimates of the same.
        converged: (S, m) whether ``residuals`` is at most ``accept`` x ``rtol``.
        iterations: (m,) Lanczos steps spent per column.
        num_matvecs: operator products spent (the final residual check included).
        rtol: the requested relative residual.
    """

    solutions: torch.Tensor
    shifts: np.ndarray
    residuals: np.ndarray
    estimated_residuals: np.ndarray
    converged: np.ndarray
    iterations: np.ndarray
    num_matvecs: int
    rtol: float

    def quadratic_forms(self, U: Any) -> np.ndarray:
        """u_j^T x_ij for the columns u_j of ``U`` (P, m): shape (S, m). With B = U this is
        u_j^T (H + sigma_i)^{-1} u_j."""
        Ut = torch.as_tensor(np.asarray(U) if not isinstance(U, torch.Tensor) else U)
        Ut = Ut.to(dtype=WORK_DTYPE, device=self.solutions.device)
        return (self.solutions * Ut[None]).sum(dim=1).cpu().numpy()


def shifted_minres(
    op: Any,
    B: Any,
    shifts: Any,
    *,
    rtol: float = 1e-10,
    maxiter: int | None = None,
    accept: float = 10.0,
) -> ShiftedSolveResult:
    """Solve (H + sigma I) X = B for every shift sigma by multi-shift MINRES (module docstring).

    Args:
        op: the symmetric operator H (anything :func:`hessrmt.curvature.as_linear_operator`
            accepts).
        B: (P,) or (P, m) right-hand sides (torch or NumPy).
        shifts: the sigma_i (one or a sequence; finite).
        rtol: relative residual at which a column stops (all its shifts below it).
        maxiter: Lanczos steps at most (default 5 P); columns still above ``rtol`` then are
            returned with ``converged`` False (not an error: the caller flags or refuses them).
        accept: a solution counts as converged when its true relative residual is at most
            ``accept`` x ``rtol``.
    """
    H = as_operator(op)
    P = int(H.shape[0])
    Bt = torch.as_tensor(np.asarray(B) if not isinstance(B, torch.Tensor) else B)
    if Bt.is_complex() or not (Bt.is_floating_point() or Bt.dtype in (torch.int32, torch.int64)):
        raise InputError(f"right-hand sides must be real numbers, got {Bt.dtype}")
    Bt = Bt.to(dtype=WORK_DTYPE, device=H.device)
    if Bt.ndim == 1:
        Bt = Bt[:, None]
    if Bt.ndim != 2 or Bt.shape[0] != P:
        raise InputError(
            f"right-hand sides must have shape ({P},) or ({P}, m), got {tuple(Bt.shape)}"
        )
    if not bool(torch.isfinite(Bt).all()):
        raise InputError("right-hand sides contain nan/inf")
    sig = np.atleast_1d(np.asarray(shifts, dtype=float))
    if sig.ndim != 1 or sig.size == 0 or not np.all(np.isfinite(sig)):
        raise InputError(f"shifts must be a non-empty list of finite numbers, got {shifts!r}")
    if not (0 < rtol < 1):
        raise InputError(f"rtol must lie in (0, 1), got {rtol}")
    maxiter = 5 * P if maxiter is None else int(maxiter)
    if maxiter < 1:
        raise InputError(f"maxiter must be positive, got {maxiter}")
    start = H.num_matvecs
    m, S = Bt.shape[1], sig.size
    dev = H.device
    sg = torch.as_tensor(sig, dtype=WORK_DTYPE, device=dev)[:, None]  # (S, 1)
    eps = float(torch.finfo(WORK_DTYPE).eps)

    beta1 = torch.linalg.vector_norm(Bt, dim=0)  # (m,)
    beta, oldb = beta1.clone(), torch.zeros_like(beta1)
    r1, r2, y = Bt.clone(), Bt.clone(), Bt.clone()
    shape = (S, m)
    dbar = torch.zeros(shape, dtype=WORK_DTYPE, device=dev)
    epsln = torch.zeros_like(dbar)
    cs = -torch.ones_like(dbar)
    sn = torch.zeros_like(dbar)
    phibar = beta1[None].expand(shape).clone()
    w = torch.zeros((S, P, m), dtype=WORK_DTYPE, device=dev)
    w2 = torch.zeros_like(w)
    X = torch.zeros_like(w)
    iters = np.zeros(m, dtype=int)
    safe1 = torch.where(beta1 > 0, beta1, torch.ones_like(beta1))

    def estimate() -> torch.Tensor:
        return phibar.abs() / safe1[None]

    active = (beta1 > 0).clone()
    for itn in range(1, maxiter + 1):
        active &= (estimate() > rtol).any(dim=0) & (beta > 0)
        if not bool(active.any()):
            break
        a = active
        v = y / torch.where(beta > 0, beta, torch.ones_like(beta))
        Av = torch.zeros_like(v)
        Av[:, a] = apply64(H, v[:, a])
        yn = (
            Av - (beta / torch.where(oldb > 0, oldb, torch.ones_like(oldb))) * r1 if itn > 1 else Av
        )
        alfa0 = (v * yn).sum(dim=0)
        yn = yn - (alfa0 / torch.where(beta > 0, beta, torch.ones_like(beta))) * r2
        betan = torch.linalg.vector_norm(yn, dim=0)
        # per-shift QR of the tridiagonal matrix with diagonal alpha + sigma
        alfa = alfa0[None] + sg
        delta = cs * dbar + sn * alfa
        gbar = sn * dbar - cs * alfa
        epsn = sn * betan[None]
        dbarn = -cs * betan[None]
        gamma = torch.clamp(torch.hypot(gbar, betan[None].expand(shape)), min=eps)
        csn, snn = gbar / gamma, betan[None] / gamma
        phi = csn * phibar
        wn = (v[None] - epsln[:, None, :] * w2 - delta[:, None, :] * w) / gamma[:, None, :]
        am, am3 = a[None], a[None, None]
        X = torch.where(am3, X + phi[:, None, :] * wn, X)
        w2, w = torch.where(am3, w, w2), torch.where(am3, wn, w)
        phibar = torch.where(am, snn * phibar, phibar)
        cs, sn = torch.where(am, csn, cs), torch.where(am, snn, sn)
        epsln, dbar = torch.where(am, epsn, epsln), torch.where(am, dbarn, dbar)
        r1 = torch.where(a, r2, r1)
        r2 = torch.where(a, yn, r2)
        y = r2
        oldb = torch.where(a, beta, oldb)
        beta = torch.where(a, betan, beta)
        iters[a.cpu().numpy()] += 1
    # the true residuals (one block product for every shift and column)
    flat = X.permute(1, 0, 2).reshape(P, S * m)
    HX = apply64(H, flat).reshape(P, S, m).permute(1, 0, 2)
    R = Bt[None] - HX - sg[:, :, None] * X
    res = (torch.linalg.vector_norm(R, dim=1) / safe1[None]).cpu().numpy()
    return ShiftedSolveResult(
        solutions=X,
        shifts=sig,
        residuals=res,
        estimated_residuals=estimate().cpu().numpy(),
        converged=res <= accept * rtol,
        iterations=iters,
        num_matvecs=int(H.num_matvecs - start),
        rtol=float(rtol),
    )
