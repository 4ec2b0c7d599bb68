"""Data-parallel curvature across processes and machines with ``torch.distributed``.

Each rank (process) holds its shard of the data and builds an ordinary rank-local operator
(:class:`~hessrmt.curvature.operators.HessianOperator`, ``GGNOperator``, ``ResidualOperator``)
on it. :class:`DistributedOperator` wraps that operator and returns the EXACT full-data product
on every rank: the rank's partial product, weighted by its share of the loss terms, followed by
one ``all_reduce`` (sum) per block of vectors::

    mean reduction:  H V = sum_r (C_r / C) H_r V,   C = sum_r C_r
    sum reduction:   H V = sum_r H_r V

where H_r = sum_{b in rank r} (c_b / C_r) H_b is the rank-local operator's curvature (its own
exact batch weighting, see :mod:`hessrmt.curvature.operators`) and C_r its number of loss terms
(``total_terms``: samples, or targets that are not ``ignore_index``, or class-weighted targets,
or averaged elements; :func:`hessrmt.curvature.functional.num_loss_terms`). Since
(C_r / C) (c_b / C_r) = c_b / C, every batch on every rank gets exactly the weight it has in the
single-process operator over all the data: uneven shards, uneven last batches and ignored
targets are exact (up to floating-point summation order).

Communication: one ``all_gather`` of six numbers per rank when the operator is built (terms,
size, loss, samples, batches, reduction; sizes and reductions are checked to agree), then per
product of a (P, k) block exactly ONE ``all_reduce`` of P k numbers (8 P k bytes in float64,
4 P k in float32). Every rank receives identical bytes, so Lanczos, SLQ, Hutchinson and
``dense_matrix`` run unchanged and identically on every rank when each rank uses the same seed
(the algorithms draw their probes from the seed only); rank 0 writes the result.

Failure: every collective waits at most ``timeout_s`` (default :data:`DEFAULT_TIMEOUT_S`) and
then raises :class:`CollectiveError`, one line naming the rank, the collective and what to
check. A rank that raises and exits closes its connections, so the other ranks' pending
collective fails at once (gloo) or at the timeout (a rank that is alive but stuck).

Launch with ``torchrun`` (it sets RANK, WORLD_SIZE, LOCAL_RANK, MASTER_ADDR, MASTER_PORT) and
call :func:`init_distributed`; split the data with :func:`shard_indices`; show progress on rank
0 only with :func:`is_main_process`. NCCL (one GPU per rank, ``LOCAL_RANK``) is chosen when CUDA
is available, gloo otherwise.
"""

from __future__ import annotations

import datetime
import os
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
import torch.distributed as dist

from hessrmt.curvature.linop import CurvatureOperator
from hessrmt.errors import HessrmtError, InputError

#: Seconds a collective may wait for the other ranks before :class:`CollectiveError`.
DEFAULT_TIMEOUT_S = 600.0

_REDUCTIONS = {"mean": 0.0, "sum": 1.0}


class CollectiveError(HessrmtError, RuntimeError):
    """A collective did not complete: another rank failed or is stuck, or the network broke."""


@dataclass(frozen=True)
class DistributedInfo:
    """Where this process stands: rank, world size, local rank, backend and its device."""

    rank: int
    world_size: int
    local_rank: int
    backend: str
    device: torch.device

    @property
    def is_main(self) -> bool:
        return self.rank == 0


