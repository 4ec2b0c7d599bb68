"""Benchmark: spacing ratios, unfolding and the bulk split on 10^6 eigenvalues.

Run: ``.venv/bin/python bench/bench_rmt_stats.py [--n 1000000]``. Goal (issue 2): <r~> and
unfolding on 10^6 eigenvalues well under a second each. Levels are iid draws from the
variance-1 semicircle (x = 4B - 2, B ~ Beta(3/2, 3/2)), which is all that timing needs.
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable
from typing import Any

import numpy as np

from hessrmt.rmt.bulk import split_spectrum
from hessrmt.rmt.spacings import reduced_ratios
from hessrmt.rmt.unfolding import (
    unfold_by_cdf,
    unfold_gaussian_kernel,
    unfold_polynomial,
    unfold_pooled,
)


def semicircle_cdf(x: np.ndarray) -> np.ndarray:
    x = np.clip(x, -2.0, 2.0)
    return 0.5 + x * np.sqrt(4 - x**2) / (4 * np.pi) + np.arcsin(x / 2) / np.pi


def timed(label: str, fn: Callable[[], Any], repeat: int = 3) -> Any:
    best, out = float("inf"), None
    for _ in range(repeat):
        t0 = time.perf_counter()
        out = fn()
        best = min(best, time.perf_counter() - t0)
    print(f"{label:<58s} {best:8.3f} s")
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=1_000_000, help="number of eigenvalues")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    rng = np.random.default_rng(args.seed)
    n = args.n
    levels = 4 * rng.beta(1.5, 1.5, n) - 2
    batch = levels.reshape(-1, 1000) if n % 1000 == 0 else levels[None, :]
    print(f"n = {n} eigenvalues (batch view {batch.shape})")

    m = timed("<r~> of one spectrum (sort + ratios + mean)", lambda: reduced_ratios(levels).mean())
    print(f"{'':<58s} <r~> = {m:.4f} (iid levels: Poisson 0.3863)")
    timed("<r~> of the batch (rows = spectra)", lambda: reduced_ratios(batch).mean())
    xi = timed("unfold by the semicircle cdf", lambda: unfold_by_cdf(levels, semicircle_cdf))
    print(f"{'':<58s} mean unfolded spacing = {np.diff(xi).mean():.4f}")
    xi = timed(
        "unfold by Gaussian kernel (binned FFT, Silverman h)",
        lambda: unfold_gaussian_kernel(levels),
    )
    print(f"{'':<58s} mean unfolded spacing = {np.diff(xi).mean():.4f}")
    timed("unfold by polynomial (degree 9)", lambda: unfold_polynomial(levels, 9))
    if batch.shape[0] > 1:
        timed("pooled leave-one-out unfolding of the batch", lambda: unfold_pooled(batch))
    timed("split_spectrum (zeros, outliers, bulk edges)", lambda: split_spectrum(levels))


if __name__ == "__main__":
    main()
