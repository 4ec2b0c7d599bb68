"""Structured Hessian-vector products: forward-over-reverse written out per layer.

For a plain ``torch.nn.Sequential`` of standard layers (:func:`sequential_plan` lists which) and
cross-entropy or MSE, :func:`sequential_hvp` computes H V of one batch's loss with plain tensor
algebra: a forward pass carrying each layer's output z and its tangent dz, the loss gradient g and
its tangent dg, and a backward pass that forms, for a layer z = f(a, W),
(HV)_W = J_W f^T dg + (d J_W f^T / dt) g (Pearlmutter 1994, "Fast exact multiplication by the
Hessian", Neural Computation 6(1)). No autograd graph is recorded and no weight gradient is
formed, so one HVP costs about two gradients: on this project's CPU 1.8-2.2 plain reverse-mode
gradients against 2.4-2.9 for autograd's double backward
(:data:`hessrmt.curvature.engines.AUTO_RULE`).

Anything outside the plan (BatchNorm, custom modules, hooks, shared parameters, other losses)
makes :func:`sequential_plan` return None, and :mod:`hessrmt.curvature.operators` uses the
autograd paths of :mod:`hessrmt.curvature.functional`; an input the per-layer rules do not cover
at run time raises :class:`StructuredUnsupported` and the operator falls back likewise. Exactness
is tested against ``torch.func.hessian`` for every layer type (``tests/curvature``).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import torch


class StructuredUnsupported(Exception):
    """Raised by :func:`sequential_hvp` on an input it does not handle (the caller falls back)."""


_ELEMENTWISE = (torch.nn.ReLU, torch.nn.Tanh, torch.nn.Sigmoid)
_PASS_THROUGH = (torch.nn.Identity, torch.nn.Dropout)


def _leaf_layers(model: torch.nn.Module, prefix: str = "") -> list[tuple[str, torch.nn.Module]]:
    out: list[tuple[str, torch.nn.Module]] = []
    for name, child in model.named_children():
        full = f"{prefix}{name}"
        if type(child) is torch.nn.Sequential:
            out += _leaf_layers(child, full + ".")
        else:
            out.append((full, child))
    return out


def _has_hooks(m: torch.nn.Module) -> bool:
    return bool(
        m._forward_hooks
        or m._forward_pre_hooks
        or getattr(m, "_backward_hooks", None)
        or getattr(m, "_backward_pre_hooks", None)
    )


def sequential_plan(
    model: torch.nn.Module, loss_fn: Any, mode: str
) -> list[tuple[str, torch.nn.Module]] | None:
    """The layers of ``model`` if :func:`sequential_hvp` computes its exact HVP, else None.

    Supported: a plain ``torch.nn.Sequential`` (nested plain Sequentials are flattened), or a
    bare ``Linear`` or ``Conv2d``, of
    exactly these module types (subclasses may override ``forward``, so they are excluded):
    ``Linear``, ``Conv2d`` (zero padding given as integers), ``ReLU``, ``Tanh``, ``Sigmoid``,
    ``MaxPool2d``, ``Flatten`` (``start_dim=1, end_dim=-1``), ``Identity`` and ``Dropout``
    (inactive: eval mode or p = 0); no module hooks, no module used twice, no shared parameters;
    the loss ``CrossEntropyLoss`` (class-index targets; class weights and ``ignore_index``
    allowed, no label smoothing) or ``MSELoss``, with mean or sum reduction. Anything else
    (BatchNorm, custom modules, other losses) returns None and the autograd paths are used.
    """
    if _has_hooks(model):
        return None
    if type(model) is torch.nn.Sequential:
        layers = _leaf_layers(model)
    elif type(model) in (torch.nn.Linear, torch.nn.Conv2d):
        layers = [("", model)]  # a one-layer model (e.g. softmax regression)
    else:
        return None
    if torch.nn.modules.module._global_forward_hooks or getattr(
        torch.nn.modules.module, "_global_forward_pre_hooks", None
    ):
        return None
    if type(loss_fn) is torch.nn.CrossEntropyLoss:
        if loss_fn.label_smoothing != 0.0 or loss_fn.reduction not in ("mean", "sum"):
            return None
    elif type(loss_fn) is torch.nn.MSELoss:
        if loss_fn.reduction not in ("mean", "sum"):
            return None
    else:
        return None
    if not layers or len({id(m) for _, m in layers}) != len(layers):
        return None
    if len(dict(model.named_parameters(remove_duplicate=False))) != len(
        dict(model.named_parameters())
    ):
        return None
    for _, m in layers:
        t = type(m)
        if _has_hooks(m):
            return None
        if t is torch.nn.Linear or t in _ELEMENTWISE or t is torch.nn.Identity:
            continue
        if t is torch.nn.Dropout:
            if m.p > 0 and mode == "train":
                return None
            continue
        if t is torch.nn.Flatten:
            if m.start_dim != 1 or m.end_dim != -1:
                return None
            continue
        if t is torch.nn.Conv2d:
            if m.padding_mode != "zeros" or isinstance(m.padding, str):
                return None
            continue
        if t is torch.nn.MaxPool2d:
            if m.return_indices:
                return None
            continue
        return None
    return layers


def _cols_times(X: torch.Tensor, W: torch.Tensor) -> torch.Tensor:
    """(K, B, n) @ (n, m) -> (K, B, m) as one 2-D product (a view for K = 1)."""
    K, B, n = X.shape
    return (X.reshape(K * B, n) @ W).view(K, B, -1)


#: :func:`_times_rows_t` multiplies by the K matrices of M one by one (a batched product on
#: M's own strides) from this many entries per matrix on, and as ONE 2-D product of (B, n) by
#: (n, K m) below it. Measured (one thread, minima): MLP 20-1000-1000-4 layers, (16, 1000) by
#: (1000, 1000) x 10 in float32: 7.4 ms batched against 11.1 ms as one product on a contiguous
#: M (and 25 ms more to make a strided M contiguous); (128, 64) by (10, 64) x 10 in float64:
#: 0.12 ms batched, 0.04 ms as one product; both equal at (128, 256) by (256, 256) x 10.
BATCHED_ROWS_MIN = 1 << 16


def _times_rows_t(A: torch.Tensor, M: torch.Tensor) -> torch.Tensor:
    """(B, n) @ M[j]^T for M of shape (K, m, n) -> (K, B, m).

    M may be a strided view (e.g. one parameter's rows of a (K, P) block): large matrices are
    multiplied one by one on their own strides (no copy of M), small ones as one 2-D product
    (see :data:`BATCHED_ROWS_MIN`); the arithmetic per entry is the same dot product.
    """
    K, m, n = M.shape
    if m * n >= BATCHED_ROWS_MIN:
        return torch.bmm(A.expand(K, *A.shape), M.transpose(1, 2))
    return (A @ M.reshape(K * m, n).T).view(A.shape[0], K, m).transpose(0, 1)


def _conv(
    m: torch.nn.Conv2d, inp: torch.Tensor, w: torch.Tensor, b: torch.Tensor | None = None
) -> torch.Tensor:
    return torch.nn.functional.conv2d(inp, w, b, m.stride, m.padding, m.dilation, m.groups)


def _conv_bwd(
    m: torch.nn.Conv2d, go: torch.Tensor, inp: torch.Tensor, w: torch.Tensor, mask: Any
) -> Any:
    """(input adjoint, weight adjoint, -) of ``_conv(m, inp, w)`` for the output adjoint ``go``."""
    return torch.ops.aten.convolution_backward(
        go, inp, w, None, m.stride, m.padding, m.dilation, False, [0, 0], m.groups, mask
    )


def _loss_grads(
    loss_fn: Any, z: torch.Tensor, dz: torch.Tensor | None, y: Any
) -> tuple[torch.Tensor, torch.Tensor | None]:
    """g = dl/dz and its tangent dg = (d^2 l/dz^2) dz (columns along dim 0 of dz)."""
    if type(loss_fn) is torch.nn.CrossEntropyLoss:
        if z.ndim != 2 or not isinstance(y, torch.Tensor) or y.ndim != 1 or y.is_floating_point():
            raise StructuredUnsupported("cross-entropy needs (B, C) logits and class indices")
        y = y.long()  # the loss also takes uint8 class indices; indexing needs int64
        valid = y != loss_fn.ignore_index
        p = torch.softmax(z, dim=1)
        B = z.shape[0]
        s: float | torch.Tensor  # the weight of each sample's term in the batch loss
        if loss_fn.weight is None and z.device.type == "cpu" and bool(valid.all()):
            # every target counts once: the weight is one number (no per-sample scaling)
            s = 1.0 / B if loss_fn.reduction == "mean" else 1.0
            neg_s = p.new_full((B, 1), -s)
        else:
            y = torch.where(valid, y, torch.zeros_like(y))
            s = valid.to(z.dtype)
            if loss_fn.weight is not None:
                s = s * loss_fn.weight.to(device=z.device, dtype=z.dtype)[y]
            if loss_fn.reduction == "mean":
                s = s / s.sum()
            s = s[:, None]
            neg_s = -s
        g = (p * s).scatter_add_(1, y[:, None], neg_s)  # s (p - onehot(y))
        if dz is None:
            return g, None
        pd = p * dz  # (K, B, C): softmax Jacobian diag(p) - p p^T applied to dz
        return g, pd.sub_(p * pd.sum(-1, keepdim=True)).mul_(s)
    if not isinstance(y, torch.Tensor) or y.shape != z.shape:
        raise StructuredUnsupported("MSE needs targets of the output's shape")
    scale = 2.0 / z.numel() if loss_fn.reduction == "mean" else 2.0
    return (z - y) * scale, None if dz is None else dz * scale


def sequential_hvp(
    layers: Sequence[tuple[str, torch.nn.Module]],
    loss_fn: Any,
    params: Mapping[str, torch.Tensor],
    V: Mapping[str, torch.Tensor],
    x: torch.Tensor,
    y: Any,
    *,
    out: Mapping[str, torch.Tensor] | None = None,
    alpha: float = 1.0,
) -> dict[str, torch.Tensor]:
    """H V of the batch loss ``loss_fn(model(x), y)`` for a model planned by
    :func:`sequential_plan`, by forward-over-reverse written out per layer (Pearlmutter 1994).

    Forward: each layer's output z and its tangent dz = J_theta z V + J_a z da (columns of V
    along a leading dimension K). Loss: g = dl/dz and dg = (d^2 l / dz^2) dz. Backward: for a
    layer z = f(a, W), H V restricted to W is d/dt [J_W f^T g] = J_W f^T dg + (d J_W f^T / dt) g,
    e.g. for ``Linear`` (z = a W^T + b): (HV)_W = dg^T a + g^T da, (HV)_b = sum dg, and the
    adjoints move down as g <- g W, dg <- dg W + g dW. Only what the selected parameters need is
    computed (no weight gradients, no backward below the first selected layer). Everything is
    plain tensor algebra under ``no_grad``: no autograd graph is recorded.

    Args:
        layers: from :func:`sequential_plan`.
        params: every parameter of the model by its full name (selected and frozen).
        V: the selected parameters' directions, ``{name: (K, *shape)}``.
        x, y: one batch.
        out: optional destinations ``{name: (K, *shape)}`` for every name in ``V``; the
            products are ADDED into them, times ``alpha`` (no temporaries of the block's size:
            this is how the operator accumulates sum_b w_b H_b V). New zero tensors if None.
        alpha: the factor of the added products (the batch weight w_b).

    Returns:
        ``out`` (``{name: (K, *shape)}`` for every name in ``V``): the per-batch H V of
        loss_fn's own reduction, times ``alpha``, added to what ``out`` held.

    Raises:
        StructuredUnsupported: an input the per-layer rules do not cover (e.g. a ``Linear`` on a
            3-D input); the caller then uses autograd.
    """
    K = next(iter(V.values())).shape[0]
    keys = [(f"{n}.weight", f"{n}.bias") if n else ("weight", "bias") for n, _ in layers]
    selected = [any(k in V for k in ks) for ks in keys]
    if not any(selected):
        raise StructuredUnsupported("no selected parameter belongs to a planned layer")
    first = selected.index(True)
    if out is None:
        out = {n: torch.zeros_like(v) for n, v in V.items()}
    saved: list[Any] = []
    a: torch.Tensor = x
    da: torch.Tensor | None = None  # (K, *a.shape) or None (zero)

    with torch.no_grad():
        for (_, m), (wk, bk) in zip(layers, keys):
            t = type(m)
            if t is torch.nn.Linear:
                if a.ndim != 2:
                    raise StructuredUnsupported("Linear on a non-2-D input")
                W, b = params[wk], params.get(bk)
                dW, db = V.get(wk), V.get(bk)
                z = torch.nn.functional.linear(a, W, b)
                dz = None if da is None else _cols_times(da, W.T)
                if dW is not None:
                    tw = _times_rows_t(a, dW)
                    dz = tw if dz is None else dz.add_(tw)
                if db is not None:
                    dz = (
                        db[:, None, :].expand(K, *z.shape).clone()
                        if dz is None
                        else dz.add_(db[:, None, :])
                    )
                saved.append((a, da))
            elif t is torch.nn.Conv2d:
                if a.ndim != 4:
                    raise StructuredUnsupported("Conv2d on a non-batched input")
                W, b = params[wk], params.get(bk)
                dW, db = V.get(wk), V.get(bk)
                tw = None
                if dW is not None and m.groups == 1:  # one call for W and all dW_j (shared input)
                    out_ch = W.shape[0]
                    zz = _conv(m, a, torch.cat([W, dW.flatten(0, 1)]))
                    z = zz[:, :out_ch] if b is None else zz[:, :out_ch] + b[:, None, None]
                    tw = zz[:, out_ch:].unflatten(1, (K, out_ch)).transpose(0, 1)
                else:
                    z = _conv(m, a, W, b)
                    if dW is not None:
                        tw = torch.stack([_conv(m, a, dW[j]) for j in range(K)])
                dz = None if da is None else _conv(m, da.flatten(0, 1), W).view(K, *z.shape)
                if tw is not None:
                    dz = tw.contiguous() if dz is None else dz.add_(tw)
                if db is not None:
                    tb = db[:, None, :, None, None]
                    dz = tb.expand(K, *z.shape).clone() if dz is None else dz.add_(tb)
                saved.append((a, da))
            elif t is torch.nn.ReLU:
                mask = a > 0
                z = torch.relu(a)
                dz = None if da is None else da * mask
                saved.append(mask)
            elif t is torch.nn.Tanh or t is torch.nn.Sigmoid:
                z = torch.tanh(a) if t is torch.nn.Tanh else torch.sigmoid(a)
                slope = 1.0 - z * z if t is torch.nn.Tanh else z * (1.0 - z)
                dz = None if da is None else da * slope
                saved.append((z, slope, dz))
            elif t is torch.nn.MaxPool2d:
                if a.ndim != 4:
                    raise StructuredUnsupported("MaxPool2d on a non-batched input")
                z, idx = torch.nn.functional.max_pool2d(
                    a, m.kernel_size, m.stride, m.padding, m.dilation, m.ceil_mode, True
                )
                dz = None
                if da is not None:
                    flat = idx.flatten(2).expand(K, *idx.shape[:2], -1)
                    dz = da.flatten(3).gather(3, flat).view(K, *z.shape)
                saved.append((a.shape, idx))
            elif t is torch.nn.Flatten:
                z = a.flatten(1)
                dz = None if da is None else da.flatten(2)
                saved.append(a.shape)
            else:  # Identity, inactive Dropout
                z, dz = a, da
                saved.append(None)
            a, da = z, dz

        g, dg = _loss_grads(loss_fn, a, da, y)

        for i in range(len(layers) - 1, first - 1, -1):
            m = layers[i][1]
            t = type(m)
            wk, bk = keys[i]
            propagate = i > first
            if t is torch.nn.Linear:
                ai, dai = saved[i]
                W = params[wk]
                dW = V.get(wk)
                if wk in V:  # (HV)_W = dg^T a + g^T da
                    o = out[wk]
                    B, (mo, ni) = ai.shape[0], o.shape[1:]
                    if dai is not None and mo * ni > 2 * B * (mo + ni):
                        # one product [dg, g]^T [a, da] over 2B rows: one pass over the
                        # (m, n) result instead of two, for results larger than the operands
                        lhs = torch.cat([dg, g.expand(K, *g.shape)], dim=1)
                        rhs = torch.cat([ai.expand(K, *ai.shape), dai], dim=1)
                        o.baddbmm_(lhs.transpose(1, 2), rhs, alpha=alpha)
                    else:
                        o.baddbmm_(dg.transpose(1, 2), ai.expand(K, *ai.shape), alpha=alpha)
                        if dai is not None:
                            o.baddbmm_(g.T.expand(K, *g.T.shape), dai, alpha=alpha)
                if bk in V:
                    out[bk].add_(dg.sum(1), alpha=alpha)
                if propagate:  # g <- g W, dg <- dg W + g dW
                    ng = g @ W
                    dg = _cols_times(dg, W)
                    if dW is not None:
                        dg.baddbmm_(g.expand(K, *g.shape), dW)
                    g = ng
            elif t is torch.nn.Conv2d:
                ai, dai = saved[i]
                W = params[wk]
                dW = V.get(wk)
                if K == 1 and propagate and dai is not None:
                    # one call on the batch [dg; g] at the inputs [a; da]: its input adjoints
                    # are dg W and g W (the new g), its weight adjoint dg^T a + g^T da = (HV)_W
                    B = g.shape[0]
                    gi, gw, _ = _conv_bwd(
                        m, torch.cat([dg[0], g]), torch.cat([ai, dai[0]]), W, (True, wk in V, False)
                    )
                    if wk in V:
                        out[wk][0].add_(gw, alpha=alpha)
                    if bk in V:
                        out[bk].add_(dg.sum((1, 3, 4)), alpha=alpha)
                    ndg0 = gi[:B]
                    if dW is not None:
                        ndg0 = ndg0 + _conv_bwd(m, g, ai, dW[0], (True, False, False))[0]
                    g, dg = gi[B:], ndg0[None]
                    continue
                ng = _conv_bwd(m, g, ai, W, (True, False, False))[0] if propagate else None
                ndg = []
                # one column at a time (the weight products sum over B); nothing to do for a
                # frozen weight below which nothing is selected
                for j in range(K if propagate or wk in V else 0):
                    gi, gw, _ = _conv_bwd(m, dg[j], ai, W, (propagate, wk in V, False))
                    if wk in V:  # (HV)_W = W-adjoint of dg at a + W-adjoint of g at da
                        if dai is not None:
                            gw = gw + _conv_bwd(m, g, dai[j], W, (False, True, False))[1]
                        out[wk][j].add_(gw, alpha=alpha)
                    if propagate:  # dg <- input-adjoint of dg through W + of g through dW
                        if dW is not None:
                            gi = gi + _conv_bwd(m, g, ai, dW[j], (True, False, False))[0]
                        ndg.append(gi)
                if bk in V:
                    out[bk].add_(dg.sum((1, 3, 4)), alpha=alpha)
                if propagate:
                    g, dg = ng, torch.stack(ndg)
            elif t is torch.nn.ReLU:
                mask = saved[i]
                g, dg = g * mask, dg * mask
            elif t is torch.nn.Tanh or t is torch.nn.Sigmoid:
                z, slope, dz = saved[i]
                ng = g * slope
                if dz is not None:  # d(slope)/dt = -2 z dz (tanh), (1 - 2 z) dz (sigmoid)
                    dslope = -2.0 * z * dz if t is torch.nn.Tanh else (1.0 - 2.0 * z) * dz
                    dg = dg * slope + g * dslope
                else:
                    dg = dg * slope
                g = ng
            elif t is torch.nn.MaxPool2d:
                shape, idx = saved[i]
                flat = idx.flatten(2)
                ng = g.new_zeros(*shape[:2], shape[2] * shape[3]).scatter_add_(
                    2, flat, g.flatten(2)
                )
                ndg = dg.new_zeros(K, *shape[:2], shape[2] * shape[3]).scatter_add_(
                    3, flat.expand(K, *flat.shape), dg.flatten(3)
                )
                g, dg = ng.view(shape), ndg.view(K, *shape)
            elif t is torch.nn.Flatten:
                shape = saved[i]
                g, dg = g.view(shape), dg.reshape(K, *shape)
    return dict(out)
