"""``hessrmt analyze`` across processes: ``torchrun --nproc-per-node N -m hessrmt analyze ...``.

What each rank (process) does, and why the result equals the single-process run:

* **Data.** Every rank loads the same data set with the same seed, then keeps its shard of the
  training split (:func:`hessrmt.curvature.distributed.shard_indices`: samples ``r, r + W, ...``,
  uneven shards allowed). A batch Hessian's batch (``batch_size`` consecutive training samples)
  is sharded the same way within the batch.
* **Operators.** Every curvature operator analyze builds (Hessian, Gauss-Newton part, residual,
  batch Hessians, the SLQ operator) is the rank-local operator on the rank's shard wrapped in a
  :class:`~hessrmt.curvature.distributed.DistributedOperator`: each product is the rank's
  partial product weighted by its share of the loss terms plus ONE all_reduce, the exact
  full-data product (up to the order of floating-point sums). Lanczos, SLQ and the dense build
  draw their probes from the same seed on every rank, so all ranks run identical collectives.
* **Training** is NOT split: every rank trains the same model on the full training split from
  the same seed (exactly the single-process computation, no collective while training), then
  rank 0's stored weights are broadcast, so every rank analyses bit-identical weights. This
  reproduces the single-process training up to round-off differences from thread counts
  (``torchrun`` sets ``OMP_NUM_THREADS=1``) and never lets a rank wait in a collective for the
  length of a training run. Analyze trains small zoo models; analyse a large model with
  ``--checkpoint``.
* **Run folder.** Only rank 0 opens the :class:`~hessrmt.runfolder.RunFolder` (lock, checks,
  checkpoints, final write); the other ranks never touch the file system there. Rank 0
  broadcasts whether the folder opened (or its one-line refusal, which every rank then raises
  as the same error), and for every checkpointed step whether it is resumed; a resumed step's
  stored arrays and a computed step's stored arrays are broadcast from rank 0, so every rank
  continues from identical values and runs the same collectives. After writing the run folder
  rank 0 broadcasts success (with its ``summary.json``) or its error.
* **Failure.** Every collective waits at most ``collective_timeout`` seconds and then raises a
  one-line :class:`~hessrmt.curvature.distributed.CollectiveError`; a rank that raises exits,
  which closes its connections, so the others' pending collective fails at once (gloo). The run
  folder is written only by rank 0's atomic finalize: a failed run leaves at most the resumable
  checkpoint folder ``.<name>.partial``.

* **Resume.** The number of processes is not part of the run folder's fingerprint: the results
  agree across process counts to round-off, so checkpoints left by a run with another number
  of processes (or by one process) are reused.

``summary.json["distributed"]`` records ``{world_size, backend, samples_per_rank}`` (world size 1,
backend None and ``[n_train]`` in one process).
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np

from hessrmt.errors import DataError, HessrmtError, InputError

#: ``summary.json["conventions"]["distributed"]``.
DISTRIBUTED_CONVENTION = (
    "summary['distributed'] = processes (world_size), torch.distributed backend (None: one "
    "process) and training samples per process; with several processes each product is the "
    "rank's partial product weighted by its share of the loss terms plus one all_reduce (the "
    "exact full-data product); training is replicated on every process and rank 0's weights "
    "are broadcast; rank 0 writes the run folder (hessrmt.analysis.distributed)"
)

#: Error classes a refusal on rank 0 is re-raised as on the other ranks (same one line).
_ERRORS: dict[str, type[HessrmtError]] = {"InputError": InputError, "DataError": DataError}


#: Set when a process group was left after a failure without being torn down: the command
#: line then ends the process with ``os._exit`` once its one line is printed.
ABANDONED = False


class Ranks:
    """The processes of one analyze run: the initialised world of ``torch.distributed``, or one.

    ``active`` is True when a process group with more than one rank is initialised. Everything
    here is a no-op in one process (``shard`` keeps all samples, ``wrap`` returns the operator).
    """

    def __init__(self, timeout_s: float) -> None:
        import torch.distributed as dist

        self.timeout_s = float(timeout_s)
        initialised = dist.is_available() and dist.is_initialized()
        self.world_size = dist.get_world_size() if initialised else 1
        self.rank = dist.get_rank() if initialised else 0
        self.active = self.world_size > 1
        self.backend: str | None = str(dist.get_backend()) if self.active else None

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    def shard(self, n: int) -> np.ndarray:
        """This rank's indices of ``n`` samples (all of them in one process)."""
        from hessrmt.curvature.distributed import shard_indices

        return shard_indices(n, self.rank, self.world_size)

    def sizes(self, n: int) -> list[int]:
        """Samples per rank of a split of ``n`` samples (computed, no communication)."""
        return [len(range(r, n, self.world_size)) for r in range(self.world_size)]

    def train_batches(
        self, dataset: Any, batch_size: int, *, dtype: Any, device: Any
    ) -> list[tuple[Any, Any]]:
        """This rank's shard of the training split of ``dataset`` in consecutive batches of
        ``batch_size`` (in one process: :func:`hessrmt.nn.data.to_batches`, all of it)."""
        import torch

        from hessrmt.nn.data import to_batches, to_tensors

        if not self.active:
            return to_batches(dataset, batch_size, split="train", dtype=dtype, device=device)
        X, y = to_tensors(dataset, split="train", dtype=dtype, device=device)
        idx = torch.as_tensor(self.shard(int(X.shape[0])), device=X.device)
        X, y = X[idx], y[idx]
        return [
            (X[a : a + batch_size], y[a : a + batch_size]) for a in range(0, len(X), batch_size)
        ]

    def split_batches(self, batches: list[tuple[Any, Any]]) -> list[tuple[Any, Any]]:
        """Each batch restricted to this rank's shard of it (unchanged in one process).

        Raises:
            InputError: a batch with fewer samples than processes.
        """
        if not self.active:
            return batches
        import torch

        out = []
        for x, t in batches:
            n = int(x.shape[0])
            if n < self.world_size:
                raise InputError(
                    f"a batch of {n} samples cannot be split over {self.world_size} processes "
                    "(each needs a sample of every batch); use a larger --batch-size or fewer "
                    "processes"
                )
            idx = torch.as_tensor(self.shard(n), device=x.device)
            out.append((x[idx], t[idx]))
        return out

    def wrap(self, op: Any) -> Any:
        """``op`` (built on this rank's shard) as the full-data operator."""
        if not self.active:
            return op
        from hessrmt.curvature.distributed import DistributedOperator

        return DistributedOperator(op, timeout_s=self.timeout_s)

    def broadcast(self, obj: Any, what: str) -> Any:
        """Rank 0's ``obj`` on every rank."""
        if not self.active:
            return obj
        from hessrmt.curvature.distributed import broadcast_object

        return broadcast_object(obj, what=f"broadcast of {what}", timeout_s=self.timeout_s)

    def all_sum(self, values: Any, what: str) -> np.ndarray:
        """Sum of ``values`` over the ranks (float64)."""
        from hessrmt.curvature.distributed import all_sum

        return all_sum(values, what=f"all_reduce of {what}", timeout_s=self.timeout_s)

    def record(self, n_train: int) -> dict[str, Any]:
        """``summary.json["distributed"]``."""
        return {
            "world_size": self.world_size,
            "backend": self.backend,
            "samples_per_rank": self.sizes(n_train),
        }


