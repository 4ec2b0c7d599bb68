"""Benchmark: tridiagonal GOE eigenvalues at large N and the numerical free convolution.

Run: ``python bench/bench_rmt_ensembles.py [--n 100000] [--points 1000]``. Prints a small table:
wall time of the Dumitriu-Edelman beta = 1 sampler plus ``eigvalsh_tridiagonal`` at N, and of
the free additive convolution density (semicircle(1) boxplus semicircle(2), checked against the
closed form semicircle(3)) and of MP(0.5) boxplus semicircle(0.2) and MP(1) boxtimes MP(1) on
``points`` grid points, with the max density error where a closed form exists.
"""

from __future__ import annotations

import argparse
import os
import time

os.environ.setdefault("OMP_NUM_THREADS", "1")

import numpy as np

from hessrmt.rmt.ensembles import beta_hermite_eigenvalues
from hessrmt.rmt.free import (
    free_additive_convolution,
    free_multiplicative_convolution,
)
from hessrmt.rmt.laws import MarchenkoPastur, Semicircle


def _timed(f):  # type: ignore[no-untyped-def]
    t = time.perf_counter()
    out = f()
    return out, time.perf_counter() - t


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--n", type=int, default=100_000, help="tridiagonal GOE size")
    p.add_argument("--points", type=int, default=1000, help="free-convolution grid points")
    args = p.parse_args()
    rows = []

    ev, t = _timed(lambda: beta_hermite_eigenvalues(args.n, 1.0, rng=0))
    rows.append((f"GOE tridiagonal eigenvalues, N = {args.n}", t, f"max {ev[-1]:.5f} (-> 2)"))

    x = np.linspace(-4.0, 4.0, args.points)
    law = free_additive_convolution(Semicircle(1.0), Semicircle(2.0))
    d, t = _timed(lambda: law.density(x))
    err = float(np.max(np.abs(d - Semicircle(3.0).density(x))))
    rows.append((f"sc(1) boxplus sc(2) density, {args.points} pts", t, f"max err {err:.1e}"))

    law2 = free_additive_convolution(MarchenkoPastur(0.5), Semicircle(0.2))
    x2 = np.linspace(-1.0, 4.0, args.points)
    _, t = _timed(lambda: law2.density(x2))
    rows.append((f"MP(0.5) boxplus sc(0.2) density, {args.points} pts", t, ""))

    law3 = free_multiplicative_convolution(MarchenkoPastur(1.0), MarchenkoPastur(1.0))
    y = np.linspace(0.05, 6.7, args.points)
    g, t = _timed(lambda: law3.stieltjes_upper(y))
    b = y * g
    res = float(np.max(np.abs(b**3 - y * b + y)))
    rows.append((f"MP(1) boxtimes MP(1) G, {args.points} pts", t, f"cubic residual {res:.1e}"))

    width = max(len(r[0]) for r in rows)
    print(f"{'task':<{width}}  {'seconds':>8}  check")
    for name, sec, note in rows:
        print(f"{name:<{width}}  {sec:8.3f}  {note}")


if __name__ == "__main__":
    main()
