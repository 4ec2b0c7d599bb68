"""Worker processes for tests/curvature/test_distributed.py (gloo on CPU, 127.0.0.1 only).

Each worker joins a gloo group, builds the single-process reference operator on ALL the data and
a :class:`DistributedOperator` over a rank-local operator on its shard (uneven shards from
``shard_indices``, cut into uneven batches that differ from the reference's), and reports the
largest relative differences through a queue as plain floats and strings (the parent asserts).
"""

from __future__ import annotations

import datetime
import socket
import time
import traceback
from typing import Any

import numpy as np
import torch
import torch.distributed as dist
from torch import nn

from hessrmt.curvature import dense_matrix, hutchinson_trace, lanczos, slq
from hessrmt.curvature.distributed import CollectiveError, DistributedOperator, shard_indices
from hessrmt.curvature.linop import DenseOperator
from hessrmt.curvature.operators import GGNOperator, HessianOperator, ResidualOperator
from hessrmt.errors import InputError

N = 31  # samples: 16/15 on 2 ranks, 11/10/10 on 3


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def problem(
    ignore: bool, reduction: str = "mean"
) -> tuple[nn.Module, nn.Module, torch.Tensor, torch.Tensor]:
    """MLP 4-6-3 (tanh), cross-entropy; with ``ignore`` some targets are ignore_index."""
    gen = torch.Generator().manual_seed(7)
    model = nn.Sequential(nn.Linear(4, 6), nn.Tanh(), nn.Linear(6, 3)).to(torch.float64).eval()
    with torch.no_grad():
        for p in model.parameters():
            p.copy_(torch.randn(p.shape, generator=gen, dtype=torch.float64))
    X = torch.randn(N, 4, generator=gen, dtype=torch.float64)
    y = torch.randint(0, 3, (N,), generator=gen)
    if ignore:
        y[[0, 1, 4, 9, 13, 20]] = -100  # rank shares of the loss terms differ from sample shares
    return model, nn.CrossEntropyLoss(ignore_index=-100, reduction=reduction), X, y


def _cut(X: torch.Tensor, y: torch.Tensor, sizes: list[int]) -> list[tuple[Any, Any]]:
    out, a = [], 0
    for s in sizes:
        out.append((X[a : a + s], y[a : a + s]))
        a += s
    if a < len(X):
        out.append((X[a:], y[a:]))
    return out


def _rel(a: Any, b: Any) -> float:
    a = np.asarray(a, dtype=np.float64)
    b = np.asarray(b, dtype=np.float64)
    return float(np.max(np.abs(a - b)) / max(np.max(np.abs(b)), 1e-300))


def _checks(rank: int, world: int, kind: str, ignore: bool, reduction: str) -> dict[str, float]:
    model, loss_fn, X, y = problem(ignore, reduction)
    cls = {"hessian": HessianOperator, "ggn": GGNOperator, "residual": ResidualOperator}[kind]
    ref = cls(model, loss_fn, _cut(X, y, [7, 5, 11]))  # single process, all the data
    idx = torch.as_tensor(shard_indices(N, rank, world))
    local = cls(model, loss_fn, _cut(X[idx], y[idx], [3 + rank]))  # uneven last batches
    op = DistributedOperator(local, timeout_s=60)
    P = op.shape[0]
    gen = torch.Generator().manual_seed(3)
    V = torch.randn(P, 3, generator=gen, dtype=torch.float64)
    res = {
        "P": float(P),
        "loss": _rel(op.loss(), ref.loss()),
        "gradient": _rel(op.gradient(), ref.gradient()),
        "matmat": _rel(op.matmat(V), ref.matmat(V)),
        "matmat_T": _rel(op.matmat(V.T.contiguous().T), ref.matmat(V.T.contiguous().T)),
        "matvec": _rel(op.matvec(V[:, 0]), ref.matvec(V[:, 0])),
        "dense": _rel(dense_matrix(op), dense_matrix(ref)),
        # mean: loss terms over all ranks; sum: batches, as the single-process operator counts
        "terms": abs(op.total_terms - (ref.total_terms if reduction == "mean" else op.num_batches)),
        "num_data": float(op.num_data),
    }
    if kind == "hessian":
        la = lanczos(op, 4, "BE", rng=0, output="numpy")
        lb = lanczos(ref, 4, "BE", rng=0, output="numpy")
        res["lanczos_values"] = _rel(la.eigenvalues, lb.eigenvalues)
        signs = np.sign(np.sum(la.eigenvectors * lb.eigenvectors, axis=0))
        res["lanczos_vectors"] = _rel(la.eigenvectors * signs, lb.eigenvectors)
        sa, sb = slq(op, 3, 12, rng=0), slq(ref, 3, 12, rng=0)
        res["slq_nodes"] = _rel(sa.nodes, sb.nodes)
        res["slq_weights"] = _rel(sa.weights, sb.weights)
        ta, tb = hutchinson_trace(op, 12, rng=1), hutchinson_trace(ref, 12, rng=1)
        res["trace"] = _rel(ta.estimate, tb.estimate)
        res["trace_samples"] = _rel(ta.samples, tb.samples)
        # every rank holds bit-identical results
        got: list[Any] = [None] * world
        dist.all_gather_object(got, (la.eigenvalues.tolist(), sa.nodes.tolist()))
        res["ranks_identical"] = float(all(g == got[0] for g in got))
        conv = op.conventions()["distributed"]
        res["samples_per_rank_ok"] = float(
            conv["samples_per_rank"] == [len(shard_indices(N, r, world)) for r in range(world)]
        )
    return res


