"""The batch loss of a curvature operator as one pair of functions, whatever the construction.

An operator is built either from a model and a loss (``HessianOperator(model, loss_fn, data)``)
or from functions (``HessianOperator.from_function(loss_of, point, data)``,
``from_functions(output_of, loss_of_output, point, data)``). :class:`Objective` normalises both,
once, at build time, to

    output_of(params, batch, index) -> the model output f_b(params)      (None if not available)
    loss_of(params, batch, index)   -> the scalar batch loss L_b(params)
    loss_of_output(output, batch)   -> the loss of a given output        (None if not available)

plus what the data loop needs from the objective: how a raw batch is validated and moved
(:meth:`Objective.prepare`), the loss normaliser c_b of a batch (:meth:`Objective.terms`), the
model's mode for one data pass (:meth:`Objective.mode_context`) and the dropout seed of a batch
(:meth:`Objective.seeded`). ``params`` is always the dict of the SELECTED parameters (name ->
tensor); the frozen parameters and buffers of a model are merged in here.

For a model, :meth:`Objective.bind` binds the parameters into the module once for a whole data
pass (``functional_call`` swaps every tensor in and out around each call, which costs about a
small model's forward pass per batch); the bound module is then called directly.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator, Mapping
from typing import Any

import torch
from torch.func import functional_call
from torch.utils._pytree import tree_map

from hessrmt.curvature import functional as F
from hessrmt.curvature.batches import first_len, is_tensor_pair
from hessrmt.errors import InputError

try:  # bind the parameters once per data pass instead of once per batch (see Objective.bind)
    from torch.nn.utils.stateless import _reparametrize_module
except ImportError:  # pragma: no cover - a torch without the (private) helper: functional_call
    _reparametrize_module = None

Params = F.Params


class Objective:
    """The batch loss L_b of an operator, normalised at build time (see the module docstring).

    Build with :meth:`from_model` or :meth:`from_functions`; do not call the constructor.
    """

    def __init__(
        self,
        *,
        dtype: torch.dtype,
        device: torch.device,
        model: torch.nn.Module | None = None,
        loss_fn: Callable[..., torch.Tensor] | None = None,
        frozen: Mapping[str, torch.Tensor] | None = None,
        mode: str = "eval",
        seed: int | None = None,
        batch_size_fn: Callable[[Any], float] | None = None,
        reduction: str = "mean",
        output_fn: Callable[[Params, Any], torch.Tensor] | None = None,
        loss_fn_of_output: Callable[[torch.Tensor, Any], torch.Tensor] | None = None,
        loss_fn_of_params: Callable[[Params, Any], torch.Tensor] | None = None,
    ) -> None:
        self.dtype = dtype
        self.device = device
        self.model = model
        self.loss_fn = loss_fn
        self.frozen = dict(frozen or {})
        self.mode = mode
        self.seed = seed
        self.batch_size_fn = batch_size_fn
        self.reduction = reduction
        self._output_fn = output_fn
        self._loss_of_output = loss_fn_of_output
        self._loss_of_params = loss_fn_of_params
        self._tied = model is not None and any(
            len(dict(get(remove_duplicate=False))) != len(dict(get()))
            for get in (model.named_parameters, model.named_buffers)
        )
        # trailing shapes of the model outputs seen in the build pass (see terms)
        self.trailing_shapes: set[tuple[int, ...]] = set()

    # -- construction -------------------------------------------------------------------------

    @classmethod
    def from_model(
        cls,
        model: torch.nn.Module,
        loss_fn: Callable[..., torch.Tensor],
        frozen: Mapping[str, torch.Tensor],
        **kwargs: Any,
    ) -> Objective:
        """L_b(params) = loss_fn(model(x_b; params, frozen), y_b) for (x_b, y_b) batches."""
        return cls(model=model, loss_fn=loss_fn, frozen=frozen, **kwargs)

    @classmethod
    def from_functions(
        cls,
        *,
        loss_of: Callable[[Params, Any], torch.Tensor] | None = None,
        output_of: Callable[[Params, Any], torch.Tensor] | None = None,
        loss_of_output: Callable[[torch.Tensor, Any], torch.Tensor] | None = None,
        **kwargs: Any,
    ) -> Objective:
        """L_b = ``loss_of(params, batch)``, or ``loss_of_output(output_of(params, batch),
        batch)`` when the output and the loss are given separately."""
        if loss_of is None:
            if not (callable(output_of) and callable(loss_of_output)):
                raise InputError("output_of and loss_of_output must be callables")
        elif not callable(loss_of):
            raise InputError("loss_of must be callable as loss_of(params, batch)")
        return cls(
            output_fn=output_of,
            loss_fn_of_output=loss_of_output,
            loss_fn_of_params=loss_of,
            **kwargs,
        )

    @property
    def has_output(self) -> bool:
        """Whether the model output is available separately from the loss (GGN, residual)."""
        return self.model is not None or self._output_fn is not None

    # -- the pair of functions ----------------------------------------------------------------

    def _args(self, batch: Any) -> tuple[Any, ...]:
        x = batch[0]
        return tuple(x) if isinstance(x, (tuple, list)) else (x,)

    def output_of(
        self, params: Params, batch: Any, index: int, bound: bool = False
    ) -> torch.Tensor:
        """The output f_b(params) on ``batch`` (a graph is recorded in grad mode). ``bound``:
        the parameters are bound into the model (inside :meth:`bind`)."""
        with self.seeded(index):
            if self.model is not None:
                if bound:
                    return self.model(*self._args(batch))
                return functional_call(self.model, {**self.frozen, **params}, self._args(batch))
            if self._output_fn is None:
                raise InputError(
                    "this operator needs the model output separately from the loss; build it "
                    "from a model and loss_fn, or with from_functions(output_of, loss_of_output, "
                    "...)"
                )
            return self._output_fn(params, batch)

    def loss_of_output(self, output: torch.Tensor, batch: Any) -> torch.Tensor:
        """The batch loss of a given output."""
        if self.model is not None:
            return self.loss_fn(output, batch[1])  # type: ignore[misc]
        if self._loss_of_output is None:
            raise InputError("no loss_of_output given")
        return self._loss_of_output(output, batch)

    def loss_of(self, params: Params, batch: Any, index: int, bound: bool = False) -> torch.Tensor:
        """The scalar batch loss L_b(params)."""
        if self.model is None and self._loss_of_params is not None:
            with self.seeded(index):
                return self._loss_of_params(params, batch)
        return self.loss_of_output(self.output_of(params, batch, index, bound), batch)

    @contextlib.contextmanager
    def bind(self, params: Params) -> Iterator[bool]:
        """Bind ``params`` (and the frozen tensors) into the model for a whole data pass.

        Yields True when bound (pass ``bound=True`` to :meth:`output_of` / :meth:`loss_of`),
        False when there is no model or this torch lacks the helper. The model's own tensors are
        restored on exit, also after an error.
        """
        if (
            self.model is None
            or _reparametrize_module is None
            or isinstance(self.model, (torch.jit.ScriptModule, torch.nn.DataParallel))
        ):
            yield False
            return
        with _reparametrize_module(self.model, {**self.frozen, **params}, tie_weights=self._tied):
            yield True

    # -- what the data loop needs -------------------------------------------------------------

    def prepare(self, batch: Any, validate: bool = True) -> Any:
        """Move and cast a raw batch; ``validate`` checks its structure and values first."""

        def move(t: Any) -> Any:
            if isinstance(t, torch.Tensor):
                if validate and t.is_floating_point() and not torch.isfinite(t).all():
                    raise InputError(
                        "a batch contains non-finite values (nan/inf); clean or impute the data"
                    )
                if t.is_floating_point():
                    return t.to(device=self.device, dtype=self.dtype)
                return t.to(self.device)
            return t

        if self.model is None:
            return tree_map(move, batch)
        if not validate and is_tensor_pair(batch):
            return (move(batch[0]), move(batch[1]))  # the common case, without the pytree walk
        if validate:
            if not isinstance(batch, (tuple, list)) or len(batch) != 2:
                raise InputError(
                    "each batch must be an (inputs, targets) pair; got "
                    f"{type(batch).__name__}"
                    + (f" of length {len(batch)}" if isinstance(batch, (tuple, list)) else "")
                )
            nx, ny = first_len(batch[0]), first_len(batch[1])
            if nx != ny:
                raise InputError(
                    f"a batch has {nx} inputs but {ny} targets; inputs and targets must have the "
                    "same length along dimension 0"
                )
            if nx == 0:
                raise InputError("a batch is empty; drop empty batches from the data")
        return tree_map(move, tuple(batch))

    def evaluate(self, params: Params, batch: Any, index: int) -> tuple[torch.Tensor, float, int]:
        """(L_b, c_b, n_b) of a prepared batch, validating the loss (the build pass)."""
        with torch.no_grad():
            if self.model is not None:
                out = self.output_of(params, batch, index)
                value = self.loss_of_output(out, batch)
            else:
                out = None
                value = self.loss_of(params, batch, index)
        if not isinstance(value, torch.Tensor) or value.numel() != 1:
            shape = f" of shape {tuple(value.shape)}" if isinstance(value, torch.Tensor) else ""
            raise InputError(
                "the loss must return a scalar tensor (reduction 'mean' or 'sum'), got "
                f"{type(value).__name__}{shape}"
            )
        if out is not None:
            self.trailing_shapes.add(tuple(out.shape[1:]))
        n = self.batch_length(batch)
        return value.reshape(()), self.terms(batch, index, params, out), n

    def batch_length(self, batch: Any) -> int:
        """n_b: the length of the inputs along dimension 0."""
        if self.model is not None:
            return first_len(batch[0])
        if self.batch_size_fn is not None:
            return int(self.batch_size_fn(batch))
        return first_len(batch[0] if isinstance(batch, (tuple, list)) else batch)

    def terms(
        self, batch: Any, index: int, params: Params, out: torch.Tensor | None = None
    ) -> float:
        """c_b, the number of terms a mean-reduced loss averages over in this batch
        (:func:`hessrmt.curvature.functional.num_loss_terms`; 1 for sum reduction).

        For a model whose outputs all had the same trailing shape in the build pass, no forward
        pass is needed (the shape is known); otherwise (e.g. sequences of varying length) the
        output is computed.
        """
        if self.reduction == "sum":
            return 1.0
        if self.batch_size_fn is not None:
            return float(self.batch_size_fn(batch))
        if self.model is None:
            return float(self.batch_length(batch))
        n = first_len(batch[0])
        if out is None:
            if len(self.trailing_shapes) == 1:
                (trailing,) = self.trailing_shapes
                out = torch.empty((n, *trailing), device="meta")
            else:
                with torch.no_grad():
                    out = self.output_of(params, batch, index)
        return F.num_loss_terms(self.loss_fn, self.reduction, out, batch[1], n)  # type: ignore[arg-type]

    def loss_state(self) -> tuple[Any, Any, int]:
        """What c_b depends on besides the batch: ``ignore_index`` and the class weights (the
        weight tensor itself, held so that its identity cannot be reused, and its version)."""
        weight = getattr(self.loss_fn, "weight", None)
        version = weight._version if isinstance(weight, torch.Tensor) else -1
        return (getattr(self.loss_fn, "ignore_index", None), weight, version)

    @contextlib.contextmanager
    def mode_context(self) -> Iterator[None]:
        """Set the model's mode for one data pass, and restore it (and BatchNorm flags) after.

        In train mode, BatchNorm layers use batch statistics without updating their running
        statistics (``track_running_stats`` is switched off for the pass), so the model's
        buffers are never touched.
        """
        if self.model is None:
            yield
            return
        modules = list(self.model.modules())
        saved = [m.training for m in modules]
        if self.mode == "eval" and not any(saved):  # already in eval mode: nothing to switch
            yield
            return
        bns = [m for m in modules if isinstance(m, torch.nn.modules.batchnorm._BatchNorm)]
        saved_track = [m.track_running_stats for m in bns]
        try:
            self.model.train(self.mode == "train")
            if self.mode == "train":
                for m in bns:
                    m.track_running_stats = False
            yield
        finally:
            for m, t in zip(modules, saved):
                m.training = t
            for m, t in zip(bns, saved_track):
                m.track_running_stats = t

    @contextlib.contextmanager
    def seeded(self, index: int) -> Iterator[None]:
        """Fix torch's RNG for batch ``index`` when a seed is given (dropout masks)."""
        if self.seed is None:
            yield
            return
        devices = [self.device] if self.device.type == "cuda" else []
        with torch.random.fork_rng(devices=devices, device_type=self.device.type):
            torch.manual_seed(self.seed * 1_000_003 + index)
            yield

    @property
    def randomness(self) -> str:
        """How ``vmap`` treats random operations: "same" masks for all columns under a seed."""
        return "same" if self.seed is not None else "error"
