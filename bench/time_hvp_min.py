"""Minimum CPU time of the operator core's products on a loaded machine (not a test).

Run by hand, with the tree's code first on the path, alternately for two trees::

    PYTHONPATH=<tree>/src python bench/time_hvp_min.py [--repeats 150] [--block-repeats 40]

The digits MLP of :mod:`bench.time_operator_core` (P = 2,760, all 1,797 samples in batches of
128, ``hvp="auto"``), float64 and float32: one HVP ``repeats`` times and one block of 10
``block_repeats`` times, one thread. It prints the *minimum* thread CPU time (and minimum wall
time) of each: other jobs on a shared machine only ever add time, so the minimum is the least
load-sensitive estimate of the intrinsic cost (used for docs/benchmarks.md, "After the #12
redesign").
"""

from __future__ import annotations

import argparse
import time

import torch

from hessrmt.curvature import HessianOperator
from hessrmt.data import load_dataset
from hessrmt.nn.data import to_batches
from hessrmt.nn.zoo import build_model


def _minimum(fn, repeats: int) -> tuple[float, float]:  # type: ignore[no-untyped-def]
    """(min thread CPU time, min wall time) in ms over ``repeats`` calls after one warm-up."""
    fn()
    cpu, wall = [], []
    for _ in range(repeats):
        t0, c0 = time.perf_counter(), time.thread_time()
        fn()
        cpu.append(time.thread_time() - c0)
        wall.append(time.perf_counter() - t0)
    return min(cpu) * 1e3, min(wall) * 1e3


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeats", type=int, default=150)
    ap.add_argument("--block-repeats", type=int, default=40)
    args = ap.parse_args()
    torch.set_num_threads(1)
    data = load_dataset("digits", seed=0)
    model = build_model("mlp", input_shape=data.input_shape, n_outputs=data.n_outputs, seed=0)
    batches = to_batches(data, 128)
    loss = torch.nn.CrossEntropyLoss()
    gen = torch.Generator().manual_seed(0)
    parts = []
    for dtype in (torch.float64, torch.float32):
        op = HessianOperator(model, loss, batches, dtype=dtype)
        v = torch.randn(op.shape[0], generator=gen, dtype=torch.float64).to(dtype)
        R = torch.randn(10, op.shape[0], generator=gen, dtype=torch.float64).to(dtype)
        name = str(dtype).replace("torch.", "")
        for what, fn, n in (
            ("hvp", lambda op=op, v=v: op @ v, args.repeats),
            ("block10", lambda op=op, R=R: op.matmat(R.T), args.block_repeats),
        ):
            c, w = _minimum(fn, n)
            parts.append(f"{name} {what}: cpu {c:.2f} ms wall {w:.2f} ms;")
    print(" ".join(parts))


if __name__ == "__main__":
    main()
