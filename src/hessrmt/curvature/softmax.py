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

from typing import Any

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


def closed_form_hessian(op: Any) -> torch.Tensor | None:
    """The Hessian (= Gauss-Newton matrix) of an operator that is softmax regression, from
    :func:`softmax_regression_hessian`, else None.

    ``op`` is a :class:`hessrmt.curvature.operators.EmpiricalRiskOperator` (its public
    ``model``, ``loss_fn``, ``param_names``, ``batch_size_fn``, ``reduction``, ``total_terms``,
    :meth:`point` and :meth:`batches` are read): an ``nn.Linear`` model with
    ``CrossEntropyLoss`` (class-index targets, no label smoothing with class weights), 2-D
    inputs, the loss's own batch weights. Samples are weighted by the loss's terms (ignored
    targets 0, class weights) over the full-data normaliser C. The selected rows and columns
    are returned when only the weight or only the bias is selected.
    """
    model, loss_fn = op.model, op.loss_fn
    if type(model) is not torch.nn.Linear or type(loss_fn) is not torch.nn.CrossEntropyLoss:
        return None
    if loss_fn.weight is not None and loss_fn.label_smoothing > 0:
        return None
    if not set(op.param_names) <= {"weight", "bias"}:
        return None
    if op.batch_size_fn is not None:
        # user-defined batch weights c_b: the closed form weights samples by the loss's own
        # terms only, so leave such objectives to the generic path
        return None
    xs, ys = [], []
    for _, (x, y), _ in op.batches():
        if not isinstance(x, torch.Tensor) or x.ndim != 2 or y.ndim != 1 or y.is_floating_point():
            return None
        xs.append(x)
        ys.append(y)
    X, y = torch.cat(xs), torch.cat(ys)
    w = (y != loss_fn.ignore_index).to(op.dtype)
    if loss_fn.weight is not None:
        cw = loss_fn.weight.to(device=op.device, dtype=op.dtype)
        w = w * cw[y.clamp(0, cw.shape[0] - 1)]
    if op.reduction == "mean":
        w = w / op.total_terms
    params = op.point()  # the operator's snapshot, in its dtype and device
    W, b = params["weight"], params.get("bias")
    H = softmax_regression_hessian(X, W, b, sample_weight=w)
    if list(op.param_names) == [n for n in ("weight", "bias") if n in params]:
        return H
    C, d = W.shape
    idx = {"weight": torch.arange(C * d), "bias": C * d + torch.arange(C)}
    sel = torch.cat([idx[n] for n in op.param_names]).to(op.device)
    return H[sel][:, sel].contiguous()
