"""Pure functional building blocks of the curvature operators (no data iteration here).

Everything works on a dict ``theta`` of parameter tensors (name -> tensor) and blocks of k vectors
stored as a dict of tensors with a leading column dimension (name -> (k, *shape)); the operators in
:mod:`hessrmt.curvature.operators` move between that layout and the flat (P, k) layout of
:class:`hessrmt.curvature.linop.CurvatureOperator` with :func:`unflatten_block` and
:func:`flatten_block`.

Curvature-vector products for one batch and a scalar objective f(theta):

* :func:`hvp_forward_over_reverse`: H v = d/dt grad f(theta + t v) at t = 0, i.e.
  ``torch.func.jvp(torch.func.grad(f), theta, v)``, vmapped over the k columns (one batched pass
  through the data serves all of them; Pearlmutter 1994, the curvlinops design).
* :func:`hvp_double_backward`: H v = grad_theta <grad_theta f, v>, by reverse-over-reverse
  (``torch.autograd.grad`` twice, the second with ``is_grads_batched=True``).
* :func:`ggn_product`: G v = J^T (d^2 l / d f^2) J v for a model output f(theta) and a loss l(f)
  (Schraudolph 2002), with J v by ``jvp``, the loss Hessian with respect to the output by
  double backward on l, and J^T u by ``vjp``; exact for any twice-differentiable loss.
* :func:`sequential_hvp`: H V for a plain ``nn.Sequential`` of standard layers (see
  :func:`sequential_plan`) and cross-entropy or MSE, by forward-over-reverse written out per
  layer with plain tensor algebra: no autograd graph, no weight gradients, every product a 2-D
  matrix product. On this project's CPU one HVP costs 1.8-2.2 plain reverse-mode gradients,
  against 2.4-2.9 for autograd's double backward (see ``operators.AUTO_RULE``).

The residual term of the Pennington-Bahri decomposition H = H0 + H1,
H1 = sum_k (dl/df_k) d^2 f_k / dtheta^2, is the Hessian of the scalar <stop_grad(dl/df), f(theta)>,
so it goes through the same HVP functions (see :func:`residual_objective`).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import torch
from torch.func import grad, jvp, vjp, vmap

from hessrmt.errors import InputError

Params = dict[str, torch.Tensor]
#: How ``vmap`` treats random operations (dropout): "error" unless a seed fixes the masks.
Randomness = str

HVP_STRATEGIES = ("double-backward", "forward-over-reverse")


# --------------------------------------------------------------------------------------------
# Parameter selection and the flat <-> dict layout
# --------------------------------------------------------------------------------------------


def select_parameters(
    names: Sequence[str], params: str | re.Pattern[str] | Sequence[str] | None
) -> list[str]:
    """The selected parameter names, in the order of ``names`` (the model's order).

    Args:
        names: the trainable parameter names, in model order.
        params: ``None`` (all), a regular expression matched with :func:`re.search` against each
            name (e.g. ``"^fc\\."`` or ``"weight$"``), or an explicit list of names.

    Raises:
        InputError: nothing selected, an unknown or duplicated name.
    """
    names = list(names)
    if not names:
        raise InputError(
            "the model has no trainable parameters (all have requires_grad=False); "
            "enable requires_grad on the parameters whose curvature you want"
        )
    if params is None:
        return names
    if isinstance(params, (str, re.Pattern)):
        try:
            pattern = re.compile(params)
        except re.error as exc:
            raise InputError(f"params={params!r} is not a valid regular expression: {exc}") from exc
        chosen = [n for n in names if pattern.search(n)]
        if not chosen:
            raise InputError(
                f"params={pattern.pattern!r} matches no trainable parameter; names are {names}"
            )
        return chosen
    wanted = list(params)
    if not all(isinstance(w, str) for w in wanted):
        raise InputError("params must be None, a regular expression, or a list of parameter names")
    if len(set(wanted)) != len(wanted):
        raise InputError(f"params lists a name twice: {wanted}")
    unknown = [w for w in wanted if w not in names]
    if unknown:
        raise InputError(f"unknown parameter name(s) {unknown}; trainable parameters are {names}")
    if not wanted:
        raise InputError("params is an empty list; select at least one parameter")
    chosen_set = set(wanted)
    return [n for n in names if n in chosen_set]


def unflatten_block(
    V: torch.Tensor, names: Sequence[str], shapes: Sequence[torch.Size]
) -> dict[str, torch.Tensor]:
    """Split a (P, k) block into ``{name: (k, *shape)}`` (parameter order = ``names``)."""
    k = V.shape[1]
    rows = V.T
    out: dict[str, torch.Tensor] = {}
    start = 0
    for name, shape in zip(names, shapes):
        n = shape.numel()
        out[name] = rows[:, start : start + n].reshape(k, *shape)
        start += n
    return out


def flatten_block(block: Mapping[str, torch.Tensor], names: Sequence[str]) -> torch.Tensor:
    """Inverse of :func:`unflatten_block`: ``{name: (k, *shape)}`` -> (k, P) (rows = columns)."""
    return torch.cat([block[n].reshape(block[n].shape[0], -1) for n in names], dim=1)


# --------------------------------------------------------------------------------------------
# Loss reduction and exact batch weights
# --------------------------------------------------------------------------------------------

_ELEMENTWISE_LOSSES = (
    torch.nn.MSELoss,
    torch.nn.L1Loss,
    torch.nn.SmoothL1Loss,
    torch.nn.HuberLoss,
    torch.nn.BCELoss,
    torch.nn.BCEWithLogitsLoss,
    torch.nn.SoftMarginLoss,
    torch.nn.PoissonNLLLoss,
)


def detect_reduction(loss_fn: Callable[..., torch.Tensor], reduction: str | None) -> str:
    """The reduction of ``loss_fn``: its ``reduction`` attribute (torch.nn losses), else the
    explicit ``reduction`` argument, else ``"mean"``.

    Returns one of ``"mean"``, ``"sum"``, ``"batchmean"`` (KLDivLoss).

    Raises:
        InputError: ``reduction="none"`` (the operator needs a scalar loss), an unknown value, or an
            explicit ``reduction`` that contradicts the loss module's own.
    """
    own = getattr(loss_fn, "reduction", None)
    if own is not None and reduction is not None and own != reduction:
        raise InputError(
            f"reduction={reduction!r} contradicts loss_fn.reduction={own!r}; drop the argument "
            "or build the loss with the reduction you want"
        )
    red = own if own is not None else (reduction if reduction is not None else "mean")
    if red not in ("mean", "sum", "batchmean"):
        raise InputError(
            f"loss reduction {red!r} is not supported; use a scalar loss with reduction 'mean' "
            "or 'sum'"
        )
    return red


def num_loss_terms(
    loss_fn: Callable[..., torch.Tensor],
    reduction: str,
    outputs: torch.Tensor,
    targets: Any,
    batch_size: int,
) -> float:
    """How many terms a mean-reduced ``loss_fn`` averages over in one batch (its normaliser).

    The full-data mean is then sum_b (c_b / sum_b' c_b') L_b exactly, where L_b is the batch loss
    and c_b this count. For the usual per-sample losses c_b is proportional to the batch size n_b.

    * CrossEntropyLoss / NLLLoss with class-index targets: the number of targets that are not
      ``ignore_index``, each counted with its class weight when ``weight`` is set (PyTorch's
      weighted mean); with probability targets: the number of samples (times spatial positions).
    * Element-wise losses (MSE, L1, Huber, BCE, ...): the number of elements averaged.
    * KLDivLoss with ``"batchmean"``: the batch size.
    * Anything else (custom callables): the batch size ``batch_size`` (mean over samples).
    """
    if reduction == "sum":
        return 1.0
    if isinstance(loss_fn, (torch.nn.CrossEntropyLoss, torch.nn.NLLLoss)):
        if isinstance(targets, torch.Tensor) and not targets.is_floating_point():
            mask = targets != loss_fn.ignore_index
            if loss_fn.weight is not None:
                w = loss_fn.weight.to(targets.device)[targets[mask].long()]  # uint8: not a mask
                return float(w.double().sum())
            return float(mask.sum())
        return float(outputs.numel() / outputs.shape[1]) if outputs.ndim > 1 else 1.0
    if isinstance(loss_fn, _ELEMENTWISE_LOSSES) and isinstance(targets, torch.Tensor):
        return float(torch.broadcast_shapes(outputs.shape, targets.shape).numel())
    if isinstance(loss_fn, torch.nn.KLDivLoss):
        if reduction == "batchmean":
            return float(outputs.shape[0]) if outputs.ndim else 1.0
        return float(torch.broadcast_shapes(outputs.shape, targets.shape).numel())
    return float(batch_size)


# --------------------------------------------------------------------------------------------
# Curvature-vector products for one batch
# --------------------------------------------------------------------------------------------


def hvp_forward_over_reverse(
    f: Callable[[Params], torch.Tensor],
    theta: Params,
    V: Mapping[str, torch.Tensor],
    *,
    randomness: Randomness = "error",
) -> dict[str, torch.Tensor]:
    """H V for the scalar ``f`` at ``theta``: ``jvp(grad(f))`` vmapped over the k columns of V.

    Args:
        f: scalar objective of a parameter dict.
        theta: point of evaluation (plain tensors; no ``requires_grad`` needed).
        V: block of directions, ``{name: (k, *shape)}``.
        randomness: passed to :func:`torch.func.vmap` ("same" shares a dropout mask across columns).
    """
    grad_f = grad(f)

    def one(v: Params) -> Params:
        return jvp(grad_f, (theta,), (v,))[1]

    return vmap(one, randomness=randomness)(dict(V))


def double_backward_products(
    value: torch.Tensor,
    leaves: Sequence[torch.Tensor],
    V: Sequence[torch.Tensor],
    k: int,
) -> list[torch.Tensor | None]:
    """H V of the scalar ``value`` with respect to the leaf tensors ``leaves``, by double backward.

    ``value`` must have been computed from ``leaves`` (tensors with ``requires_grad``) with grad
    mode on. grad f is built with ``create_graph=True``; then ``autograd.grad(grad f, leaves,
    V)`` gives sum_j (d g_j / d theta) V_j = H V by symmetry of H (Pearlmutter 1994). For
    ``k == 1`` the V tensors have the shapes of the leaves and one plain second backward pass runs
    (the batched one costs 1.2-1.6x more for one column); for ``k > 1`` they carry a leading
    column dimension, (k, *shape), and the second pass is batched (``is_grads_batched=True``).

    Returns one tensor per leaf (shape of ``V``'s entry), or ``None`` where the gradient does not
    depend on that leaf (a zero block; e.g. parameters unused by the loss, or a loss linear in
    them). Nothing is retained: both graphs are freed on return.
    """
    gs = torch.autograd.grad(value, list(leaves), create_graph=True, allow_unused=True)
    pairs = [(g, v) for g, v in zip(gs, V) if g is not None and g.requires_grad]
    if not pairs:
        return [None] * len(leaves)
    hv = torch.autograd.grad(
        [g for g, _ in pairs],
        list(leaves),
        grad_outputs=[v for _, v in pairs],
        is_grads_batched=k > 1,
        allow_unused=True,
    )
    return list(hv)


def hvp_double_backward(
    f: Callable[[Params], torch.Tensor], theta: Params, V: Mapping[str, torch.Tensor]
) -> dict[str, torch.Tensor]:
    """H V for the scalar ``f`` at ``theta`` by double backward, all k columns in one batched pass.

    grad f is built with ``create_graph=True``; then ``autograd.grad(grad f, theta, V,
    is_grads_batched=True)`` gives sum_j (d g_j / d theta) V_j = H V by symmetry of H (see
    :func:`double_backward_products`). Parameters on which the gradient does not depend
    contribute zero rows.
    """
    names = list(theta)
    leaves = [theta[n].detach().requires_grad_(True) for n in names]
    k = next(iter(V.values())).shape[0]
    with torch.enable_grad():
        value = f(dict(zip(names, leaves)))
        if k == 1:
            hv1 = double_backward_products(value, leaves, [V[n][0] for n in names], 1)
            hv = [None if h is None else h.unsqueeze(0) for h in hv1]
        else:
            hv = double_backward_products(value, leaves, [V[n] for n in names], k)
    return {
        n: (
            h.detach()
            if h is not None
            else torch.zeros(k, *theta[n].shape, dtype=theta[n].dtype, device=theta[n].device)
        )
        for n, h in zip(names, hv)
    }


def ggn_product(
    output_of: Callable[[Params], torch.Tensor],
    loss_of_output: Callable[[torch.Tensor], torch.Tensor],
    theta: Params,
    V: Mapping[str, torch.Tensor],
    *,
    randomness: Randomness = "error",
) -> dict[str, torch.Tensor]:
    """Generalised Gauss-Newton product G V = J^T (d^2 l / d f^2) J V for one batch.

    f = ``output_of(theta)`` (a tensor), l = ``loss_of_output(f)`` (a scalar), J = df/dtheta.
    J V by ``jvp`` (vmapped), the output-space Hessian product by double backward on l at f
    (robust for losses whose output Hessian is constant, like MSE), and J^T U by one ``vjp``
    closure applied to all columns (vmapped).
    """
    out, vjp_fn = vjp(output_of, theta)
    out = out.detach()

    def jv(v: Params) -> torch.Tensor:
        return jvp(output_of, (theta,), (v,))[1]

    JV = vmap(jv, randomness=randomness)(dict(V))
    HJV = hvp_double_backward(lambda o: loss_of_output(o["f"]), {"f": out}, {"f": JV})["f"]
    return vmap(vjp_fn)(HJV)[0]


def residual_objective(
    output_of: Callable[[Params], torch.Tensor],
    loss_of_output: Callable[[torch.Tensor], torch.Tensor],
    theta: Params,
) -> Callable[[Params], torch.Tensor]:
    """The scalar theta -> <r, f(theta)> with r = dl/df at the current point held fixed.

    Its Hessian at ``theta`` is the residual term H1 = sum_k r_k d^2 f_k / dtheta^2 of
    H = J^T (d^2 l/df^2) J + H1 (Pennington & Bahri 2017, eq. 3).
    """
    with torch.no_grad():
        out0 = output_of({n: t.detach() for n, t in theta.items()})
    r = grad(loss_of_output)(out0.detach()).detach()

    def s(params: Params) -> torch.Tensor:
        return (r * output_of(params)).sum()

    return s


# --------------------------------------------------------------------------------------------
# Structured forward-over-reverse HVP for plain sequential models (no autograd graph)
# --------------------------------------------------------------------------------------------


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
        if loss_fn.weight is None and z.device.type == "cpu" and bool(valid.all()):
            # every target counts once: the normaliser is a number (no per-sample scaling)
            c = 1.0 / B if loss_fn.reduction == "mean" else 1.0
            g = (p * c).scatter_add_(1, y[:, None], p.new_full((B, 1), -c))
            if dz is None:
                return g, None
            pd = p * dz  # (K, B, C): softmax Jacobian diag(p) - p p^T applied to dz
            return g, pd.sub_(p * pd.sum(-1, keepdim=True)).mul_(c)
        yc = torch.where(valid, y, torch.zeros_like(y))
        s = valid.to(z.dtype)
        if loss_fn.weight is not None:
            s = s * loss_fn.weight.to(device=z.device, dtype=z.dtype)[yc]
        if loss_fn.reduction == "mean":
            s = s / s.sum()
        s = s[:, None]
        g = (p * s).scatter_add_(1, yc[:, None], -s)
        if dz is None:
            return g, None
        pd = p * dz
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
                for j in range(K):  # one column at a time: the weight products sum over B
                    if not (propagate or wk in V):
                        break
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
