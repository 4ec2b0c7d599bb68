"""Closed-form Hessian of softmax (multinomial logistic) regression with cross-entropy.

For logits z_i = W x_i + b (W: C x d, b: C), p_i = softmax(z_i) and the loss
L = sum_i s_i CE(z_i, y_i), the Hessian of CE with respect to z_i is the softmax covariance
S_i = diag(p_i) - p_i p_i^T, independent of the label (also with label smoothing, whose target
weights sum to one). With dz_i/dvec(W) = I_C (x) x_i^T::

    H_WW = sum_i s_i S_i (x) x_i x_i^T        (C d x C d)
    H_Wb = sum_i s_i S_i (x) x_i              (C d x C)
    H_bb = sum_i s_i S_i                      (C x C)

in PyTorch's parameter order: ``parameters_to_vector(nn.Linear(d, C).parameters())`` is
[W.flatten() (row-major: index a*d + j for W[a, j]), b], and (A (x) B)[a*d + j, c*d + k] =
A[a, c] B[j, k] matches it. See e.g. Böhning (1992), "Multinomial logistic regression algorithm",
Ann. Inst. Statist. Math. 44, for the Kronecker form.

Implementation: H = D - Z^T diag(s) Z with z_i = [p_i (x) x_i, p_i] (the rank-n part, a GEMM
chunked over samples) and D the block-diagonal part from diag(p_i).
"""

from __future__ import annotations

import torch

from hessrmt.errors import InputError


def softmax_regression_hessian(
    X: torch.Tensor,
    W: torch.Tensor,
    b: torch.Tensor | None = None,
    *,
    sample_weight: torch.Tensor | None = None,
    reduction: str = "mean",
    chunk_size: int = 2048,
) -> torch.Tensor:
    """The exact Hessian of the cross-entropy loss of softmax regression (see module docstring).

    Args:
        X: inputs, shape (n, d).
        W: weights, shape (C, d) (``nn.Linear(d, C).weight``).
        b: bias, shape (C,), or None for a model without bias.
        sample_weight: per-sample weights s_i, shape (n,). Default: 1/n for ``reduction="mean"``,
            1 for ``"sum"``; when given, they are used as they are (``reduction`` is ignored), e.g.
            class weights w_{y_i} / sum_j w_{y_j} for a weighted mean.
        reduction: "mean" or "sum" (only for the default weights).
        chunk_size: samples per GEMM chunk (bounds the memory at chunk_size x C(d+1) entries).

    Returns:
        The (P, P) Hessian, P = C d (+ C with bias), in the dtype and device of ``W``.
    """
    if X.ndim != 2 or W.ndim != 2 or X.shape[1] != W.shape[1]:
        raise InputError(
            f"expected X of shape (n, d) and W of shape (C, d), got {tuple(X.shape)} and "
            f"{tuple(W.shape)}"
        )
    n, d = X.shape
    C = W.shape[0]
    if n == 0:
        raise InputError("X has no samples")
    if b is not None and tuple(b.shape) != (C,):
        raise InputError(f"b must have shape ({C},), got {tuple(b.shape)}")
    if reduction not in ("mean", "sum"):
        raise InputError(f"reduction must be 'mean' or 'sum', got {reduction!r}")
    if chunk_size < 1:
        raise InputError(f"chunk_size must be positive, got {chunk_size}")
    dtype, device = W.dtype, W.device
    X = X.to(dtype=dtype, device=device)
    if sample_weight is None:
        s = torch.full((n,), 1.0 / n if reduction == "mean" else 1.0, dtype=dtype, device=device)
    else:
        s = torch.as_tensor(sample_weight, dtype=dtype, device=device).reshape(-1)
        if s.shape[0] != n:
            raise InputError(f"sample_weight has {s.shape[0]} entries for {n} samples")
    with torch.no_grad():
        logits = X @ W.T
        if b is not None:
            logits = logits + b.to(dtype=dtype, device=device)
        p = torch.softmax(logits, dim=1)
        sp = s[:, None] * p  # (n, C)

        P = C * d + (C if b is not None else 0)
        H = torch.zeros(P, P, dtype=dtype, device=device)
        # block-diagonal part: sum_i s_i diag(p_i) (x) [x_i; 1][x_i; 1]^T restricted to the order
        for a in range(C):
            H[a * d : (a + 1) * d, a * d : (a + 1) * d] = X.T @ (sp[:, a, None] * X)
        if b is not None:
            cross = sp.T @ X  # (C, d): sum_i s_i p_ia x_i
            for a in range(C):
                H[a * d : (a + 1) * d, C * d + a] = cross[a]
                H[C * d + a, a * d : (a + 1) * d] = cross[a]
            H[C * d :, C * d :] += torch.diag(sp.sum(0))
        # rank-n part: - sum_i s_i z_i z_i^T, z_i = [p_i (x) x_i, p_i]
        for start in range(0, n, chunk_size):
            sl = slice(start, min(n, start + chunk_size))
            Z = (p[sl, :, None] * X[sl, None, :]).reshape(-1, C * d)
            if b is not None:
                Z = torch.cat([Z, p[sl]], dim=1)
            H -= Z.T @ (s[sl, None] * Z)
    return H