def shard_indices(n: int, rank: int, world_size: int) -> np.ndarray:
    """The sample indices of rank ``rank``: ``rank, rank + W, rank + 2W, ...`` (W = world size).

    The split of ``torch.utils.data.DistributedSampler`` with ``shuffle=False``, WITHOUT its
    padding: shards may differ in size by one and no sample is repeated (a repeated sample
    would change the full-data loss). Every sample is on exactly one rank.

    Raises:
        InputError: ``world_size < 1``, ``rank`` outside ``[0, world_size)``, or fewer samples
            than ranks (a rank would have no data).
    """
    for name, v in (("n", n), ("rank", rank), ("world_size", world_size)):
        if isinstance(v, bool) or not isinstance(v, (int, np.integer)):
            raise InputError(f"{name} must be an int, got {v!r}")
    if world_size < 1:
        raise InputError(f"world_size must be at least 1, got {world_size}")
    if not 0 <= rank < world_size:
        raise InputError(f"rank must be in [0, {world_size}), got {rank}")
    if n < world_size:
        raise InputError(
            f"{n} samples cannot be split over {world_size} processes (each needs at least one); "
            "use fewer processes or more data"
        )
    return np.arange(rank, n, world_size, dtype=np.int64)


def _env_int(name: str, default: int) -> int:
    raw = os.environ.get(name)
    if raw is None:
        return default
    try:
        return int(raw)
    except ValueError as exc:
        raise InputError(f"environment variable {name}={raw!r} is not an integer") from exc


def init_distributed(
    backend: str | None = None, *, timeout_s: float = DEFAULT_TIMEOUT_S
) -> DistributedInfo:
    """Join the process group ``torchrun`` describes in the environment, or stay single.

    Reads RANK, WORLD_SIZE, LOCAL_RANK, MASTER_ADDR and MASTER_PORT (set by ``torchrun``). With
    WORLD_SIZE unset or 1 and no group initialised, nothing is initialised and world size 1 is
    returned. ``backend`` None: "nccl" when CUDA is available (the device is
    ``cuda:LOCAL_RANK``, made current), else "gloo" on the CPU. An already initialised default
    group is used as it is.

    Raises:
        InputError: torch.distributed unavailable, or malformed environment variables.
    """
    if not dist.is_available():
        raise InputError("this torch build has no torch.distributed; install a standard torch")
    if timeout_s <= 0:
        raise InputError(f"timeout_s must be positive, got {timeout_s}")
    local_rank = _env_int("LOCAL_RANK", 0)
    if not dist.is_initialized():
        world = _env_int("WORLD_SIZE", 1)
        if world <= 1:
            dev = torch.device("cuda", local_rank) if torch.cuda.is_available() else "cpu"
            return DistributedInfo(0, 1, local_rank, "none", torch.device(dev))
        for var in ("RANK", "MASTER_ADDR", "MASTER_PORT"):
            if var not in os.environ:
                raise InputError(
                    f"WORLD_SIZE={world} but {var} is not set; launch with torchrun "
                    "(torchrun --nproc-per-node N ...) or set RANK, MASTER_ADDR and MASTER_PORT"
                )
        if backend is None:
            backend = "nccl" if torch.cuda.is_available() else "gloo"
        if backend == "nccl":
            torch.cuda.set_device(local_rank)
        dist.init_process_group(
            backend=backend, timeout=datetime.timedelta(seconds=float(timeout_s))
        )
    backend_name = str(dist.get_backend())
    device = torch.device("cuda", local_rank) if backend_name == "nccl" else torch.device("cpu")
    return DistributedInfo(dist.get_rank(), dist.get_world_size(), local_rank, backend_name, device)


def is_main_process(group: Any = None) -> bool:
    """True on rank 0 of ``group`` (the world by default), and in a single process.

    Use it to show progress and write outputs once: ``progress=progress and is_main_process()``.
    """
    if not (dist.is_available() and dist.is_initialized()):
        return True
    return dist.get_rank(group) == 0


def _first_line(exc: BaseException) -> str:
    """The cause in a few words: the first sentence of the first line, without gloo's
    ``[path/to/file.cc:123] `` prefix."""
    lines = str(exc).strip().splitlines()
    text = lines[0] if lines else type(exc).__name__
    if text.startswith("[") and "] " in text:
        text = text.split("] ", 1)[1]
    text = text.split(". ", 1)[0].rstrip(".")
    return text[:160] or type(exc).__name__


