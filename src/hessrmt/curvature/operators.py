"""Hessian, generalised Gauss-Newton and residual operators of a full-data loss.

The objective is the loss over ALL the data, as ``loss_fn`` defines it::

    mean reduction:  L(theta) = sum_b (c_b / C) L_b(theta),   C = sum_b c_b
    sum reduction:   L(theta) = sum_b L_b(theta)

where L_b is ``loss_fn(model(x_b), y_b)`` on batch b and c_b the number of terms ``loss_fn``
averages over in that batch (the batch size for per-sample losses; see
:func:`hessrmt.curvature.functional.num_loss_terms` for class weights, ``ignore_index`` and
element-wise losses). So uneven batches are weighted exactly, and the operator does not depend on
how the data is cut into batches (in eval mode).

Operators (all symmetric P x P, P = number of selected parameters):

* :class:`HessianOperator`: H = d^2 L / dtheta^2.
* :class:`GGNOperator`: H0 = sum_b w_b J_b^T (d^2 l_b / df^2) J_b, the Gauss-Newton part.
* :class:`ResidualOperator`: H1 = sum_b w_b sum_k (dl_b/df_k) d^2 f_k / dtheta^2, computed
  directly as the Hessian of <stop_grad(dl/df), f>; H = H0 + H1 (Pennington & Bahri 2017).

Parameter ordering is that of ``torch.nn.utils.parameters_to_vector(model.parameters())``
restricted to the selected parameters (model order, whatever order ``select`` lists them in).

Names: ``select`` is always the SELECTION of parameters (None, a regex or a list of names);
the point at which the curvature is taken is the model's parameters, or ``point`` in
:meth:`HessianOperator.from_function` / ``from_functions``. (``params=`` is the old name of
``select`` and still accepted, with a DeprecationWarning.) ``dtype=None`` (default) computes in
the dtype of the parameters; float16 and bfloat16 are refused (too few digits for curvature:
pass ``dtype=torch.float32``, which casts).

Example::

    H = HessianOperator(model, torch.nn.CrossEntropyLoss(), batches, dtype=torch.float64)
    H.shape, H.conventions()["loss_reduction"]                          # (P, P), "mean"
    HV = H @ V                                                          # V: (P, k), one data pass
    G = GGNOperator(model, loss_fn, batches, select="^fc")             # last layer only
    (H - G) @ v, 2 * H @ v, H.T is H                                    # operator algebra

How H V is computed (``hvp=``, recorded in :meth:`conventions` as ``hvp``): "structured" (the
default for a plain ``nn.Sequential`` of the layers
:func:`hessrmt.curvature.structured.sequential_plan` lists, with cross-entropy or MSE:
per-layer forward-over-reverse without an autograd graph), "double-backward" (autograd on each
batch's graph, the parameters bound into the model once per data pass), "kept-graph" (the
same, each batch's gradient graph built in the first product and kept: later products run the
second backward pass only; :mod:`hessrmt.curvature.kept`; the default on CPU beyond the
structured case, within ``graph_memory_budget``), or "forward-over-reverse" (``torch.func``,
vmapped over the columns). All are exact; they differ in speed and memory only
(:data:`AUTO_RULE`). Each is an engine of :mod:`hessrmt.curvature.engines`, chosen ONCE when
the operator is built and probed on the data then: an engine that cannot serve the data (an
input the structured rules do not cover; a kernel without forward-mode AD) is replaced by
double backward at build time (graphs kept where ``auto`` is on CPU), the reason in ``hvp_note``.
Attention runs through the math kernel during products (``attention`` in :meth:`conventions`).

The data loop and the per-batch records are :mod:`hessrmt.curvature.batches`; both construction
modes (model + loss, or functions) are normalised to one pair of functions at build time by
:mod:`hessrmt.curvature.objective`; how a block of k vectors is served (column chunks, kept
buffers) is :mod:`hessrmt.curvature.blocks`. The operator algebra (``A + B``, ``a * A``,
``A @ [parameter-shaped tensors]``, ``A.T``) is :mod:`hessrmt.curvature.linop`'s.

The parameters (and buffers) are copied when the operator is built, cast to ``dtype`` and moved
to ``device``: the operator is the curvature at THAT point; later changes to the model do not
affect it, and the model's own tensors and mode are never modified (the mode is switched only for
the duration of each data pass and restored).
"""

from __future__ import annotations

import re
import warnings
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from typing import Any

import torch

