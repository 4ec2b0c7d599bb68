"""Error check of two approximations of ``hessrmt.rmt.complexity`` against sampling at moderate N
(docs/reference/spin-glass.md section 6).

1. Additive multi-spike index cost (``spiked.index_cost``): the rate of "at least k eigenvalues
   of M + sum_i theta_i e_i e_i^T above y" (M the variance-1 GOE, radius 2) against
   -(1/N) ln P from dense sampling at N = 20, 40, 80; the finite-N estimates are extrapolated
   by a least-squares fit a + b/N (the O(ln N / N) prefactor terms make raw values lag).
2. Edge-rate approximation for a non-semicircle law (``CoulombGas.rate``): the top eigenvalue of
   a real Wishart matrix (MP law, ratio phi, standardised to mean 0 and variance 1) above y,
   same procedure, and the exact beta = 1 Wishart rate
   I(x) = int_b^x sqrt((t - a)(t - b)) / (2 phi t) dt (Coulomb gas with
   V(l) = l/(2 phi) - (1 - phi)/(2 phi) ln l).

Run: ``.venv/bin/python bench/check_spin_glass_approximations.py [--samples 10000]``.
Prints one line per case: the rate from the code, the sampled -(1/N) ln P at each N with its
standard error, and the 1/N-extrapolated value.
"""

from __future__ import annotations

import argparse
import math

import numpy as np
from scipy.integrate import quad

from hessrmt.rmt.complexity.catalogue import named_law
from hessrmt.rmt.complexity.coulomb import CoulombGas
from hessrmt.rmt.complexity.spiked import index_cost

NS = (20, 40, 80)


def _goe_top(n: int, samples: int, thetas: list[float], k: int, gen) -> np.ndarray:
    out = np.empty(samples)
    chunk = 500
    for s in range(0, samples, chunk):
        m = min(chunk, samples - s)
        a = gen.standard_normal((m, n, n))
        h = (a + a.transpose(0, 2, 1)) / math.sqrt(2 * n)
        for i, t in enumerate(thetas):
            h[:, i, i] += t
        out[s : s + m] = np.linalg.eigvalsh(h)[:, n - k]  # k-th largest
    return out


def _wishart_top(n: int, samples: int, phi: float, gen) -> np.ndarray:
    cols = round(n / phi)
    out = np.empty(samples)
    chunk = 500
    for s in range(0, samples, chunk):
        m = min(chunk, samples - s)
        x = gen.standard_normal((m, n, cols))
        w = x @ x.transpose(0, 2, 1) / cols
        out[s : s + m] = np.linalg.eigvalsh(w)[:, -1]
    return out


def _rate_line(label: str, theory: float, tops: dict[int, np.ndarray], y: float) -> None:
    vals, errs = [], []
    for n, t in tops.items():
        p = float(np.mean(t >= y))
        se_p = math.sqrt(p * (1 - p) / t.size) if p > 0 else math.nan
        vals.append(-math.log(p) / n if p > 0 else math.inf)
        errs.append(se_p / (p * n) if p > 0 else math.nan)
    ns = np.array(list(tops), dtype=float)
    v = np.array(vals)
    fit = np.polyfit(1.0 / ns, v, 1)[1] if np.all(np.isfinite(v)) else math.nan
    cells = ", ".join(f"N={int(n)}: {a:.4f}±{e:.4f}" for n, a, e in zip(ns, v, errs, strict=True))
    print(f"{label}: code {theory:.4f} | sampled {cells} | a + b/N fit a = {fit:.4f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--samples", type=int, default=5000)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    gen = np.random.default_rng(args.seed)
    # levels close enough to the edge / outliers that plain sampling resolves P at N <= 80
    cases = [
        ("no spike, k=2, y=2.1", [], 2, 2.1),
        ("theta=(1.5,1.5), k=2, y=2.3", [1.5, 1.5], 2, 2.3),
        ("theta=(1.5), k=2, y=2.1", [1.5], 2, 2.1),
        ("theta=(0.8,0.8), k=2, y=2.1", [0.8, 0.8], 2, 2.1),
    ]
    for label, thetas, k, y in cases:
        tops = {n: _goe_top(n, args.samples, thetas, k, gen) for n in NS}
        # P(at least k above y) has the rate of "exactly k above y" (more is costlier)
        _rate_line(label, float(index_cost(k, y, thetas)), tops, y)
    for phi, y in ((0.5, 2.85), (0.1, 2.45)):
        gas = CoulombGas(named_law(f"mp:{phi}"))
        x = 1.0 + math.sqrt(phi) * y  # back to the unstandardised MP (mean 1, variance phi)
        tops = {n: _wishart_top(n, args.samples, phi, gen) for n in NS}
        lo, hi = (1 - math.sqrt(phi)) ** 2, (1 + math.sqrt(phi)) ** 2
        exact = quad(
            lambda t, lo=lo, hi=hi, f=phi: math.sqrt((t - lo) * (t - hi)) / (2 * f * t), hi, x
        )
        print(f"MP({phi}) exact Wishart rate at y={y}: {exact[0]:.4f}")
        _rate_line(
            f"MP({phi}) top eigenvalue, y={y} (edge {gas.right_edge:.3f})",
            float(gas.rate(y)),
            {n: t for n, t in tops.items()},
            x,
        )


if __name__ == "__main__":
    main()