def collective_error(
    rank: int, world_size: int, what: str, exc: BaseException, timeout_s: float
) -> CollectiveError:
    """The one-line :class:`CollectiveError` of a failed collective ``what`` on ``rank``."""
    return CollectiveError(
        f"rank {rank} of {world_size}: {what} failed ({_first_line(exc)}; "
        f"timeout {timeout_s:g} s): another rank probably failed (see its error) or is stuck"
    )


def _wait(work: Any, what: str, rank: int, world_size: int, timeout_s: float) -> None:
    try:
        work.wait(timeout=datetime.timedelta(seconds=timeout_s))
    except Exception as exc:  # gloo/NCCL raise RuntimeError or DistBackendError
        raise collective_error(rank, world_size, what, exc, timeout_s) from None


def _collective(
    fn: Any, tensor: torch.Tensor, what: str, timeout_s: float, group: Any, **kwargs: Any
) -> None:
    """Run ``fn(tensor, ..., async_op=True)`` and wait at most ``timeout_s`` (one line on
    failure)."""
    rank, world = dist.get_rank(group), dist.get_world_size(group)
    try:
        work = fn(tensor, group=group, async_op=True, **kwargs)
    except Exception as exc:
        raise collective_error(rank, world, what, exc, timeout_s) from None
    _wait(work, what, rank, world, timeout_s)


def _comm_device(group: Any) -> torch.device:
    """Where the backend wants its tensors: the current CUDA device for NCCL, else the CPU."""
    if str(dist.get_backend(group)) == "nccl":
        return torch.device("cuda", torch.cuda.current_device())
    return torch.device("cpu")


def broadcast_object(
    obj: Any,
    *,
    what: str = "broadcast",
    src: int = 0,
    group: Any = None,
    timeout_s: float = DEFAULT_TIMEOUT_S,
) -> Any:
    """Rank ``src``'s ``obj`` on every rank (pickled; two broadcasts: length, then bytes).

    ``obj`` is ignored on the other ranks; rank ``src`` gets its own ``obj`` back. Unlike
    ``torch.distributed.broadcast_object_list`` each collective waits at most ``timeout_s`` and
    fails with a one-line :class:`CollectiveError`. Without an initialised group (one process)
    ``obj`` is returned as it is. Only for objects the ranks of one run send each other (pickle).
    """
    import pickle

    if not (dist.is_available() and dist.is_initialized()) or dist.get_world_size(group) == 1:
        return obj
    device = _comm_device(group)
    mine = dist.get_rank(group) == src
    data = pickle.dumps(obj, protocol=pickle.HIGHEST_PROTOCOL) if mine else b""
    size = torch.tensor([len(data)], dtype=torch.int64, device=device)
    _collective(dist.broadcast, size, f"{what} (size)", timeout_s, group, src=src)
    if mine:
        buf = torch.frombuffer(bytearray(data), dtype=torch.uint8).to(device)
    else:
        buf = torch.empty(int(size.item()), dtype=torch.uint8, device=device)
    _collective(dist.broadcast, buf, what, timeout_s, group, src=src)
    return obj if mine else pickle.loads(buf.cpu().numpy().tobytes())


def all_sum(
    values: Sequence[float] | np.ndarray,
    *,
    what: str = "all_reduce",
    group: Any = None,
    timeout_s: float = DEFAULT_TIMEOUT_S,
) -> np.ndarray:
    """The float64 sum over the ranks of ``values`` (one all_reduce), the same on every rank;
    ``values`` as a float64 array in one process."""
    arr = np.asarray(values, dtype=np.float64)
    if not (dist.is_available() and dist.is_initialized()) or dist.get_world_size(group) == 1:
        return arr.copy()
    t = torch.as_tensor(arr.copy()).to(_comm_device(group))
    _collective(dist.all_reduce, t, what, timeout_s, group, op=dist.ReduceOp.SUM)
    return t.cpu().numpy()