from hessrmt.curvature import functional as F
from hessrmt.curvature import structured as S
from hessrmt.curvature.batches import DataLoop, check_reiterable
from hessrmt.curvature.blocks import BLOCK_RULE, WORKSPACE_MAX_BYTES, BlockProducts  # noqa: F401
from hessrmt.curvature.engines import (  # noqa: F401 - AUTO_RULE documented here too
    ATTENTION_KERNEL,
    AUTO_RULE,
    Target,
    choose_engine,
    resolve_hvp,
    settle,
)
from hessrmt.curvature.linop import CurvatureOperator, check_dtype
from hessrmt.curvature.objective import Objective
from hessrmt.errors import InputError

ParamSpec = str | re.Pattern[str] | Sequence[str] | None
Point = Mapping[str, torch.Tensor] | torch.nn.Module | Sequence[tuple[str, torch.Tensor]]


def _named_point(model: torch.nn.Module | None, point: Any) -> list[tuple[str, torch.Tensor]]:
    """(name, tensor) of the trainable parameters of ``model``, or of a given ``point``."""
    src = model if model is not None else point
    if isinstance(src, torch.nn.Module):
        return [(n, p) for n, p in src.named_parameters() if p.requires_grad]
    named = list(src.items()) if isinstance(src, Mapping) else list(src)
    for item in named:
        if not (
            isinstance(item, tuple)
            and len(item) == 2
            and isinstance(item[0], str)
            and isinstance(item[1], torch.Tensor)
        ):
            raise InputError("the point must map parameter names (str) to tensors")
    return named


