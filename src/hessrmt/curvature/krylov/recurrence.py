"""The one Lanczos recurrence of hessrmt: (block) tridiagonalisation of a symmetric operator.

Every Krylov algorithm of :mod:`hessrmt.curvature.krylov` builds its basis here:

* the thick-restart eigensolver (:mod:`~hessrmt.curvature.krylov.eigensolver`): one block
  Krylov space, full reorthogonalisation, the kept Ritz vectors as the basis prefix, breakdowns
  replaced by fresh random directions, a convergence test after every block;
* the multiplicity check (:mod:`~hessrmt.curvature.krylov.multiplicity`): one single-vector
  space restricted to the complement of the returned Ritz vectors (given as the basis prefix);
* stochastic Lanczos quadrature (:mod:`~hessrmt.curvature.krylov.quadrature`): ``p``
  independent single-vector spaces (one per probe) advanced together, one ``matmat`` per step,
  with or without full reorthogonalisation, each stopping at its own breakdown.

Recurrence (Golub & Van Loan, "Matrix Computations", 4th ed., sec. 10.1 and 10.3.6 for blocks):
a block ``Q_j`` (rows, orthonormal, orthogonal to the basis ``V``) is applied, ``W = A Q_j``;
with full reorthogonalisation ``W`` is orthogonalised against the whole basis ``[V; Q_j]`` by
classical Gram-Schmidt applied twice (CGS2), and the coefficients ``H = W [V; Q_j]^T`` summed
over both passes are the new rows of the projected matrix ``T = V^T A V`` (the symmetric part of
the diagonal block is kept); without it (single vectors only) the three-term recurrence
``w = A q_j - alpha_j q_j - beta_{j-1} q_{j-1}`` with ``alpha_j = q_j^T A q_j``. The next block
is the thin QR factor of the residual ``R = B^T Q_{j+1}`` (``beta_j = ||w||`` for single
vectors).

Precision policy (:mod:`~hessrmt.curvature.krylov.numerics`): the operator is applied in its own
dtype, everything else (basis, products, coefficients) is float64 on the operator's device.

Breakdown (an invariant subspace, the Krylov space is exhausted): a new direction whose
coupling ``|B_ii|`` (``beta_j``) is at most ``breakdown_rtol * scale``, where ``scale`` is the
running maximum of ``||A q||`` over the space's applied vectors (an estimate of ``||A||`` from
below). ``on_breakdown="stop"`` ends that space (its ``used`` count records where);
``"replace"`` (full reorthogonalisation, one space) zeroes the coupling and continues with a
random direction orthogonal to the basis, so ``A V = V T + Q B`` still holds.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

import numpy as np
import torch

from hessrmt.curvature.krylov.numerics import (
    WORK_DTYPE,
    apply64,
    cgs2_rows,
    orthonormal_rows,
    random_orthonormal_rows,
)
from hessrmt.curvature.linop import CurvatureOperator
from hessrmt.errors import InputError

Breakdown = Literal["stop", "replace"]


@dataclass
class KrylovState:
    """``p`` Krylov spaces of one operator, advanced together (all float64 on its device).

    Attributes:
        V: (p, m, n) basis rows (``None`` without full reorthogonalisation: then only the
            current and previous vectors are kept, in ``Q`` and ``Q_prev``).
        AV: (p, m, n) the products ``A v`` of the basis rows (``None`` unless requested).
        T: (p, m, m) the projected matrix ``V^T A V`` (``None`` unless requested).
        alphas: (p, m) diagonal of ``T`` (single-vector spaces).
        betas: (p, m) ``betas[:, j]`` couples rows ``j`` and ``j + 1`` (single-vector spaces).
        j: rows filled (the same for every active space).
        Q: (p, b, n) the next block (orthonormal rows, not yet applied).
        B: (p, b, b_last) its coupling to the last block: the residual ``R = B^T Q``.
        used: (p,) rows of each space (its breakdown step, else ``j``).
        active: (p,) spaces still advancing.
        scale: (p,) running maximum of ``||A q||`` (the breakdown scale).
        exhausted: the basis spans the whole space (``j == n``; no next block).
    """

    V: torch.Tensor | None
    AV: torch.Tensor | None
    T: np.ndarray | None
    alphas: np.ndarray
    betas: np.ndarray
    j: int
    Q: torch.Tensor
    B: np.ndarray
    used: np.ndarray
    active: np.ndarray
    scale: np.ndarray
    Q_prev: torch.Tensor | None = None
    exhausted: bool = False

    @property
    def size(self) -> int:
        """Capacity ``m`` (rows) of the basis."""
        return int(self.alphas.shape[1])


def start_state(
    Q: torch.Tensor,
    m: int,
    *,
    reorth: bool = True,
    store_products: bool = False,
    projection: bool = False,
    prefix: torch.Tensor | None = None,
) -> KrylovState:
    """A fresh state of capacity ``m`` rows from the start blocks ``Q`` ((p, b, n) or (b, n)).

    ``prefix`` ((p, j0, n) or (j0, n), orthonormal rows, ``Q`` orthogonal to them) occupies the
    first ``j0`` rows (deflated directions, or kept Ritz vectors); its products are not applied.
    ``reorth=False`` (the plain three-term recurrence) needs single vectors and no prefix.
    """
    if Q.ndim == 2:
        Q = Q[None]
    p, b, n = Q.shape
    if not reorth and (b != 1 or prefix is not None or store_products or projection):
        raise InputError("the three-term recurrence (reorth=False) takes single start vectors")
    device = Q.device
    V = torch.zeros((p, m, n), dtype=WORK_DTYPE, device=device) if reorth else None
    j0 = 0
    if prefix is not None:
        prefix = prefix if prefix.ndim == 3 else prefix[None]
        j0 = prefix.shape[1]
        V[:, :j0] = prefix
    return KrylovState(
        V=V,
        AV=torch.zeros((p, m, n), dtype=WORK_DTYPE, device=device) if store_products else None,
        T=np.zeros((p, m, m)) if projection else None,
        alphas=np.zeros((p, m)),
        betas=np.zeros((p, m)),
        j=j0,
        Q=Q.to(dtype=WORK_DTYPE).contiguous(),
        B=np.zeros((p, b, 0)),
        used=np.full(p, j0, dtype=np.int64),
        active=np.ones(p, dtype=bool),
        scale=np.zeros(p),
        Q_prev=None if reorth else torch.zeros_like(Q, dtype=WORK_DTYPE),
    )


def _cgs2_batched(V: torch.Tensor, W: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """CGS2 of the rows of ``W`` (a, b, n) against the orthonormal rows of ``V`` (a, j, n)."""
    if V.shape[0] == 1:  # one space: plain matrix products (the eigensolver's case)
        R, H = cgs2_rows(V[0], W[0])
        return R[None], H[None]
    H = torch.bmm(W, V.transpose(1, 2))
    W = W - torch.bmm(H, V)
    H2 = torch.bmm(W, V.transpose(1, 2))
    return W - torch.bmm(H2, V), H + H2


def lanczos_extend(
    op: CurvatureOperator,
    state: KrylovState,
    until: int,
    *,
    breakdown_rtol: float,
    on_breakdown: Breakdown = "stop",
    rng: np.random.Generator | None = None,
    callback: Callable[[KrylovState], bool] | None = None,
) -> KrylovState:
    """Advance ``state`` by (block) Lanczos steps until ``until`` rows are filled.

    One ``op.matmat`` per step applies the next block of every active space. After each step
    the next block and its coupling are formed (module doc), then ``callback(state)`` may end the
    run by returning True. The run also ends when every space has broken down (``"stop"``) or the
    basis spans the whole space (``state.exhausted``). Returns ``state`` (updated in place).
    """
    n = state.Q.shape[2]
    reorth = state.V is not None
    if on_breakdown == "replace" and (not reorth or state.Q.shape[0] != 1 or rng is None):
        raise InputError("on_breakdown='replace' needs full reorthogonalisation, one space, rng")
    device = state.Q.device
    while state.j < until and state.active.any():
        j = state.j
        everyone = bool(state.active.all())
        ids = np.flatnonzero(state.active)
        act = None if everyone else torch.as_tensor(ids, device=device)
        sel = slice(None) if act is None else act
        Qa = state.Q[sel]
        bb = min(Qa.shape[1], until - j)
        Qa = Qa[:, :bb]
        a = Qa.shape[0]
        W = apply64(op, Qa.reshape(a * bb, n).T).T.reshape(a, bb, n)
        norms = torch.linalg.vector_norm(W, dim=2).amax(dim=1).cpu().numpy()
        state.scale[ids] = np.maximum(state.scale[ids], norms)
        if reorth:
            state.V[sel, j : j + bb] = Qa
            if state.AV is not None:
                state.AV[sel, j : j + bb] = W
            Vb = state.V[sel, : j + bb]
            R, H = _cgs2_batched(Vb, W)
            Hn = H.cpu().numpy()  # (a, bb, j + bb): row i = (A q_i)^T V
            diag = Hn[:, :, j : j + bb]
            diag = 0.5 * (diag + diag.transpose(0, 2, 1))
            if state.T is not None:
                T = state.T
                T[ids, j : j + bb, : j + bb] = Hn
                T[ids, : j + bb, j : j + bb] = Hn.transpose(0, 2, 1)
                T[ids, j : j + bb, j : j + bb] = diag
            if bb == 1:
                state.alphas[ids, j] = diag[:, 0, 0]
        else:
            Qp = state.Q_prev[sel]
            alpha = (Qa * W).sum(dim=2)  # (a, 1)
            beta_prev = torch.as_tensor(
                state.betas[ids, j - 1] if j > 0 else np.zeros(a), device=device
            )
            R = W - Qa * alpha[:, :, None] - Qp * beta_prev[:, None, None]
            state.alphas[ids, j] = alpha.cpu().numpy()[:, 0]
        state.j = j + bb
        state.used[ids] = state.j
        if state.j >= n:
            state.exhausted = True
            if callback is not None:
                callback(state)
            break
        _next_block(state, R, ids, act, breakdown_rtol, on_breakdown, rng)
        if callback is not None and callback(state):
            break
    return state


def _next_block(
    state: KrylovState,
    R: torch.Tensor,
    ids: np.ndarray,
    act: torch.Tensor | None,
    breakdown_rtol: float,
    on_breakdown: Breakdown,
    rng: np.random.Generator | None,
) -> None:
    """The next block and coupling from the residual rows ``R`` (a, bb, n) of the active spaces."""
    j, n, device = state.j, R.shape[2], R.device
    bb = R.shape[1]
    if bb == 1:
        beta = torch.linalg.vector_norm(R[:, 0], dim=1)
        Bn = beta.cpu().numpy()[:, None, None]
        safe = torch.where(beta > 0, beta, torch.ones_like(beta))
        Qn = R / safe[:, None, None]
    else:
        Q_cols, Bt = torch.linalg.qr(R.transpose(1, 2))
        Qn, Bn = Q_cols.transpose(1, 2).contiguous(), Bt.cpu().numpy()
    bad = (
        np.abs(np.diagonal(Bn, axis1=1, axis2=2))
        <= breakdown_rtol * np.maximum(state.scale[ids], np.finfo(float).tiny)[:, None]
    )
    if bb == 1:
        state.betas[ids, j - 1] = np.where(bad[:, 0], 0.0, Bn[:, 0, 0])
    if on_breakdown == "stop":
        stop = bad.any(axis=1)
        state.used[ids[stop]] = j
        state.active[ids[stop]] = False
    elif bad.any():  # "replace": one space (checked by the caller)
        Bn = Bn.copy()
        Bn[0, bad[0], :] = 0.0
        good = torch.as_tensor(~bad[0], device=device)
        fresh = random_orthonormal_rows(
            torch.cat([state.V[0, :j], Qn[0, good]], dim=0), int(bad[0].sum()), rng, device
        )
        Qn = Qn.clone()
        Qn[0, torch.as_tensor(bad[0], device=device)] = fresh
    if on_breakdown == "replace":
        nb = min(state.Q.shape[1], n - j)
        if nb < Qn.shape[1]:
            # fewer than b directions remain outside the basis: span them exactly
            U = torch.linalg.svd(R[0].T, full_matrices=False)[0]
            Qr, _ = cgs2_rows(state.V[0, :j], U[:, :nb].T.contiguous())
            Qr, _ = orthonormal_rows(Qr)
            Qn, Bn = Qr[None], (Qr @ R[0].T).cpu().numpy()[None]
        Qn, Bn = Qn[:, :nb], Bn[:, :nb, :]
    if state.Q_prev is not None:  # three-term recurrence: remember the block just applied
        if act is None:
            state.Q_prev = state.Q
        else:
            state.Q_prev = state.Q_prev.clone()
            state.Q_prev[act] = state.Q[act]
    if act is None:
        state.Q, state.B = Qn, Bn
        return
    Q = state.Q.clone()
    Q[act] = Qn
    state.Q = Q
    if state.B.shape[1:] != Bn.shape[1:]:
        state.B = np.zeros((Q.shape[0], *Bn.shape[1:]))
    state.B[ids] = Bn