def _misc(rank: int, world: int) -> dict[str, float]:
    """A local operator without a term count (num_terms=), and ranks that disagree on P."""
    gen = torch.Generator().manual_seed(11)
    mats, terms = [], [3.0 + 2 * r for r in range(world)]
    for _ in range(world):
        B = torch.randn(5, 5, generator=gen, dtype=torch.float64)
        mats.append(B + B.T)
    op = DistributedOperator(DenseOperator(mats[rank]), num_terms=terms[rank])
    want = sum(t * M for t, M in zip(terms, mats)) / sum(terms)
    res = {"dense_mean": _rel(dense_matrix(op), want)}
    op = DistributedOperator(DenseOperator(mats[rank]), num_terms=terms[rank], reduction="sum")
    res["dense_sum"] = _rel(dense_matrix(op), sum(mats))
    try:
        DistributedOperator(DenseOperator(mats[rank][: 5 - rank, : 5 - rank]), num_terms=1.0)
        res["mismatch_raised"] = 0.0
    except InputError as exc:
        res["mismatch_raised"] = float("disagree on the number of parameters" in str(exc))
    return res


def _failure(rank: int, world: int, scenario: str, queue: Any) -> None:
    """After the checks: rank 1 raises (and exits) or sleeps; the others try one product."""
    model, loss_fn, X, y = problem(False)
    idx = torch.as_tensor(shard_indices(N, rank, world))
    op = DistributedOperator(HessianOperator(model, loss_fn, [(X[idx], y[idx])]))
    V = torch.ones(op.shape[0], 2, dtype=torch.float64)
    op.matmat(V)  # one good product first
    if scenario == "raise" and rank == 1:
        raise RuntimeError("rank 1 failed on purpose")
    if scenario == "stuck" and rank == 1:
        time.sleep(4.0)  # alive, but never joins the collective
        queue.put((rank, "slept", ""))
        return
    op.timeout_s = 2.0 if scenario == "stuck" else 10.0
    t0 = time.monotonic()
    try:
        op.matmat(V)
        queue.put((rank, "no error", ""))
    except CollectiveError as exc:
        queue.put((rank, "collective", f"{time.monotonic() - t0:.3f}|{exc}"))


def worker(rank: int, world: int, port: int, checks: list[str], failure: str, queue: Any) -> None:
    """Run each check ("kind:ignore") on this rank, putting (rank, check, results) on
    ``queue``, then the ``failure`` scenario ("raise" or "stuck")."""
    torch.set_num_threads(1)
    dist.init_process_group(
        "gloo",
        init_method=f"tcp://127.0.0.1:{port}",
        rank=rank,
        world_size=world,
        timeout=datetime.timedelta(seconds=60),
    )
    try:
        for check in checks:
            if check == "misc":
                queue.put((rank, check, _misc(rank, world)))
                continue
            kind, ignore, *red = check.split(":")
            res = _checks(rank, world, kind, ignore == "1", red[0] if red else "mean")
            queue.put((rank, check, res))
        _failure(rank, world, failure, queue)
    except Exception as exc:  # the failing rank: report and exit (closing its connections)
        queue.put((rank, "raised", f"{type(exc).__name__}: {exc}|{traceback.format_exc()}"))