class EmpiricalRiskOperator(BlockProducts, CurvatureOperator):
    """Shared machinery of the three operators: the point, the objective, the data loop, the
    product engine and the block layout (see the module docstring)."""

    _kind = "curvature"

    def __init__(
        self,
        model: torch.nn.Module | None,
        loss_fn: Callable[..., torch.Tensor] | None,
        data: Iterable[Any],
        *,
        dtype: torch.dtype | None = None,
        device: torch.device | str | None = None,
        select: ParamSpec = None,
        mode: str = "eval",
        hvp: str = "auto",
        reduction: str | None = None,
        seed: int | None = None,
        batch_size_fn: Callable[[Any], float] | None = None,
        block_columns: int | None = None,
        graph_memory_budget: int | None = None,
        params: ParamSpec = None,
        _functions: dict[str, Any] | None = None,
    ) -> None:
        if params is not None:
            if select is not None:
                raise InputError(
                    "pass the parameter selection once, as select= (params= is its old name)"
                )
            warnings.warn(
                "params= is the old name of select= (the parameter selection); use select=",
                DeprecationWarning,
                stacklevel=2,
            )
            select = params
        if dtype is not None:
            check_dtype(dtype, "dtype")
        if mode not in ("eval", "train"):
            raise InputError(f"mode must be 'eval' or 'train', got {mode!r}")
        if seed is not None and (isinstance(seed, bool) or not isinstance(seed, int) or seed < 0):
            raise InputError(f"seed must be a non-negative int or None, got {seed!r}")
        if block_columns is not None and (
            isinstance(block_columns, bool)
            or not isinstance(block_columns, int)
            or block_columns < 1
        ):
            raise InputError(f"block_columns must be a positive int or None, got {block_columns!r}")
        if graph_memory_budget is not None and (
            isinstance(graph_memory_budget, bool)
            or not isinstance(graph_memory_budget, int)
            or graph_memory_budget < 0
        ):
            raise InputError(
                f"graph_memory_budget must be an int >= 0 or None: {graph_memory_budget!r}"
            )
        check_reiterable(data)
        fns = _functions or {}
        if model is not None or "point" not in fns:
            if not isinstance(model, torch.nn.Module):
                raise InputError(f"model must be a torch.nn.Module, got {type(model).__name__}")
            if not callable(loss_fn):
                raise InputError("loss_fn must be callable as loss_fn(outputs, targets)")
        named = _named_point(model, fns.get("point"))
        lookup = dict(named)
        names = F.select_parameters([n for n, _ in named], select)
        first = lookup[names[0]]
        if device is None:
            device = first.device
        device = torch.device(device)
        if dtype is None:
            if not first.is_floating_point():
                raise InputError(f"parameter {names[0]!r} is not floating point ({first.dtype})")
            dtype = check_dtype(first.dtype, f"the dtype of parameter {names[0]!r}")
        theta: dict[str, torch.Tensor] = {}
        for n in names:
            p = lookup[n]
            if not p.is_floating_point():
                raise InputError(f"parameter {n!r} is not floating point ({p.dtype})")
            if not torch.isfinite(p).all():
                raise InputError(
                    f"parameter {n!r} has non-finite values (nan/inf); the curvature is undefined "
                    "there: check the checkpoint or the training run"
                )
            theta[n] = p.detach().to(device=device, dtype=dtype).clone()

        def cast(t: torch.Tensor) -> torch.Tensor:
            return (t.to(dtype=dtype) if t.is_floating_point() else t).to(device)

        frozen: dict[str, torch.Tensor] = {}
        if model is not None:
            chosen = set(names)
            for n, p in model.named_parameters():
                if n not in chosen:
                    frozen[n] = cast(p.detach())
            for n, b in model.named_buffers():
                frozen[n] = cast(b.detach())

        self.data = data
        self.mode = mode
        self.seed = seed
        self.block_columns = block_columns
        self.batch_size_fn = batch_size_fn
        self.model = model
        self.loss_fn = loss_fn
        self.theta = theta
        self.select = select
        self.param_names: list[str] = names
        self.param_shapes: list[torch.Size] = [theta[n].shape for n in names]
        # (start, stop, shape) of each selected parameter in the flat vector
        self._slices: list[tuple[int, int, torch.Size]] = []
        start = 0
        for shape in self.param_shapes:
            self._slices.append((start, start + shape.numel(), shape))
            start += shape.numel()
        self._workspace: list[torch.Tensor | None] = [None, None]  # see _kept_buffer
        super().__init__(start, dtype, device)

        self.reduction = F.detect_reduction(loss_fn if model is not None else object(), reduction)
        common = {
            "dtype": dtype,
            "device": self.device,
            "mode": mode,
            "seed": seed,
            "batch_size_fn": batch_size_fn,
            "reduction": self.reduction,
        }
        if model is not None:
            self.objective = Objective.from_model(model, loss_fn, frozen, **common)  # type: ignore[arg-type]
        else:
            self.objective = Objective.from_functions(
                loss_of=fns.get("loss_of"),
                output_of=fns.get("output_of"),
                loss_of_output=fns.get("loss_of_output"),
                **common,
            )
        if self._kind in ("ggn", "residual") and not self.objective.has_output:
            raise InputError(
                f"{type(self).__name__} needs the model output separately from the loss; build "
                "it from a model and loss_fn, or with from_functions(output_of, loss_of_output, "
                "...)"
            )
        has_dropout = model is not None and any(
            isinstance(m, torch.nn.modules.dropout._DropoutNd) and m.p > 0 for m in model.modules()
        )
        if mode == "train" and has_dropout and seed is None:
            raise InputError(
                "mode='train' with dropout makes the loss random; pass seed=<int> to fix the "
                "dropout masks (one realisation per batch, the same in every data pass), or use "
                "mode='eval'"
            )
        plan = (
            S.sequential_plan(model, loss_fn, mode)
            if model is not None and self._kind == "hessian"
            else None
        )
        self.hvp = hvp
        self.loop = DataLoop(data, self.objective)
        target = Target(self._kind, self.objective, self.loop, theta, names, self._slices)
        engine = choose_engine(
            target, resolve_hvp(hvp, self.device, plan), plan, graph_memory_budget
        )

        # One pass over the data: sizes, normalisers, loss; validates every batch and probes
        # the engine on it; the engine is settled here, once.
        summary = self.loop.build(theta, probe=engine.probe)
        self.engine, self.hvp_note = settle(engine, graph_memory_budget, summary, hvp == "auto")
        self.num_data = summary.num_data
        self.num_batches = summary.num_batches
        self.total_terms = summary.total_terms
        self._loss = summary.loss

    @property
    def hvp_strategy(self) -> str:
        """The product engine in use (chosen once, when the operator was built)."""
        return self.engine.name

    # -- the public hooks ---------------------------------------------------------------------

    def batches(self) -> Iterator[tuple[int, Any, float]]:
        """One pass over the data: (index, batch moved and cast to the operator's device and
        dtype, its weight w_b in the full-data loss), with the model in the operator's mode."""
        return self.loop.passes()

    def point(self) -> dict[str, torch.Tensor]:
        """Every tensor of the model at the operator's point (selected parameters, frozen
        parameters and buffers), in the operator's dtype and device: a snapshot, not a copy."""
        return {**self.objective.frozen, **self.theta}

    def closed_form_matrix(self) -> tuple[torch.Tensor, str] | None:
        """The dense matrix in closed form where one is known (softmax regression with
        cross-entropy: :func:`hessrmt.curvature.softmax.closed_form_hessian`), else None."""
        if self._kind not in ("hessian", "ggn"):
            return None
        from hessrmt.curvature.softmax import closed_form_hessian

        M = closed_form_hessian(self)
        return None if M is None else (M, "closed-form softmax regression")

    # -- products -----------------------------------------------------------------------------

    def _accumulate(self, rows: torch.Tensor, acc: torch.Tensor) -> None:
        """acc += (sum_b w_b C_b V)^T for the rows (k, P) of V^T, in one data pass."""
        self.engine.accumulate(rows, acc)

    def loss(self) -> float:
        """The full-data loss at the operator's parameters (computed when it was built)."""
        return self._loss

    def gradient(self) -> torch.Tensor:
        """The full-data gradient, a vector of length P in the operator's parameter order."""
        acc = torch.zeros(self.shape[0], dtype=self.dtype, device=self.device)
        leaves = self.engine.target.leaves()
        params = dict(zip(self.param_names, leaves))
        views = [acc[a:b].view(shape) for a, b, shape in self._slices]
        with self.objective.bind(params) as bound, torch.enable_grad():
            for i, batch, w in self.loop.passes():
                value = self.objective.loss_of(params, batch, i, bound)
                gs = torch.autograd.grad(value, leaves, allow_unused=True)
                for a, g in zip(views, gs):
                    if g is not None:
                        a.add_(g, alpha=w)
        return acc

    def parameter_vector(self) -> torch.Tensor:
        """The selected parameters flattened, in the operator's order (length P)."""
        return torch.cat([self.theta[n].reshape(-1) for n in self.param_names])

    def __repr__(self) -> str:
        return (
            f"{type(self).__name__}(P={self.shape[0]}, N={self.num_data}, "
            f"batches={self.num_batches}, reduction={self.reduction!r}, mode={self.mode!r}, "
            f"dtype={str(self.dtype).replace('torch.', '')}, device={self.device}, "
            f"hvp={self.hvp_strategy!r})"
        )

    def conventions(self) -> dict[str, Any]:
        """Loss reduction, batch weighting, mode, dtype, parameter selection, data size, the
        product engine (``hvp``, with ``hvp_note`` when the asked-for engine did not apply)."""
        spec = self.select
        if isinstance(spec, re.Pattern):
            spec = spec.pattern
        elif spec is not None and not isinstance(spec, str):
            spec = list(spec)
        weighting = (
            "sum_b L_b (sum reduction)"
            if self.reduction == "sum"
            else "sum_b (c_b/C) L_b, c_b = terms averaged in batch b (mean reduction, exact)"
        )
        return {
            **super().conventions(),
            "curvature": self._kind,
            "loss_reduction": self.reduction,
            "batch_weighting": weighting,
            "mode": self.mode if self.model is not None else "n/a (functional objective)",
            "hvp": self.hvp_strategy,
            **({"hvp_note": self.hvp_note} if self.hvp_note else {}),
            **self.engine.details(),
            "attention": ATTENTION_KERNEL,
            "select": spec,
            "param_names": list(self.param_names),
            "num_params": self.shape[0],
            "parameter_order": "model.parameters() order restricted to the selection",
            "num_data": self.num_data,
            "num_loss_terms": self.total_terms,
            "num_batches": self.num_batches,
            "device": str(self.device),
            "seed": self.seed,
            "block_columns": self.block_columns if self.block_columns is not None else BLOCK_RULE,
        }

    @classmethod
    def from_functions(
        cls,
        output_of: Callable[[F.Params, Any], torch.Tensor],
        loss_of_output: Callable[[torch.Tensor, Any], torch.Tensor],
        point: Point,
        data: Iterable[Any],
        *,
        select: ParamSpec = None,
        **kwargs: Any,
    ) -> EmpiricalRiskOperator:
        """The operator for a custom model ``output_of(params, batch)`` and loss
        ``loss_of_output(output, batch)``; the batch loss is their composition.

        Args:
            output_of, loss_of_output: see above; ``params`` is a dict name -> tensor.
            point: where the curvature is taken: a dict (or list of (name, tensor) pairs, or a
                Module whose trainable parameters are used); parameter order = its order.
            data: re-iterable of batches (floating tensors in it are cast and moved).
            select: optional subset of ``point`` (regex or names).
            **kwargs: as for the constructor; ``reduction`` ("mean" by default) says how the
                batch loss reduces; with "mean" the batches are weighted by
                ``batch_size_fn(batch)`` (default: length of ``batch[0]``).
        """
        fns = {"output_of": output_of, "loss_of_output": loss_of_output, "point": point}
        return cls(None, None, data, select=select, _functions=fns, **kwargs)