class DistributedOperator(CurvatureOperator):
    """The full-data curvature of rank-local operators, summed over a process group.

    Args:
        local: this rank's operator, built on this rank's shard of the data (same model, loss,
            parameter selection, dtype and options on every rank). It must expose ``reduction``
            and ``total_terms`` (the hessrmt operators do) unless ``num_terms`` is given.
        group: the process group (default: the initialised world).
        timeout_s: how long one collective may wait for the other ranks.
        num_terms: this rank's number of loss terms C_r, for a ``local`` operator without
            ``total_terms`` (then ``reduction`` says how the shards combine, default "mean").
        reduction: "mean" or "sum"; default: ``local.reduction`` (else "mean").

    Every rank must call :meth:`matmat` with the same block, in the same order (as the seeded
    algorithms do); the result is the same on every rank.

    Raises:
        InputError: no initialised process group, a local operator without a term count, or
            ranks that disagree on the operator size or the loss reduction.
        CollectiveError: a collective failed or timed out (one line).
    """

    def __init__(
        self,
        local: CurvatureOperator,
        group: Any = None,
        *,
        timeout_s: float = DEFAULT_TIMEOUT_S,
        num_terms: float | None = None,
        reduction: str | None = None,
    ) -> None:
        if not isinstance(local, CurvatureOperator):
            raise InputError(
                f"local must be a hessrmt CurvatureOperator, got {type(local).__name__}"
            )
        if not (dist.is_available() and dist.is_initialized()):
            raise InputError(
                "torch.distributed is not initialised: launch with torchrun and call "
                "hessrmt.curvature.distributed.init_distributed() first, or use the local "
                "operator directly in a single process"
            )
        if timeout_s <= 0:
            raise InputError(f"timeout_s must be positive, got {timeout_s}")
        self.local = local
        self.group = group
        self.timeout_s = float(timeout_s)
        self.rank = dist.get_rank(group)
        self.world_size = dist.get_world_size(group)
        self.backend = str(dist.get_backend(group))
        red = reduction if reduction is not None else getattr(local, "reduction", "mean")
        if red not in _REDUCTIONS:
            raise InputError(f"reduction must be 'mean' or 'sum', got {red!r}")
        if num_terms is None:
            num_terms = getattr(local, "total_terms", None)
            if num_terms is None:
                raise InputError(
                    f"{type(local).__name__} does not say how many loss terms its shard has; "
                    "pass num_terms= (the count its mean averages over on this rank)"
                )
        loss = float(local.loss()) if callable(getattr(local, "loss", None)) else float("nan")
        mine = [
            float(num_terms),
            float(local.shape[0]),
            loss,
            float(getattr(local, "num_data", 0)),
            float(getattr(local, "num_batches", 0)),
            _REDUCTIONS[red],
        ]
        table = self._all_gather(
            torch.tensor(mine, dtype=torch.float64, device=local.device), "all_gather (set-up)"
        )
        sizes, reds = table[:, 1], table[:, 5]
        if not np.all(sizes == sizes[0]):
            raise InputError(
                f"ranks disagree on the number of parameters ({sorted(set(sizes.astype(int)))}); "
                "build the same model and parameter selection on every rank"
            )
        if not np.all(reds == reds[0]):
            raise InputError("ranks disagree on the loss reduction; use the same loss_fn")
        self.reduction = red
        self.terms_per_rank = table[:, 0].copy()
        self.total_terms = float(self.terms_per_rank.sum())
        if red == "mean" and self.total_terms <= 0:
            raise InputError("the mean-reduced loss averages over zero terms on all ranks")
        self.samples_per_rank = [int(v) for v in table[:, 3]]
        self.batches_per_rank = [int(v) for v in table[:, 4]]
        self.num_data = int(sum(self.samples_per_rank))
        self.num_batches = int(sum(self.batches_per_rank))
        weights = (
            np.ones(self.world_size) if red == "sum" else self.terms_per_rank / self.total_terms
        )
        self.rank_weights = weights
        self.weight = float(weights[self.rank])
        # the same sum on every rank, in rank order
        self._loss = float(np.sum(weights * table[:, 2]))
        super().__init__(local.shape[0], local.dtype, local.device)

    # -- collectives ----------------------------------------------------------------------------

    def _fail(self, what: str, exc: BaseException) -> CollectiveError:
        return collective_error(self.rank, self.world_size, what, exc, self.timeout_s)

    def _wait(self, work: Any, what: str) -> None:
        _wait(work, what, self.rank, self.world_size, self.timeout_s)

    def _all_gather(self, t: torch.Tensor, what: str) -> np.ndarray:
        out = [torch.empty_like(t) for _ in range(dist.get_world_size(self.group))]
        try:
            work = dist.all_gather(out, t, group=self.group, async_op=True)
        except Exception as exc:
            raise self._fail(what, exc) from None
        self._wait(work, what)
        return torch.stack(out).cpu().numpy()

    def _all_reduce_(self, t: torch.Tensor, what: str) -> torch.Tensor:
        """Sum ``t`` (contiguous) over the group in place; ONE collective."""
        try:
            work = dist.all_reduce(t, op=dist.ReduceOp.SUM, group=self.group, async_op=True)
        except Exception as exc:
            raise self._fail(what, exc) from None
        self._wait(work, what)
        return t

    def _reduce_block(self, out: torch.Tensor, what: str) -> torch.Tensor:
        """Weight a rank-local result by C_r / C and sum it over the ranks, keeping its layout
        (a transposed (k, P) buffer is reduced as it is, without a copy)."""
        if self.weight != 1.0:
            out.mul_(self.weight)
        if out.is_contiguous():
            return self._all_reduce_(out, what)
        if out.ndim == 2 and out.T.is_contiguous():
            self._all_reduce_(out.T, what)
            return out
        return self._all_reduce_(out.contiguous(), what)

    # -- the operator ---------------------------------------------------------------------------

    def _matmat(self, V: torch.Tensor) -> torch.Tensor:
        out = self.local.matmat(V)
        if out.data_ptr() == V.data_ptr():  # never scale the caller's block in place
            out = out.clone()
        return self._reduce_block(out, f"all_reduce of a ({V.shape[0]}, {V.shape[1]}) block")

    def loss(self) -> float:
        """The full-data loss, sum_r (C_r / C) L_r (mean) or sum_r L_r (sum); same on all ranks."""
        return self._loss

    def gradient(self) -> torch.Tensor:
        """The full-data gradient (one all-reduce of P numbers)."""
        grad = getattr(self.local, "gradient", None)
        if not callable(grad):
            raise InputError(f"{type(self.local).__name__} has no gradient()")
        return self._reduce_block(grad().clone(), "all_reduce of the gradient")

    def parameter_vector(self) -> torch.Tensor:
        """The selected parameters flattened (the local operator's; the same on every rank)."""
        return self.local.parameter_vector()  # type: ignore[attr-defined]

    @property
    def param_names(self) -> Sequence[str]:
        return self.local.param_names  # type: ignore[attr-defined]

    def conventions(self) -> dict[str, Any]:
        """The local operator's conventions with the full-data counts and the distributed set-up
        (identical on every rank, so rank 0 can write them)."""
        conv = dict(self.local.conventions())
        conv.pop("device", None)  # differs between ranks (cuda:LOCAL_RANK)
        conv.update(
            {
                "num_data": self.num_data,
                "num_loss_terms": self.total_terms,
                "num_batches": self.num_batches,
                "distributed": {
                    "world_size": self.world_size,
                    "backend": self.backend,
                    "samples_per_rank": list(self.samples_per_rank),
                    "loss_terms_per_rank": [float(t) for t in self.terms_per_rank],
                    "rank_weighting": (
                        "sum_r H_r (sum reduction)"
                        if self.reduction == "sum"
                        else "sum_r (C_r/C) H_r, C_r = loss terms on rank r (exact)"
                    ),
                    "collective_per_product": "one all_reduce (sum) of the (P, k) block",
                    "timeout_s": self.timeout_s,
                },
            }
        )
        return conv