class SyncedRun:
    """Rank 0's :class:`~hessrmt.runfolder.RunFolder` as every rank sees it.

    ``folder`` is the open run folder on rank 0 and None elsewhere; ``out`` is its path (rank
    0's, also where ``--out`` was left to its timestamped default).
    """

    def __init__(self, ranks: Ranks, folder: Any, out: Path) -> None:
        self.ranks = ranks
        self.folder = folder
        self.out = out

    @property
    def resumed_steps(self) -> list[str]:
        return list(self.folder.resumed_steps) if self.folder is not None else []

    @property
    def computed_steps(self) -> list[str]:
        return list(self.folder.computed_steps) if self.folder is not None else []

    def step(
        self, name: str, compute: Callable[[], tuple[dict, dict]]
    ) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
        """:meth:`RunFolder.step` on every rank: rank 0 decides whether ``name`` is resumed;
        if not, every rank computes it (with its collectives) and rank 0 stores it; every rank
        returns rank 0's stored arrays and info."""
        if not self.ranks.active:
            return self.folder.step(name, compute)
        main = self.ranks.is_main
        resumed = self.ranks.broadcast(
            bool(self.folder.has(name)) if main else None, f"step {name}'s checkpoint state"
        )
        if resumed:
            stored = self.folder.step(name, compute) if main else None
        else:
            arrays, info = compute()
            stored = self.folder.step(name, lambda: (arrays, info)) if main else None
        return self.ranks.broadcast(stored, f"step {name}'s arrays")

    def finish(self, write: Callable[[Path], None], summary: dict[str, Any]) -> dict[str, Any]:
        """Rank 0 writes the run folder (``write(tmp)`` inside :meth:`RunFolder.finalize`) and
        tells every rank how it went; returns rank 0's ``summary`` on every rank.

        Raises on every rank when rank 0 failed (rank 0: its own error; the others: the same
        class with the same message, naming rank 0).
        """
        if self.ranks.is_main:
            try:
                with self.folder.finalize() as tmp:
                    write(tmp)
            except BaseException as exc:
                with contextlib.suppress(HessrmtError):
                    self.ranks.broadcast(("error", type(exc).__name__, str(exc)), "the outcome")
                raise
            self.ranks.broadcast(("ok", summary), "the outcome")
            return summary
        status, *rest = self.ranks.broadcast(None, "the outcome")
        if status == "ok":
            return rest[0]
        cls = _ERRORS.get(rest[0], DataError)
        raise cls(f"rank 0 could not write the run folder {self.out}: {rest[1]}")