#: The old private name of :class:`EmpiricalRiskOperator`.
_EmpiricalRiskOperator = EmpiricalRiskOperator

_ARGS_DOC = """
    Args:
        model: a ``torch.nn.Module``; its parameters and buffers are copied (cast to ``dtype``).
        loss_fn: ``loss_fn(outputs, targets) -> scalar``; a torch.nn loss's ``reduction`` is read
            from it, a plain callable's is given by ``reduction=`` (default "mean").
        data: a re-iterable of (inputs, targets) batches (a list of tuples, a DataLoader).
        dtype: dtype of the computation and of the vectors (default None: the dtype of the
            model's parameters; float16/bfloat16 are refused, pass float32 or float64).
        device: where to compute (default: the model's device).
        select: the parameter selection: None (all trainable), a regex searched in the names,
            or a list of names (``params=`` is its old name).
        mode: "eval" (default) or "train" (BatchNorm batch statistics without touching the
            running statistics; dropout layers need ``seed``). Dropout called functionally
            inside ``forward`` cannot be detected: pass ``seed`` for such models in train mode.
        hvp: "auto" (:data:`AUTO_RULE`), "structured", "double-backward", "kept-graph"
            (double backward on gradient graphs kept between products) or
            "forward-over-reverse"; chosen once at build time (see the module docstring).
        reduction: for a plain callable ``loss_fn``: "mean" (default) or "sum".
        seed: fixes dropout masks in train mode (required then), one realisation per batch.
        batch_size_fn: override the per-batch normaliser c_b of a mean-reduced loss.
        block_columns: the most columns of a block one data pass serves (the block is then
            applied in column chunks; same result up to rounding). None (default):
            :data:`BLOCK_RULE`.
        graph_memory_budget: bytes of gradient graphs (estimated): kept by "kept-graph" (over
            it, every product recomputes; None: 2 GiB, :mod:`hessrmt.curvature.graph_memory`),
            and held by one vmapped pass of the other engines (at most 256 MiB, the rest chunked).
"""


