"""DistributedOperator against the single-process operators, with 2 and 3 gloo processes on CPU.

Every check compares, in float64, the distributed result with the single-process operator on ALL
the data (dense autograd references for that operator are in test_operators.py): products in both
block layouts, the dense matrix, Lanczos eigenpairs, SLQ nodes and weights, Hutchinson traces,
loss and gradient, with uneven shards (31 samples), uneven batches that differ from the
reference's, and ignored targets (rank shares of the loss terms unlike their sample shares).
"""

from __future__ import annotations

import multiprocessing as mp
import queue as queue_mod
import time

import pytest
import torch

from hessrmt.curvature.distributed import (
    DistributedOperator,
    init_distributed,
    is_main_process,
    shard_indices,
)
from hessrmt.curvature.linop import DenseOperator
from hessrmt.errors import InputError
from tests.curvature import dist_workers as W

pytestmark = pytest.mark.skipif(
    not torch.distributed.is_available(), reason="torch without torch.distributed"
)


def run_ranks(
    world: int, checks: list[str], failure: str, limit: float = 240.0
) -> dict[tuple[int, str], object]:
    """Start ``world`` spawned gloo processes on 127.0.0.1 running ``checks`` then ``failure``
    (see dist_workers.worker); collect {(rank, tag): payload}."""
    ctx = mp.get_context("spawn")
    q = ctx.Queue()
    port = W.free_port()
    procs = [
        ctx.Process(target=W.worker, args=(r, world, port, checks, failure, q))
        for r in range(world)
    ]
    for p in procs:
        p.start()
    out: dict[tuple[int, str], object] = {}
    deadline = time.monotonic() + limit
    expected = world * (len(checks) + 1)
    try:
        while len(out) < expected and time.monotonic() < deadline:
            try:
                rank, tag, payload = q.get(timeout=1.0)
            except queue_mod.Empty:
                if all(not p.is_alive() for p in procs) and q.empty():
                    break
                continue
            out[(rank, tag)] = payload
    finally:
        for p in procs:
            p.join(timeout=max(1.0, deadline - time.monotonic()))
        for p in procs:
            if p.is_alive():
                p.kill()
                p.join()
    return out


CHECKS = {
    2: ["hessian:0", "residual:1", "hessian:1:sum", "misc"],
    3: ["hessian:1", "ggn:1", "misc"],
}
FAILURE = {2: "stuck", 3: "raise"}


@pytest.fixture(scope="module")
def runs() -> dict[int, dict[tuple[int, str], object]]:
    """One run of 2 and one of 3 processes (process start-up dominates the time)."""
    return {w: run_ranks(w, CHECKS[w], FAILURE[w]) for w in (2, 3)}


def _assert_close(res: dict[str, float], kind: str) -> None:
    tol = 1e-12
    keys = ["loss", "gradient", "matmat", "matmat_T", "matvec", "dense"]
    if kind == "hessian":
        keys += ["lanczos_values", "lanczos_vectors", "slq_nodes", "slq_weights", "trace"]
        keys += ["trace_samples"]
        assert res["ranks_identical"] == 1.0
        assert res["samples_per_rank_ok"] == 1.0
    for k in keys:
        assert res[k] <= tol, f"{k}: relative difference {res[k]:.2e} > {tol:g}"
    assert res["terms"] == 0.0
    assert res["num_data"] == W.N


@pytest.mark.slow
@pytest.mark.parametrize(
    ("world", "check"), [(w, c) for w in (2, 3) for c in CHECKS[w] if c != "misc"]
)
def test_distributed_equals_single_process(runs: dict, world: int, check: str) -> None:
    out = runs[world]
    for rank in range(world):
        assert (rank, check) in out, (rank, check, out)
        _assert_close(out[(rank, check)], check.split(":")[0])  # type: ignore[arg-type]


@pytest.mark.slow
@pytest.mark.parametrize("world", [2, 3])
def test_local_operator_without_term_count_and_size_mismatch(runs: dict, world: int) -> None:
    for rank in range(world):
        res = runs[world][(rank, "misc")]
        assert res["dense_mean"] <= 1e-12 and res["dense_sum"] <= 1e-12, res
        assert res["mismatch_raised"] == 1.0  # on every rank (no hang)


@pytest.mark.slow
def test_a_rank_that_raises_ends_every_rank_with_one_line(runs: dict) -> None:
    out = runs[3]
    assert "failed on purpose" in str(out.get((1, "raised"))), out
    for r in (0, 2):
        assert (r, "collective") in out, (r, out)
        elapsed, msg = str(out[(r, "collective")]).split("|", 1)
        assert float(elapsed) < 10.0 + 5.0  # within the timeout (gloo: usually at once)
        assert "\n" not in msg and f"rank {r} of 3" in msg and "another rank" in msg
        assert len(msg) < 300  # gloo's long explanation is cut to its first sentence


@pytest.mark.slow
def test_a_stuck_rank_times_out_with_one_line(runs: dict) -> None:
    out = runs[2]
    assert (0, "collective") in out, out
    elapsed, msg = str(out[(0, "collective")]).split("|", 1)
    assert 1.5 <= float(elapsed) < 2.0 + 3.0  # the 2 s timeout, not the group's 60 s
    assert "\n" not in msg and "timed out" in msg and "timeout 2 s" in msg


# -- single-process checks (no processes started) ---------------------------------------------


def test_shard_indices_partition_uneven() -> None:
    for n, w in [(31, 2), (31, 3), (5, 5), (10, 1)]:
        shards = [shard_indices(n, r, w) for r in range(w)]
        allidx = sorted(int(i) for s in shards for i in s)
        assert allidx == list(range(n))  # every sample on exactly one rank, none repeated
        sizes = [len(s) for s in shards]
        assert max(sizes) - min(sizes) <= 1
        # DistributedSampler's split (shuffle=False) before its padding
        assert list(shards[-1]) == list(range(w - 1, n, w))


@pytest.mark.parametrize(("n", "rank", "world"), [(2, 0, 3), (5, 5, 5), (5, -1, 2), (5, 0, 0)])
def test_shard_indices_rejects_bad_input(n: int, rank: int, world: int) -> None:
    with pytest.raises(InputError):
        shard_indices(n, rank, world)


def test_without_a_process_group() -> None:
    assert not torch.distributed.is_initialized()
    assert is_main_process()
    with pytest.raises(InputError, match="not initialised"):
        DistributedOperator(DenseOperator(torch.eye(3, dtype=torch.float64)))


def test_init_distributed_single_process(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("WORLD_SIZE", raising=False)
    info = init_distributed()
    assert (info.rank, info.world_size, info.backend, info.is_main) == (0, 1, "none", True)
    assert not torch.distributed.is_initialized()
    monkeypatch.setenv("WORLD_SIZE", "2")
    monkeypatch.delenv("MASTER_ADDR", raising=False)
    with pytest.raises(InputError, match="torchrun"):
        init_distributed()


def test_collective_error_is_one_short_line() -> None:
    from hessrmt.curvature.distributed import _first_line

    gloo = RuntimeError(
        "[/x/gloo/transport/tcp/pair.cc:553] Connection closed by peer [127.0.0.1]:4987. "
        "This is typically caused by a remote worker crashing.\nmore"
    )
    assert _first_line(gloo) == "Connection closed by peer [127.0.0.1]:4987"
    assert _first_line(RuntimeError("Operation timed out!")) == "Operation timed out!"
    assert _first_line(RuntimeError("")) == "RuntimeError"