@contextlib.contextmanager
def open_run(ranks: Ranks, out: Path, make_folder: Callable[[], Any]) -> Iterator[SyncedRun]:
    """Enter ``make_folder()`` (a :class:`~hessrmt.runfolder.RunFolder` at ``out``) on rank 0
    only and tell every rank whether it opened, and rank 0's ``out`` (a default ``--out`` holds
    a timestamp); a refusal (finished, locked, other settings...) is raised on every rank as
    the same error class with the same message (so every rank prints the same one line)."""
    if not ranks.active:
        with make_folder() as folder:
            yield SyncedRun(ranks, folder, out)
        return
    if not ranks.is_main:
        status, *rest = ranks.broadcast(None, "the run folder's state")
        if status != "ok":
            raise _ERRORS.get(rest[0], DataError)(rest[1])
        yield SyncedRun(ranks, None, Path(rest[0]))
        return
    with contextlib.ExitStack() as stack:
        try:
            folder = stack.enter_context(make_folder())
        except BaseException as exc:
            with contextlib.suppress(HessrmtError):
                ranks.broadcast(("error", type(exc).__name__, str(exc)), "the run folder's state")
            raise
        ranks.broadcast(("ok", str(out)), "the run folder's state")
        yield SyncedRun(ranks, folder, out)


def _terminated(signum: int, frame: Any) -> None:
    raise KeyboardInterrupt  # torchrun stops the other workers with SIGTERM when one fails


@contextlib.contextmanager
def process_group(device: str, timeout_s: float) -> Iterator[tuple[str, int]]:
    """Join the process group ``torchrun`` describes (WORLD_SIZE > 1) for the ``analyze``
    command, and leave it on exit; yields the device this rank uses and its rank.

    gloo on the CPU for ``--device cpu``; NCCL for a CUDA ``--device``, each rank on its own GPU
    ``cuda:LOCAL_RANK`` (the index of ``--device`` is replaced). Outside ``torchrun``, or when a
    group is already initialised, nothing is done. While in the group, SIGTERM (which
    ``torchrun`` sends to the other workers when one fails) becomes KeyboardInterrupt, so the
    run folder is left tidy (resumable checkpoints only) and the command prints one line.
    """
    import os
    import signal

    import torch
    import torch.distributed as dist

    from hessrmt.curvature.distributed import init_distributed

    try:
        world = int(os.environ.get("WORLD_SIZE", "1"))
    except ValueError:
        world = 2  # init_distributed names the malformed variable
    if dist.is_available() and dist.is_initialized():
        yield device, dist.get_rank()
        return
    if world <= 1:
        yield device, 0
        return
    try:
        cuda = torch.device(device).type == "cuda"
    except RuntimeError as exc:
        raise InputError(f"--device {device!r} is not a torch device: {exc}") from exc
    if cuda and not torch.cuda.is_available():
        raise InputError(f"--device {device}: CUDA is not available on this machine")
    try:
        info = init_distributed("nccl" if cuda else "gloo", timeout_s=timeout_s)
    except HessrmtError:
        raise
    except Exception as exc:  # rendezvous failures: one line
        from hessrmt.curvature.distributed import CollectiveError, _first_line

        raise CollectiveError(
            f"could not join the torchrun process group ({_first_line(exc)}); check "
            "MASTER_ADDR, MASTER_PORT and that every process was started"
        ) from None
    global ABANDONED
    previous = signal.signal(signal.SIGTERM, _terminated)
    failed = False
    try:
        yield (str(info.device) if cuda else device), info.rank
    except BaseException:
        failed = True
        raise
    finally:
        signal.signal(signal.SIGTERM, previous)
        if failed:
            # a peer may be gone: tearing the group down (now or at interpreter exit) can abort
            # the process from gloo's threads ("terminate called ..."); the CLI prints its one
            # line and leaves with os._exit instead (see hessrmt.cli.main)
            ABANDONED = True
        else:
            dist.destroy_process_group()