class HessianOperator(EmpiricalRiskOperator):
    __doc__ = (
        "The Hessian of the full-data loss, H = d^2 L / dtheta^2 (see the module docstring).\n"
        + _ARGS_DOC
    )

    _kind = "hessian"

    @classmethod
    def from_function(
        cls,
        loss_of: Callable[[F.Params, Any], torch.Tensor],
        point: Point,
        data: Iterable[Any],
        *,
        select: ParamSpec = None,
        **kwargs: Any,
    ) -> HessianOperator:
        """The Hessian of a custom objective sum_b w_b ``loss_of(params_dict, batch)``.

        Args:
            loss_of: the batch loss as a function of a dict name -> tensor and a batch.
            point: where the Hessian is taken: a dict (or list of (name, tensor) pairs, or a
                Module whose trainable parameters are used); parameter order = its order.
            data: re-iterable of batches (any structure; floating tensors in it are cast to
                ``dtype`` and moved to ``device``).
            select: optional subset of ``point`` (regex or names).
            **kwargs: ``dtype`` (default: the point's), ``device``, ``hvp``, ``reduction``
                ("mean" default: batches weighted by ``batch_size_fn(batch)``, default the
                length of ``batch[0]``), ``seed``, ``batch_size_fn``, ``block_columns``.
        """
        fns = {"loss_of": loss_of, "point": point}
        return cls(None, None, data, select=select, _functions=fns, **kwargs)


class GGNOperator(EmpiricalRiskOperator):
    __doc__ = (
        "The generalised Gauss-Newton part H0 = sum_b w_b J_b^T (d^2 l_b/df^2) J_b of the "
        "Hessian.\n\n    J_b = d f(x_b) / dtheta is the Jacobian of the model output; d^2 l/df^2 "
        "the Hessian of\n    the batch loss with respect to the output (exact for any "
        "twice-differentiable loss; for\n    cross-entropy it is the softmax covariance "
        "diag(p) - p p^T per sample, divided by c_b for\n    the mean). ``hvp`` is unused (the "
        "product is jvp -> output Hessian -> vjp).\n" + _ARGS_DOC
    )

    _kind = "ggn"


class ResidualOperator(EmpiricalRiskOperator):
    __doc__ = (
        "The residual H1 = H - H0 = sum_b w_b sum_k (dl_b/df_k) d^2 f_k/dtheta^2, computed "
        "directly.\n\n    For each batch, H1_b is the Hessian of theta -> <r_b, f_b(theta)> "
        "with r_b = dl_b/df held\n    fixed at the current point (Pennington & Bahri 2017); "
        "it is zero for models linear in theta\n    and vanishes with the residuals at a "
        "global minimum.\n" + _ARGS_DOC
    )

    _kind = "residual"
