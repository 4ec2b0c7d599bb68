"""Benchmark: the GAN spin glass's exponent grid (one Coulomb-gas log-det per x1) for one sigma_z,
scalar solver (one density per x1) against the vectorised one (hessrmt.rmt.gan.batch).

Run: ``.venv/bin/python bench/bench_gan_density.py [--scalar-x1 20]``. The authors' grid: 2000
x in [-1000, 25] and 100 x1 in [-15, 40], p = q = 5, kappa = 0.9, sigma_z = 1, 200 nodes per
support interval (the complexity default). The scalar path is timed on ``--scalar-x1`` evenly
spaced x1 values and scaled to 100; CPU times (``time.process_time``), since wall time on a
shared machine measures the other jobs. Also prints the largest difference between the two.
"""

from __future__ import annotations

import argparse
import time

import numpy as np

from hessrmt.rmt.gan import complexity as cx
from hessrmt.rmt.gan import coulomb as cg


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scalar-x1", type=int, default=20)
    parser.add_argument("--sigma-z", type=float, default=1.0)
    args = parser.parse_args()
    c = cx.GanConstants.of(5, 5, args.sigma_z, 0.9)
    x = np.linspace(*cx.PAPER_X[:2], cx.PAPER_X[2])
    x1 = np.linspace(*cx.PAPER_X1[:2], cx.PAPER_X1[2])
    t0 = time.process_time()
    grid = cx.exponent_grid(c, x, x1)
    t_batch = time.process_time() - t0
    sub = x1[:: max(1, x1.size // args.scalar_x1)]
    t0 = time.process_time()
    ref = np.array([cg.log_determinant(c.model(v), x, n=200) for v in sub])
    t_scalar = (time.process_time() - t0) * x1.size / sub.size
    rows = np.searchsorted(x1, sub)
    diff = float(np.abs(ref - grid.log_det[rows]).max())
    print(f"grid {x.size} x {x1.size}, sigma_z = {args.sigma_z}, kappa = 0.9, p = q = 5")
    print(f"scalar (one density per x1, scaled from {sub.size}): {t_scalar:8.2f} s CPU")
    print(f"vectorised (rmt.gan.batch):                  {t_batch:8.2f} s CPU")
    print(f"speed-up {t_scalar / t_batch:.1f}x; max |difference| {diff:.2e}")


if __name__ == "__main__":
    main()
