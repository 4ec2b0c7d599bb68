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
* The structured per-layer forward-over-reverse HVP of plain ``nn.Sequential`` models lives in
  :mod:`hessrmt.curvature.structured`.

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
        # one column: plain tensors of the leaves' shapes (see double_backward_products)
        vs = [V[n][0] if k == 1 else V[n] for n in names]
        hv = double_backward_products(value, leaves, vs, k)
        if k == 1:
            hv = [None if h is None else h.unsqueeze(0) for h in hv]
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
