"""Before/after timing of the operator core (issue 12, item 1): a few HVPs and a dense Hessian.

Not a test: run by hand, with the tree's code first on the path::

    PYTHONPATH=src python bench/time_operator_core.py [--repeats 7]

The digits MLP of the main job (P = 2,760, float64, 1,797 samples in batches of 128): median
wall time of one HVP (k = 1) and of one block of 10 (transposed (10, P) rows, as Lanczos and SLQ
pass them) for every HVP engine, the HVP of the same MLP in float32, and one dense Hessian
(``dense_matrix``, default chunks). One thread; CPU time of that thread, so the 2-core
machine's load matters less. To compare two versions, run both alternately on the same
machine (``PYTHONPATH=<other tree>/src``).
"""

from __future__ import annotations

import argparse
import statistics
import time

import torch

from hessrmt.curvature import HessianOperator, dense_matrix
from hessrmt.data import load_dataset
from hessrmt.nn.data import to_batches
from hessrmt.nn.zoo import build_model


def _median(fn, repeats: int, warm_up: bool = True) -> float:
    """Median CPU time of this thread (``time.thread_time``: one thread, so it is the work
    done, much less sensitive than wall time to other jobs on a shared machine)."""
    if warm_up:
        fn()
    times = []
    for _ in range(repeats):
        t0 = time.thread_time()
        fn()
        times.append(time.thread_time() - t0)
    return statistics.median(times)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeats", type=int, default=7)
    ap.add_argument("--dense-repeats", type=int, default=1)
    args = ap.parse_args()
    torch.set_num_threads(1)
    data = load_dataset("digits", seed=0)
    model = build_model("mlp", input_shape=data.input_shape, n_outputs=data.n_outputs, seed=0)
    batches = to_batches(data, 128)
    loss = torch.nn.CrossEntropyLoss()
    gen = torch.Generator().manual_seed(0)
    for dtype in (torch.float64, torch.float32):
        for hvp in ("auto", "double-backward", "forward-over-reverse"):
            if dtype == torch.float32 and hvp != "auto":
                continue
            op = HessianOperator(model, loss, batches, dtype=dtype, hvp=hvp)
            P = op.shape[0]
            v = torch.randn(P, generator=gen, dtype=torch.float64).to(dtype)
            R = torch.randn(10, P, generator=gen, dtype=torch.float64).to(dtype)
            t1 = _median(lambda op=op, v=v: op @ v, args.repeats)
            t10 = _median(lambda op=op, R=R: op.matmat(R.T), max(3, args.repeats // 2))
            name = str(dtype).replace("torch.", "")
            print(
                f"{name:8s} hvp={hvp:21s} P={P}: HVP {t1 * 1e3:7.1f} ms, block of 10 "
                f"{t10 * 1e3:7.1f} ms"
            )
    op = HessianOperator(model, loss, batches, dtype=torch.float64)
    td = _median(lambda: dense_matrix(op), args.dense_repeats, warm_up=False)
    print(f"float64  dense Hessian (auto, default chunks): {td:.2f} s")


if __name__ == "__main__":
    main()
