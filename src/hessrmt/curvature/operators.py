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
restricted to the selected parameters (model order, whatever order ``params`` lists them in).

Example::

    H = HessianOperator(model, torch.nn.CrossEntropyLoss(), batches)   # float64, eval mode
    H.shape, H.conventions()["loss_reduction"]                          # (P, P), "mean"
    HV = H.matmat(V)                                                    # V: (P, k), one data pass
    G = GGNOperator(model, loss_fn, batches, params="^fc")             # last layer only

How H V is computed (``hvp=``, recorded in :meth:`conventions`): "structured" (the default
for a plain ``nn.Sequential`` of the layers :func:`hessrmt.curvature.structured.sequential_plan`
lists, with cross-entropy or MSE: per-layer forward-over-reverse without an autograd graph),
"double-backward" (autograd on each batch's graph, the parameters bound into the model once per
data pass), or "forward-over-reverse" (``torch.func``, vmapped over the columns). All three are
exact; they differ in speed only (:data:`AUTO_RULE`).

Each data pass re-validates a batch and recomputes its normaliser c_b unless the batch is the
very same, unmodified tensors as in an earlier pass (weak references and version counters), so
a shuffling DataLoader or data edited in place are handled exactly.

The parameters (and buffers) are copied when the operator is built, cast to ``dtype`` and moved
to ``device``: the operator is the curvature at THAT point; later changes to the model do not
affect it, and the model's own tensors and mode are never modified (the mode is switched only for
the duration of each data pass and restored).
"""

from __future__ import annotations

import contextlib
import re
import warnings
import weakref
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from typing import Any

import torch
from torch.func import functional_call
from torch.utils._pytree import tree_leaves, tree_map

from hessrmt.curvature import functional as F
from hessrmt.curvature import structured as S
from hessrmt.curvature.linop import CurvatureOperator
from hessrmt.errors import DataError, InputError

ParamSpec = str | re.Pattern[str] | Sequence[str] | None

try:  # bind the parameters once per data pass instead of once per batch (see _bound_model)
    from torch.nn.utils.stateless import _reparametrize_module
except ImportError:  # pragma: no cover - a torch without the (private) helper: functional_call
    _reparametrize_module = None

#: The most memory an operator keeps between products in the two (k, P) buffers it uses for
#: row-major (P, k) blocks (see :data:`BLOCK_RULE`).
WORKSPACE_MAX_BYTES = 256 << 20

#: How ``matmat(V)`` serves the k columns of a (P, k) block V (``block_columns=None``). Every
#: product works on contiguous (k, P) rows, one per column of V, and the result has V's layout.
#: A transposed block (V = R.T for contiguous (k, P) rows R, as SLQ and Lanczos pass theirs, or
#: one column) is used as it is, all k columns in one data pass, and the result is the
#: transposed (k, P) sum: no copies. A row-major (P, k) V is copied into a (c, P) buffer, c
#: columns per data pass, and each sum copied into the row-major result; both (c, P) buffers
#: are kept between products, c as large as fits :data:`WORKSPACE_MAX_BYTES` (32 columns of a
#: 1M-parameter float32 model), because a NEW buffer of that size costs page faults on every
#: product, as much as the copy itself (10 x 1M float32: 21 ms copying into a kept buffer,
#: 37-46 ms into a new one). Measured (one thread, minima, per column over one column alone):
#: MLP 20-1000-1000-4 (P = 1,026,004, 2 x 16) transposed blocks of 10/32/64: 0.71/0.72/0.68
#: in float32, 0.72/0.73/0.73 in float64; row-major 0.95/0.94 (k = 10/32, float32); MLP
#: 20-256-256-4 (2 x 128) 0.60-0.84; digits MLP and LeNet 0.30-0.43.
BLOCK_RULE = (
    "all columns in one data pass for transposed (k, P) blocks; row-major blocks in column "
    "chunks whose two (c, P) buffers fit WORKSPACE_MAX_BYTES"
)

#: Documented rule for ``hvp="auto"``. The Hessian of a plain ``nn.Sequential`` of the layers
#: :func:`hessrmt.curvature.structured.sequential_plan` lists, with cross-entropy or MSE, uses
#: the "structured" per-layer forward-over-reverse (no autograd graph). Measured on this project's
#: shared 2-core CPU, one thread, CPU time (thread_time, interleaved, medians) of one HVP over
#: one plain reverse-mode gradient over the same batches: MLP 64-10-100-10 (2 x 128, float64)
#: 1.9 (autograd double backward 2.4-2.6); LeNet (2 x 32, float64) 2.1 (2.6); MLP 20-1000-1000-4
#: (2 x 16, float32) 1.8 (2.8-2.9); MLP 20-256-256-4 (2 x 128, float32) 2.2 (2.8). For LeNet
#: 2.1-2.2 is the forward-over-reverse count of convolution passes (11 against the gradient's 5).
#: Otherwise: on CPU, double backward (MLP 784-64-32-10, P = 52,650, k = 1: 1.45 gradients per
#: column against 2.96 for the vmapped forward-over-reverse; k = 2: 1.05 vs 1.67; k = 4: 0.75 vs
#: 1.00; LeNet-5 k = 1: 2.9 vs 3.4; within noise for k >= 8); on GPUs the vmapped
#: forward-over-reverse, the usual choice there (curvlinops), not measured here (no GPU).
AUTO_RULE = (
    "structured (per-layer forward-over-reverse) for supported nn.Sequential models and "
    "losses; else double-backward on CPU, forward-over-reverse on other devices"
)


def _copy_rows(dst: torch.Tensor, src: torch.Tensor) -> torch.Tensor:
    """dst[:] = src for a contiguous (k, P) ``dst`` and a transposed row-major ``src``, in
    column chunks of about 1 MiB (cache-sized: 10 x 1M float32 rows 8 ms against 12.5 ms for one
    ``copy_``, 2 x 1M 1.2 ms against 5 ms; equal from 32 rows on)."""
    k, P = dst.shape
    step = max(256, (1 << 20) // (k * dst.element_size()))
    for a in range(0, P, step):
        dst[:, a : a + step].copy_(src[:, a : a + step])
    return dst


def _resolve_hvp(hvp: str, device: torch.device) -> str:
    aliases = {
        "double-backward": "double-backward",
        "double_backward": "double-backward",
        "reverse-over-reverse": "double-backward",
        "forward-over-reverse": "forward-over-reverse",
        "forward_over_reverse": "forward-over-reverse",
        "jvp": "forward-over-reverse",
        "structured": "structured",
    }
    if hvp == "auto":
        return "double-backward" if device.type == "cpu" else "forward-over-reverse"
    if hvp not in aliases:
        raise InputError(
            f"hvp={hvp!r} is not a known strategy; use 'auto', 'double-backward', "
            "'forward-over-reverse' or 'structured'"
        )
    return aliases[hvp]


def _check_reiterable(data: Any) -> None:
    if isinstance(data, Iterator) or not isinstance(data, Iterable):
        raise InputError(
            "data must be a re-iterable of (inputs, targets) batches, e.g. a list of tuples or a "
            "DataLoader; a generator or iterator can only be read once"
        )


def _first_len(x: Any) -> int:
    if isinstance(x, torch.Tensor):
        return int(x.shape[0]) if x.ndim else 1
    if isinstance(x, (tuple, list)) and x:
        return _first_len(x[0])
    if isinstance(x, Mapping) and x:
        return _first_len(next(iter(x.values())))
    try:
        return len(x)
    except TypeError as exc:
        raise InputError(f"cannot tell the size of a batch element of type {type(x)}") from exc


def _is_tensor_pair(batch: Any) -> bool:
    return (
        isinstance(batch, (tuple, list))
        and len(batch) == 2
        and isinstance(batch[0], torch.Tensor)
        and isinstance(batch[1], torch.Tensor)
    )


def _tensor_leaves(batch: Any) -> list[torch.Tensor] | None:
    """The tensors of a raw batch, or None when it holds anything else (then nothing is cached)."""
    leaves = list(batch) if _is_tensor_pair(batch) else tree_leaves(batch)
    if not leaves or not all(isinstance(t, torch.Tensor) for t in leaves):
        return None
    try:
        for t in leaves:
            t._version  # noqa: B018 - inference tensors have no version counter: no caching
    except RuntimeError:
        return None
    return leaves


class _BatchRecord:
    """What a data pass learnt about batch i: it was validated, and its loss normaliser c_b.

    The record is valid for a later pass only while position i yields the SAME data: the very
    same tensor objects (held by weak references, so a record keeps no data alive; a dead
    reference never matches) with unchanged version counters (every in-place write bumps them).
    A shuffling DataLoader builds new tensors on every pass and so never matches; a list of
    fixed batches always does. Anything else is recomputed, so the cache cannot change a result.
    """

    __slots__ = ("refs", "terms", "versions")

    def __init__(self, leaves: list[torch.Tensor], terms: float | None) -> None:
        self.refs = [weakref.ref(t) for t in leaves]
        self.versions = [t._version for t in leaves]
        self.terms = terms

    def matches(self, leaves: list[torch.Tensor] | None) -> bool:
        if leaves is None or len(leaves) != len(self.refs):
            return False
        return all(
            r() is t and t._version == v for r, t, v in zip(self.refs, leaves, self.versions)
        )


class _EmpiricalRiskOperator(CurvatureOperator):
    """Shared machinery: parameters, data passes, exact batch weights, mode, validation."""

    _kind = "curvature"

    def __init__(
        self,
        model: torch.nn.Module | None,
        loss_fn: Callable[..., torch.Tensor] | None,
        data: Iterable[Any],
        *,
        dtype: torch.dtype = torch.float64,
        device: torch.device | str | None = None,
        params: ParamSpec = None,
        mode: str = "eval",
        hvp: str = "auto",
        reduction: str | None = None,
        seed: int | None = None,
        batch_size_fn: Callable[[Any], float] | None = None,
        block_columns: int | None = None,
        _functions: dict[str, Any] | None = None,
    ) -> None:
        if dtype not in (torch.float64, torch.float32, torch.float16, torch.bfloat16):
            raise InputError(f"dtype must be a floating torch dtype, got {dtype}")
        if mode not in ("eval", "train"):
            raise InputError(f"mode must be 'eval' or 'train', got {mode!r}")
        if seed is not None and (not isinstance(seed, int) or seed < 0):
            raise InputError(f"seed must be a non-negative int or None, got {seed!r}")
        _check_reiterable(data)
        self._dtype = dtype
        self.data = data
        self.mode = mode
        self.seed = seed
        if block_columns is not None and (
            isinstance(block_columns, bool)
            or not isinstance(block_columns, int)
            or block_columns < 1
        ):
            raise InputError(f"block_columns must be a positive int or None, got {block_columns!r}")
        self.block_columns = block_columns
        self._batch_size_fn = batch_size_fn
        self.model = model
        self.loss_fn = loss_fn
        fns = _functions or {}
        self._loss_of = fns.get("loss_of")
        self._output_of = fns.get("output_of")
        self._loss_of_output = fns.get("loss_of_output")
        self._records: dict[int, _BatchRecord] = {}
        self._leaves: list[torch.Tensor] | None = None
        self._point: dict[str, torch.Tensor] | None = None
        self._workspace: list[torch.Tensor | None] = [None, None]  # see _kept_buffer

        if model is not None:
            if not isinstance(model, torch.nn.Module):
                raise InputError(f"model must be a torch.nn.Module, got {type(model).__name__}")
            if not callable(loss_fn):
                raise InputError("loss_fn must be callable as loss_fn(outputs, targets)")
            named = [(n, p) for n, p in model.named_parameters() if p.requires_grad]
            if device is None:
                first = next(iter(model.parameters()), None)
                device = first.device if first is not None else torch.device("cpu")
        else:
            src = fns["params"]
            if isinstance(src, torch.nn.Module):
                named = [(n, p) for n, p in src.named_parameters() if p.requires_grad]
            elif isinstance(src, Mapping):
                named = list(src.items())
            else:
                named = list(src)
            for n, p in named:
                if not isinstance(n, str) or not isinstance(p, torch.Tensor):
                    raise InputError("params must map parameter names (str) to tensors")
            if device is None:
                device = named[0][1].device if named else torch.device("cpu")
        device = torch.device(device)

        names = F.select_parameters([n for n, _ in named], params)
        chosen = set(names)
        lookup = dict(named)
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
        frozen: dict[str, torch.Tensor] = {}
        if model is not None:
            for n, p in model.named_parameters():
                if n not in chosen:
                    frozen[n] = self._cast(p.detach()).to(device)
            for n, b in model.named_buffers():
                t = b.detach()
                frozen[n] = (t.to(dtype=dtype) if t.is_floating_point() else t).to(device)
        self.theta = theta
        self._frozen = frozen
        self.param_names: list[str] = names
        self.param_shapes: list[torch.Size] = [theta[n].shape for n in names]
        # (start, stop, shape) of each selected parameter in the flat vector
        self._slices: list[tuple[int, int, torch.Size]] = []
        start = 0
        for shape in self.param_shapes:
            self._slices.append((start, start + shape.numel(), shape))
            start += shape.numel()
        # functional_call re-ties tied weights on every call; binding needs it only if some are
        self._tied = model is not None and any(
            len(dict(get(remove_duplicate=False))) != len(dict(get()))
            for get in (model.named_parameters, model.named_buffers)
        )
        self.params_spec = params
        super().__init__(sum(s.numel() for s in self.param_shapes), dtype, device)

        self.reduction = F.detect_reduction(loss_fn if model is not None else object(), reduction)
        self.hvp_strategy = _resolve_hvp(hvp, self.device)
        self.hvp = hvp
        self._structured_note: str | None = None
        self._plan = (
            S.sequential_plan(model, loss_fn, mode)
            if model is not None and self._kind == "hessian"
            else None
        )
        if self._plan is not None and hvp == "auto":
            self.hvp_strategy = "structured"
        elif self.hvp_strategy == "structured" and self._plan is None:
            raise InputError(
                "hvp='structured' needs a HessianOperator of a plain nn.Sequential of Linear, "
                "Conv2d, ReLU, Tanh, Sigmoid, MaxPool2d, Flatten, Identity or inactive Dropout "
                "layers with CrossEntropyLoss or MSELoss; use hvp='auto' or 'double-backward'"
            )
        self._has_dropout = model is not None and any(
            isinstance(m, torch.nn.modules.dropout._DropoutNd) and m.p > 0 for m in model.modules()
        )
        if mode == "train" and self._has_dropout and seed is None:
            raise InputError(
                "mode='train' with dropout makes the loss random; pass seed=<int> to fix the "
                "dropout masks (one realisation per batch, the same in every data pass), or use "
                "mode='eval'"
            )

        # One pass over the data: sizes, normalisers, loss; validates every batch.
        self._trailing_shapes: set[tuple[int, ...]] = set()
        total_terms, num_data, num_batches, loss = 0.0, 0, 0, 0.0
        per_batch: list[tuple[float, float]] = []
        self._records_loss_state = self._loss_state()
        with self._context():
            for i, raw in enumerate(self.data):
                batch = self._prepare(raw)
                with torch.no_grad(), self._seeded(i):
                    value, terms, n = self._batch_loss_and_terms(theta, batch)
                self._remember(i, _tensor_leaves(raw), terms)
                if not torch.isfinite(value):
                    raise InputError(
                        f"the loss on batch {i} is not finite ({float(value)}); check the data and "
                        "the model (exploded weights, log of zero, ...)"
                    )
                per_batch.append((float(value), terms))
                total_terms += terms
                num_data += n
                num_batches += 1
        if num_batches == 0:
            raise InputError("data is empty: pass at least one (inputs, targets) batch")
        if self.reduction != "sum" and total_terms <= 0:
            raise InputError(
                "the mean-reduced loss averages over zero terms (all targets ignored?)"
            )
        self.num_data = num_data
        self.num_batches = num_batches
        self.total_terms = total_terms if self.reduction != "sum" else float(num_batches)
        for v, t in per_batch:
            loss += v * self._weight(t)
        self._loss = loss

    # -- plumbing -----------------------------------------------------------------------------

    def _cast(self, t: torch.Tensor) -> torch.Tensor:
        return t.to(dtype=self._dtype) if t.is_floating_point() else t

    def _weight(self, terms: float) -> float:
        return 1.0 if self.reduction == "sum" else terms / self.total_terms

    def _prepare(self, batch: Any, validate: bool = True) -> Any:
        """Move and cast a raw batch; ``validate`` checks its structure and values first (skipped
        for a batch a :class:`_BatchRecord` shows was validated in an earlier pass)."""

        def move(t: Any) -> Any:
            if isinstance(t, torch.Tensor):
                if validate and t.is_floating_point() and not torch.isfinite(t).all():
                    raise InputError(
                        "a batch contains non-finite values (nan/inf); clean or impute the data"
                    )
                if t.is_floating_point():
                    return t.to(device=self.device, dtype=self._dtype)
                return t.to(self.device)
            return t

        if not validate and self.model is not None and _is_tensor_pair(batch):
            return (move(batch[0]), move(batch[1]))  # the common case, without the pytree walk

        if self.model is not None and validate:
            if not isinstance(batch, (tuple, list)) or len(batch) != 2:
                raise InputError(
                    "each batch must be an (inputs, targets) pair; got "
                    f"{type(batch).__name__}"
                    + (f" of length {len(batch)}" if isinstance(batch, (tuple, list)) else "")
                )
            x, y = batch
            nx, ny = _first_len(x), _first_len(y)
            if nx != ny:
                raise InputError(
                    f"a batch has {nx} inputs but {ny} targets; inputs and targets must have the "
                    "same length along dimension 0"
                )
            if nx == 0:
                raise InputError("a batch is empty; drop empty batches from the data")
            return tree_map(move, (x, y))
        return tree_map(move, batch)

    @contextlib.contextmanager
    def _context(self) -> Iterator[None]:
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
    def _seeded(self, batch_index: int) -> Iterator[None]:
        """Fix torch's RNG for batch ``batch_index`` when a seed is given (dropout masks)."""
        if self.seed is None:
            yield
            return
        devices = [self.device] if self.device.type == "cuda" else []
        with torch.random.fork_rng(devices=devices, device_type=self.device.type):
            torch.manual_seed(self.seed * 1_000_003 + batch_index)
            yield

    def _randomness(self) -> str:
        return "same" if self.seed is not None else "error"

    def _all_params(self, theta: Mapping[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        return {**self._frozen, **theta}

    def _output_fn(self, batch: Any, index: int) -> Callable[[F.Params], torch.Tensor]:
        if self.model is not None:
            x = batch[0]
            args = tuple(x) if isinstance(x, (tuple, list)) else (x,)

            def out(theta: F.Params) -> torch.Tensor:
                with self._seeded(index):
                    return functional_call(self.model, self._all_params(theta), args)

            return out
        if self._output_of is None:
            raise InputError(
                f"{type(self).__name__} needs the model output separately from the loss; build it "
                "from a model and loss_fn, or with from_functions(output_of, loss_of_output, ...)"
            )

        def out_f(theta: F.Params) -> torch.Tensor:
            with self._seeded(index):
                return self._output_of(theta, batch)

        return out_f

    def _loss_of_output_fn(self, batch: Any) -> Callable[[torch.Tensor], torch.Tensor]:
        if self.model is not None:
            y = batch[1]
            return lambda out: self.loss_fn(out, y)
        if self._loss_of_output is None:
            raise InputError("no loss_of_output given")
        return lambda out: self._loss_of_output(out, batch)

    def _loss_fn_of_theta(self, batch: Any, index: int) -> Callable[[F.Params], torch.Tensor]:
        if self.model is None and self._loss_of is not None:

            def lf(theta: F.Params) -> torch.Tensor:
                with self._seeded(index):
                    return self._loss_of(theta, batch)

            return lf
        out_fn = self._output_fn(batch, index)
        lo = self._loss_of_output_fn(batch)
        return lambda theta: lo(out_fn(theta))

    def _batch_loss_and_terms(self, theta: F.Params, batch: Any) -> tuple[torch.Tensor, float, int]:
        if self.model is not None:
            x, y = batch
            args = tuple(x) if isinstance(x, (tuple, list)) else (x,)
            out = functional_call(self.model, self._all_params(theta), args)
            value = self.loss_fn(out, y)
            if not isinstance(value, torch.Tensor) or value.numel() != 1:
                raise InputError(
                    "loss_fn must return a scalar tensor (reduction 'mean' or 'sum'), got "
                    f"{type(value).__name__}"
                    + (f" of shape {tuple(value.shape)}" if isinstance(value, torch.Tensor) else "")
                )
            n = _first_len(x)
            self._out_trailing = tuple(out.shape[1:])
            self._trailing_shapes.add(self._out_trailing)
            if self._batch_size_fn is not None:
                terms = float(self._batch_size_fn(batch))
            else:
                terms = F.num_loss_terms(self.loss_fn, self.reduction, out, y, n)
            return value.reshape(()), terms, n
        if self._loss_of is not None:
            value = self._loss_of(theta, batch)
        else:
            value = self._loss_of_output(self._output_of(theta, batch), batch)
        if not isinstance(value, torch.Tensor) or value.numel() != 1:
            raise InputError("the loss function must return a scalar tensor")
        if self._batch_size_fn is not None:
            n = terms = self._batch_size_fn(batch)
        else:
            n = _first_len(batch[0] if isinstance(batch, (tuple, list)) else batch)
            terms = n
        return value.reshape(()), float(terms), int(n)

    def _loss_state(self) -> tuple[Any, Any, int]:
        """What c_b depends on besides the batch: ``ignore_index`` and the class weights (the
        weight tensor itself, held so that its identity cannot be reused, and its version)."""
        weight = getattr(self.loss_fn, "weight", None)
        version = weight._version if isinstance(weight, torch.Tensor) else -1
        return (getattr(self.loss_fn, "ignore_index", None), weight, version)

    def _same_loss_state(self, state: tuple[Any, Any, int]) -> bool:
        old = self._records_loss_state
        return state[0] == old[0] and state[1] is old[1] and state[2] == old[2]

    def _remember(self, index: int, leaves: list[torch.Tensor] | None, terms: float) -> None:
        """Record that batch ``index`` (its tensors ``leaves``) was validated, with its c_b
        (not kept under a user ``batch_size_fn``, which is called on every pass)."""
        if leaves is not None:
            self._records[index] = _BatchRecord(
                leaves, terms if self._batch_size_fn is None else None
            )

    def _passes(self) -> Iterator[tuple[int, Any, float]]:
        """One pass over the data: (index, prepared batch, weight), with a consistency check.

        A batch that is the same data as in an earlier pass (see :class:`_BatchRecord`) is not
        validated again and its normaliser c_b is reused; any other batch is validated and its
        c_b computed afresh (and recorded). A change of the loss's ``ignore_index`` or class
        weights drops every record.
        """
        state = self._loss_state()
        if not self._same_loss_state(state):
            self._records.clear()
            self._records_loss_state = state
        seen = 0.0
        with self._context():
            for i, raw in enumerate(self.data):
                leaves = _tensor_leaves(raw)
                record = self._records.get(i)
                known = record is not None and record.matches(leaves)
                batch = self._prepare(raw, validate=not known)
                if self.reduction == "sum":
                    terms = 1.0
                elif self._batch_size_fn is not None:
                    terms = float(self._batch_size_fn(batch))
                elif known and record is not None and record.terms is not None:
                    terms = record.terms
                elif self.model is not None:
                    terms = self._terms_fast(batch, i)
                else:
                    terms = float(
                        _first_len(batch[0] if isinstance(batch, (tuple, list)) else batch)
                    )
                if not known:
                    self._remember(i, leaves, terms)
                seen += terms
                yield i, batch, self._weight(terms)
        if abs(seen - self.total_terms) > 1e-9 * max(1.0, self.total_terms):
            raise DataError(
                f"the data changed between passes (the loss averages over {seen:g} terms now, "
                f"{self.total_terms:g} when the operator was built); use a fixed data set"
            )

    def _terms_fast(self, batch: Any, index: int) -> float:
        """c_b, without a forward pass when every batch's output had the same trailing shape."""
        x, y = batch
        n = _first_len(x)
        if len(self._trailing_shapes) > 1:  # e.g. variable sequence lengths: look at the output
            with torch.no_grad():
                out = self._output_fn(batch, index)(self.theta)
            return F.num_loss_terms(self.loss_fn, self.reduction, out, y, n)
        out_like = torch.empty((n, *self._out_trailing), device="meta")
        return F.num_loss_terms(self.loss_fn, self.reduction, out_like, y, n)

    # -- the public API -----------------------------------------------------------------------

    def __repr__(self) -> str:
        return (
            f"{type(self).__name__}(P={self.shape[0]}, N={self.num_data}, "
            f"batches={self.num_batches}, reduction={self.reduction!r}, mode={self.mode!r}, "
            f"dtype={str(self.dtype).replace('torch.', '')}, device={self.device}, "
            f"hvp={self.hvp_strategy!r})"
        )

    def _batch_matmat(
        self, index: int, batch: Any, V: dict[str, torch.Tensor]
    ) -> dict[str, torch.Tensor]:
        raise NotImplementedError

    def _hvp(
        self, f: Callable[[F.Params], torch.Tensor], V: dict[str, torch.Tensor]
    ) -> dict[str, torch.Tensor]:
        """H V of the scalar ``f`` at ``self.theta`` with the operator's HVP strategy.

        Some PyTorch kernels (e.g. ``mse_loss``'s backward) fail under forward-mode AD with
        "ZeroTensors are immutable"; the operator then falls back to double backward for good,
        with a warning, and records it in :meth:`conventions`.
        """
        if self.hvp_strategy == "forward-over-reverse":
            try:
                return F.hvp_forward_over_reverse(f, self.theta, V, randomness=self._randomness())
            except RuntimeError as exc:
                if "ZeroTensor" not in str(exc):
                    raise
                warnings.warn(
                    "forward-over-reverse HVP is not supported by an operation of this "
                    f"model/loss ({exc}); falling back to double backward",
                    UserWarning,
                    stacklevel=4,
                )
                self.hvp_strategy = "double-backward"
        return F.hvp_double_backward(f, self.theta, V)

    # -- the double-backward path: one autograd graph per batch, no torch.func transforms -------

    def _leaf_params(self) -> list[torch.Tensor]:
        """Leaf tensors sharing ``theta``'s storage that require grad, made once per operator."""
        if self._leaves is None:
            self._leaves = [self.theta[n].detach().requires_grad_(True) for n in self.param_names]
        return self._leaves

    @contextlib.contextmanager
    def _bound_model(self, params: Mapping[str, torch.Tensor]) -> Iterator[bool]:
        """Bind ``params`` (and the frozen tensors) into the model for a whole data pass.

        ``functional_call`` swaps every parameter and buffer in and out around each call; doing
        it once per pass saves that per batch (it costs about as much as a small model's forward
        pass). Yields True when bound (the model is then called directly), False when the
        operator has no model or this torch lacks the helper (``functional_call`` per batch then).
        The model's own tensors are restored on exit, also after an error.
        """
        if (
            self.model is None
            or _reparametrize_module is None
            or isinstance(self.model, (torch.jit.ScriptModule, torch.nn.DataParallel))
        ):
            yield False
            return
        with _reparametrize_module(self.model, self._all_params(params), tie_weights=self._tied):
            yield True

    def _forward(self, batch: Any, index: int, params: F.Params, bound: bool) -> torch.Tensor:
        """The model output on ``batch`` at ``params`` (a graph is recorded in grad mode)."""
        if self.seed is not None:
            with self._seeded(index):
                return self._forward_unseeded(batch, params, bound)
        return self._forward_unseeded(batch, params, bound)

    def _forward_unseeded(self, batch: Any, params: F.Params, bound: bool) -> torch.Tensor:
        if self.model is not None:
            x = batch[0]
            args = tuple(x) if isinstance(x, (tuple, list)) else (x,)
            if bound:
                return self.model(*args)
            return functional_call(self.model, self._all_params(params), args)
        if self._output_of is None:
            raise InputError(
                f"{type(self).__name__} needs the model output separately from the loss; "
                "build it from a model and loss_fn, or with from_functions(output_of, "
                "loss_of_output, ...)"
            )
        return self._output_of(params, batch)

    def _loss_value(self, batch: Any, index: int, params: F.Params, bound: bool) -> torch.Tensor:
        """The batch loss L_b at ``params``."""
        if self.model is None and self._loss_of is not None:
            with self._seeded(index):
                return self._loss_of(params, batch)
        return self._loss_of_output_fn(batch)(self._forward(batch, index, params, bound))

    def _batch_objective(
        self, batch: Any, index: int, params: F.Params, bound: bool
    ) -> torch.Tensor:
        """The scalar whose Hessian at ``params`` is this operator's curvature of batch b."""
        raise NotImplementedError

    def _accumulate_double_backward(self, rows: torch.Tensor, acc: torch.Tensor) -> None:
        """acc += sum_b w_b H_b V by double backward on each batch's own graph (see
        :func:`hessrmt.curvature.functional.double_backward_products`); ``rows`` and ``acc``
        are (k, P) with one column of V per row.

        The rows are viewed per parameter (no copies for one column), the batch products are
        added into ``acc`` in place, and the parameters are bound once per pass; the arithmetic
        per entry (acc += w_b (H_b V)) is the one of the general path.
        """
        k = rows.shape[0]
        leaves = self._leaf_params()
        params = dict(zip(self.param_names, leaves))
        if k == 1:
            vs = [rows[0, a:b].view(shape) for a, b, shape in self._slices]
            outs = [acc[0, a:b].view(shape) for a, b, shape in self._slices]
        else:
            # contiguous per parameter: the vmapped second backward is slower on strided blocks
            vs = [rows[:, a:b].contiguous().view(k, *shape) for a, b, shape in self._slices]
            outs = [acc[:, a:b].view(k, *shape) for a, b, shape in self._slices]
        with self._bound_model(params) as bound, torch.enable_grad():
            for i, batch, w in self._passes():
                value = self._batch_objective(batch, i, params, bound)
                for o, h in zip(outs, F.double_backward_products(value, leaves, vs, k)):
                    if h is not None:
                        o.add_(h, alpha=w)

    def _uses_double_backward_path(self) -> bool:
        return self.hvp_strategy == "double-backward"

    def _accumulate_structured(self, rows: torch.Tensor, acc: torch.Tensor) -> None:
        """acc += sum_b w_b H_b V by :func:`hessrmt.curvature.structured.sequential_hvp` (no
        autograd); ``rows`` and ``acc`` as in :meth:`_accumulate_double_backward`.

        Raises:
            StructuredUnsupported: an input the per-layer rules do not cover (``acc`` is then
                partly updated).
        """
        k = rows.shape[0]
        named = list(zip(self.param_names, self._slices))
        vs = {n: rows[:, a:b].view(k, *sh) for n, (a, b, sh) in named}
        outs = {n: acc[:, a:b].view(k, *sh) for n, (a, b, sh) in named}
        if self._point is None:  # theta and the frozen tensors never change: merge them once
            self._point = self._all_params(self.theta)
        params = self._point
        passes = self._passes()
        try:
            for _, (x, y), w in passes:
                if not isinstance(x, torch.Tensor):
                    raise S.StructuredUnsupported("the inputs are not one tensor")
                S.sequential_hvp(
                    self._plan or [], self.loss_fn, params, vs, x, y, out=outs, alpha=w
                )
        finally:
            passes.close()

    def _accumulate(self, rows: torch.Tensor, acc: torch.Tensor) -> None:
        """acc += (sum_b w_b C_b V)^T for the rows (k, P) of V^T, in one data pass.

        An input the structured per-layer rules do not cover switches the operator to double
        backward for good (recorded in :meth:`conventions`) and redoes these rows that way.
        """
        if self.hvp_strategy == "structured":
            try:
                self._accumulate_structured(rows, acc)
                return
            except S.StructuredUnsupported as exc:
                self.hvp_strategy = "double-backward"
                self._structured_note = f"structured HVP not applicable ({exc}); double backward"
                acc.zero_()
        if self._uses_double_backward_path():
            self._accumulate_double_backward(rows, acc)
            return
        Vd = F.unflatten_block(rows.T, self.param_names, self.param_shapes)
        for i, batch, w in self._passes():
            out = self._batch_matmat(i, batch, Vd)
            acc.add_(F.flatten_block(out, self.param_names), alpha=w)

    def _columns_per_pass(self, k: int, transposed: bool, itemsize: int) -> int:
        """How many columns of a (P, k) block one data pass serves (:data:`BLOCK_RULE`)."""
        if self.block_columns is not None:
            return min(k, self.block_columns)
        if transposed:
            return k
        return min(k, max(1, WORKSPACE_MAX_BYTES // (2 * self.shape[0] * itemsize)))

    def _kept_buffer(self, slot: int, k: int, like: torch.Tensor) -> torch.Tensor | None:
        """A (k, P) buffer kept between products (slot 0: rows of V, 1: their sum), or None
        when the two would exceed :data:`WORKSPACE_MAX_BYTES`."""
        P = self.shape[0]
        if 2 * k * P * like.element_size() > WORKSPACE_MAX_BYTES:
            return None
        ws = self._workspace[slot]
        if ws is None or ws.shape[0] < k or ws.dtype != like.dtype or ws.device != like.device:
            ws = torch.empty(k, P, dtype=like.dtype, device=like.device)
            self._workspace[slot] = ws
        return ws[:k]

    def _matmat(self, V: torch.Tensor) -> torch.Tensor:
        """The (P, k) product, in the memory layout of ``V`` (see :data:`BLOCK_RULE`)."""
        P, k = V.shape
        Vt = V.T
        transposed = Vt.is_contiguous()  # V = R.T for contiguous (k, P) rows R; any (P, 1)
        c = self._columns_per_pass(k, transposed, V.element_size())
        if transposed:
            acc = torch.zeros(k, P, dtype=self.dtype, device=self.device)
            for j in range(0, k, c):
                self._accumulate(Vt[j : j + c], acc[j : j + c])
            return acc.T
        out = torch.empty(P, k, dtype=self.dtype, device=self.device)
        for j in range(0, k, c):
            cj = min(c, k - j)
            rows = self._kept_buffer(0, cj, Vt)
            acc = self._kept_buffer(1, cj, Vt)
            rows = Vt[j : j + cj].contiguous() if rows is None else _copy_rows(rows, Vt[j : j + cj])
            acc = torch.zeros_like(rows) if acc is None else acc.zero_()
            self._accumulate(rows, acc)
            out[:, j : j + cj] = acc.T
        return out

    def loss(self) -> float:
        """The full-data loss at the operator's parameters (computed when it was built)."""
        return self._loss

    def gradient(self) -> torch.Tensor:
        """The full-data gradient, a vector of length P in the operator's parameter order."""
        acc = torch.zeros(self.shape[0], dtype=self.dtype, device=self.device)
        leaves = self._leaf_params()
        params = dict(zip(self.param_names, leaves))
        views = [acc[a:b].view(shape) for a, b, shape in self._slices]
        with self._bound_model(params) as bound, torch.enable_grad():
            for i, batch, w in self._passes():
                value = self._loss_value(batch, i, params, bound)
                gs = torch.autograd.grad(value, leaves, allow_unused=True)
                for a, g in zip(views, gs):
                    if g is not None:
                        a.add_(g, alpha=w)
        return acc

    def parameter_vector(self) -> torch.Tensor:
        """The selected parameters flattened, in the operator's order (length P)."""
        return torch.cat([self.theta[n].reshape(-1) for n in self.param_names])

    def conventions(self) -> dict[str, Any]:
        """Loss reduction, batch weighting, mode, dtype, parameter selection, data size."""
        spec = self.params_spec
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
            **({"hvp_note": self._structured_note} if self._structured_note else {}),
            "params": spec,
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
        params: Mapping[str, torch.Tensor] | torch.nn.Module | Sequence[tuple[str, torch.Tensor]],
        data: Iterable[Any],
        *,
        select: ParamSpec = None,
        **kwargs: Any,
    ) -> _EmpiricalRiskOperator:
        """The operator for a custom model ``output_of(params, batch)`` and loss
        ``loss_of_output(output, batch)``; the batch loss is their composition.

        ``reduction`` ("mean" by default) says how the batch loss reduces; with "mean" the
        batches are weighted by ``batch_size_fn(batch)`` (default: length of ``batch[0]``).
        """
        fns = {"output_of": output_of, "loss_of_output": loss_of_output, "params": params}
        return cls(None, None, data, params=select, _functions=fns, **kwargs)


class HessianOperator(_EmpiricalRiskOperator):
    """The Hessian of the full-data loss, H = d^2 L / dtheta^2 (see the module docstring).

    Args:
        model: a ``torch.nn.Module``; its parameters and buffers are copied (cast to ``dtype``).
        loss_fn: ``loss_fn(outputs, targets) -> scalar``; a torch.nn loss's ``reduction`` is read
            from it, a plain callable's is given by ``reduction=`` (default "mean").
        data: a re-iterable of (inputs, targets) batches (a list of tuples, a DataLoader).
        dtype: dtype of the computation and of the vectors (default float64).
        device: where to compute (default: the model's device).
        params: None (all trainable), a regex searched in the names, or a list of names.
        mode: "eval" (default) or "train" (BatchNorm batch statistics without touching the
            running statistics; dropout layers need ``seed``). Dropout called functionally
            inside ``forward`` cannot be detected: pass ``seed`` for such models in train mode.
        hvp: "auto" (:data:`AUTO_RULE`), "double-backward" or "forward-over-reverse".
        reduction: for a plain callable ``loss_fn``: "mean" (default) or "sum".
        seed: fixes dropout masks in train mode (required then), one realisation per batch.
        batch_size_fn: override the per-batch normaliser c_b of a mean-reduced loss.
        block_columns: the most columns of a block one data pass serves (the block is then
            applied in column chunks; same result up to rounding). None (default):
            :data:`BLOCK_RULE`.
    """

    _kind = "hessian"

    def _batch_matmat(
        self, index: int, batch: Any, V: dict[str, torch.Tensor]
    ) -> dict[str, torch.Tensor]:
        return self._hvp(self._loss_fn_of_theta(batch, index), V)

    def _batch_objective(
        self, batch: Any, index: int, params: F.Params, bound: bool
    ) -> torch.Tensor:
        return self._loss_value(batch, index, params, bound)

    @classmethod
    def from_function(
        cls,
        loss_of: Callable[[F.Params, Any], torch.Tensor],
        params: Mapping[str, torch.Tensor] | torch.nn.Module | Sequence[tuple[str, torch.Tensor]],
        data: Iterable[Any],
        *,
        select: ParamSpec = None,
        **kwargs: Any,
    ) -> HessianOperator:
        """The Hessian of a custom objective sum_b w_b ``loss_of(params_dict, batch)``.

        Args:
            loss_of: the batch loss as a function of a dict name -> tensor and a batch.
            params: the point: a dict (or list of (name, tensor) pairs, or a Module whose
                trainable parameters are used); parameter order = its order.
            data: re-iterable of batches (any structure; floating tensors in it are cast to
                ``dtype`` and moved to ``device``).
            select: optional subset of ``params`` (regex or names), as ``params`` elsewhere.
            **kwargs: ``dtype``, ``device``, ``hvp``, ``reduction`` ("mean" default: batches
                weighted by ``batch_size_fn(batch)``, default the length of ``batch[0]``),
                ``seed``, ``batch_size_fn``, ``block_columns``.
        """
        fns = {"loss_of": loss_of, "params": params}
        return cls(None, None, data, params=select, _functions=fns, **kwargs)


class GGNOperator(_EmpiricalRiskOperator):
    """The generalised Gauss-Newton part H0 = sum_b w_b J_b^T (d^2 l_b/df^2) J_b of the Hessian.

    J_b = d f(x_b) / dtheta is the Jacobian of the model output; d^2 l/df^2 the Hessian of the
    batch loss with respect to the output (exact for any twice-differentiable loss; for
    cross-entropy it is the softmax covariance diag(p) - p p^T per sample, divided by c_b for the
    mean). Same arguments as :class:`HessianOperator`; ``hvp`` is recorded but unused (the product
    is jvp -> output Hessian -> vjp).
    """

    _kind = "ggn"

    def _uses_double_backward_path(self) -> bool:
        return False

    def _batch_matmat(
        self, index: int, batch: Any, V: dict[str, torch.Tensor]
    ) -> dict[str, torch.Tensor]:
        return F.ggn_product(
            self._output_fn(batch, index),
            self._loss_of_output_fn(batch),
            self.theta,
            V,
            randomness=self._randomness(),
        )

    def conventions(self) -> dict[str, Any]:
        return {**super().conventions(), "hvp": "jvp / output-space Hessian / vjp"}


class ResidualOperator(_EmpiricalRiskOperator):
    """The residual H1 = H - H0 = sum_b w_b sum_k (dl_b/df_k) d^2 f_k/dtheta^2, computed directly.

    For each batch, H1_b is the Hessian of theta -> <r_b, f_b(theta)> with r_b = dl_b/df held
    fixed at the current point (Pennington & Bahri 2017); it is zero for models linear in theta
    and vanishes with the residuals at a global minimum. Same arguments as
    :class:`HessianOperator`.
    """

    _kind = "residual"

    def _batch_matmat(
        self, index: int, batch: Any, V: dict[str, torch.Tensor]
    ) -> dict[str, torch.Tensor]:
        s = F.residual_objective(
            self._output_fn(batch, index), self._loss_of_output_fn(batch), self.theta
        )
        return self._hvp(s, V)

    def _batch_objective(
        self, batch: Any, index: int, params: F.Params, bound: bool
    ) -> torch.Tensor:
        # <r, f(theta)> with r = dl/df at the current point held fixed: one forward pass serves
        # both r (from the detached output) and the graph of f.
        out = self._forward(batch, index, params, bound)
        o = out.detach().requires_grad_(True)
        (r,) = torch.autograd.grad(self._loss_of_output_fn(batch)(o), o)
        return (r.detach() * out).sum()
