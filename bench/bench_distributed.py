"""Scaling of DistributedOperator: time per product and per Lanczos run for 1, 2, ... processes.

Usage::

    PYTHONPATH=src python bench/bench_distributed.py [--procs 1 2] [--samples 4096]
        [--hidden 128] [--threads 1] [--repeats 5] [--out bench/results/distributed.json]

Every run uses the same model (MLP 64-H-H-10, tanh, float64, cross-entropy) and the same N
samples, split over W gloo processes on 127.0.0.1 by ``shard_indices`` (W = 1 is the plain
single-process operator, no process group). Per W it reports medians [min-max] over
``--repeats`` of: one product with one vector, one with a block of 8, one all_reduce of P float64
numbers alone (the communication of one product), and one Lanczos run (5 largest, tol 1e-6,
seed 0); and the bytes all-reduced per product (8 P k). Process start-up and operator
construction are outside the timed regions. Each process uses ``--threads`` torch threads.
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
import socket
import statistics
import sys
import time
from pathlib import Path
from typing import Any

import torch
import torch.distributed as dist
import torch.multiprocessing as mp
from torch import nn

from hessrmt.curvature import lanczos
from hessrmt.curvature.distributed import DistributedOperator, shard_indices
from hessrmt.curvature.operators import HessianOperator


def _timed(fn: Any, repeats: int) -> dict[str, float]:
    ts = []
    for _ in range(repeats):
        if dist.is_initialized():
            dist.barrier()
        t0 = time.perf_counter()
        fn()
        ts.append(time.perf_counter() - t0)
    return {"median": statistics.median(ts), "min": min(ts), "max": max(ts), "n": len(ts)}


def _problem(n: int, hidden: int) -> tuple[nn.Module, nn.Module, torch.Tensor, torch.Tensor]:
    gen = torch.Generator().manual_seed(0)
    model = nn.Sequential(
        nn.Linear(64, hidden), nn.Tanh(), nn.Linear(hidden, hidden), nn.Tanh(),
        nn.Linear(hidden, 10),
    ).to(torch.float64).eval()  # fmt: skip
    X = torch.randn(n, 64, generator=gen, dtype=torch.float64)
    y = torch.randint(0, 10, (n,), generator=gen)
    return model, nn.CrossEntropyLoss(), X, y


def _measure(rank: int, world: int, args: argparse.Namespace) -> dict[str, Any]:
    model, loss_fn, X, y = _problem(args.samples, args.hidden)
    idx = torch.as_tensor(shard_indices(args.samples, rank, world))
    Xs, ys = X[idx], y[idx]
    batches = [(Xs[a : a + 512], ys[a : a + 512]) for a in range(0, len(idx), 512)]
    local = HessianOperator(model, loss_fn, batches)
    op = DistributedOperator(local) if world > 1 else local
    P = op.shape[0]
    gen = torch.Generator().manual_seed(1)
    v1 = torch.randn(P, 1, generator=gen, dtype=torch.float64)
    v8 = torch.randn(8, P, generator=gen, dtype=torch.float64).T  # the layout Lanczos passes
    op.matmat(v1)  # warm-up
    res: dict[str, Any] = {"P": P, "samples_per_rank": len(idx)}
    res["product_k1_s"] = _timed(lambda: op.matmat(v1), args.repeats)
    res["product_k8_s"] = _timed(lambda: op.matmat(v8), args.repeats)
    if world > 1:
        buf = torch.randn(P, dtype=torch.float64)
        res["all_reduce_P_s"] = _timed(lambda: dist.all_reduce(buf), args.repeats)
    res["lanczos_s"] = _timed(
        lambda: lanczos(op, 5, "LA", tol=1e-6, seed=0, warn=False), max(1, args.repeats // 2)
    )
    res["bytes_all_reduced_per_product_k1"] = 8 * P if world > 1 else 0
    res["bytes_all_reduced_per_product_k8"] = 8 * P * 8 if world > 1 else 0
    return res


def _worker(rank: int, world: int, port: int, args: argparse.Namespace, q: Any) -> None:
    torch.set_num_threads(args.threads)
    dist.init_process_group(
        "gloo", init_method=f"tcp://127.0.0.1:{port}", rank=rank, world_size=world,
        timeout=datetime.timedelta(seconds=600),
    )  # fmt: skip
    res = _measure(rank, world, args)
    if rank == 0:
        q.put(res)
    dist.barrier()
    dist.destroy_process_group()


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--procs", type=int, nargs="+", default=[1, 2])
    ap.add_argument("--samples", type=int, default=4096)
    ap.add_argument("--hidden", type=int, default=128)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--out", type=Path, default=Path("bench/results/distributed.json"))
    args = ap.parse_args(argv)
    rows = {}
    load0 = os.getloadavg()
    for w in args.procs:
        if w == 1:
            torch.set_num_threads(args.threads)
            rows[w] = _measure(0, 1, args)
        else:
            ctx = mp.get_context("spawn")
            q = ctx.Queue()
            mp.start_processes(
                _worker, args=(w, _free_port(), args, q), nprocs=w, start_method="spawn"
            )
            rows[w] = q.get(timeout=5)
        r = rows[w]
        print(
            f"W={w}: P={r['P']} samples/rank={r['samples_per_rank']} "
            f"product k=1 {r['product_k1_s']['median'] * 1e3:.1f} ms, "
            f"k=8 {r['product_k8_s']['median'] * 1e3:.1f} ms, "
            f"lanczos {r['lanczos_s']['median']:.2f} s"
            + (
                f", all_reduce of P {r['all_reduce_P_s']['median'] * 1e3:.2f} ms"
                if "all_reduce_P_s" in r
                else ""
            ),
            flush=True,
        )
    meta = {
        "date_utc": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
        "argv": sys.argv,
        "torch": torch.__version__,
        "platform": platform.platform(),
        "cpus": os.cpu_count(),
        "load_average_start": load0,
        "load_average_end": os.getloadavg(),
        "settings": {k: v for k, v in vars(args).items() if k != "out"},
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps({"meta": meta, "runs": rows}, indent=1))
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
