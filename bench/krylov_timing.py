"""Before/after timing of the Krylov kernel on the digits MLP (not a test).

SLQ (10 probes x 80 steps) and top-10 Lanczos (tol 1e-8) on the float64 full-data Hessian of
the README's digits MLP (2,760 parameters), best of ``--repeats`` runs, single-threaded; wall
and CPU (process) time, the latter less sensitive to a shared, loaded machine. The same two on
a dense symmetric matrix of the same size measure the kernel's own overhead.

    PYTHONPATH=src python bench/krylov_timing.py [--repeats 5]
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import torch

from hessrmt.curvature import HessianOperator, lanczos, slq
from hessrmt.curvature.linop import DenseOperator
from hessrmt.data import load_dataset
from hessrmt.nn.data import to_batches
from hessrmt.nn.zoo import build_model


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    torch.set_num_threads(1)
    data = load_dataset("digits", seed=0)
    model = build_model("mlp", input_shape=data.input_shape, n_outputs=data.n_outputs, seed=0)
    H = HessianOperator(
        model, torch.nn.CrossEntropyLoss(), to_batches(data, 128), dtype=torch.float64
    )
    # the same algorithms on a dense matrix of the same size (a cheap product: the Krylov
    # kernel's own overhead dominates)
    gen = np.random.default_rng(0)
    n = H.shape[0]
    Q, _ = np.linalg.qr(gen.standard_normal((n, n)))
    M = (Q * np.r_[np.linspace(0.0, 1.0, n - 10), np.linspace(2.0, 3.0, 10)]) @ Q.T
    D = DenseOperator(torch.as_tensor((M + M.T) / 2))
    tasks = {
        "slq(10 probes, 80 steps)": lambda: slq(H, num_probes=10, num_steps=80),
        "lanczos(k=10, LA)": lambda: lanczos(H, k=10, which="LA"),
        "dense: slq(10, 80)": lambda: slq(D, num_probes=10, num_steps=80),
        "dense: lanczos(k=10)": lambda: lanczos(D, k=10, which="LA"),
    }
    for name, fn in tasks.items():
        best, best_cpu, res = float("inf"), float("inf"), None
        for _ in range(args.repeats):
            t0, c0 = time.perf_counter(), time.process_time()
            res = fn()
            best = min(best, time.perf_counter() - t0)
            best_cpu = min(best_cpu, time.process_time() - c0)
        extra = (
            f"top={res.eigenvalues[0]:.10g}"
            if hasattr(res, "eigenvalues")
            else (f"moment1={res.moment(1):.10g}")
        )
        timing = f"best {best:7.3f} s (CPU {best_cpu:7.3f} s)"
        print(f"{name:28s} {timing}  matvecs {res.num_matvecs:5d}  {extra}")


if __name__ == "__main__":
    main()
