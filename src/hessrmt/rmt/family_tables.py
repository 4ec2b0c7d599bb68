"""Quantile tables of each random-matrix family's unit law, and the fitted (tabulated) law.

Used by the W1 fits of :mod:`hessrmt.rmt.family_w1` (issue 13). For a family with shape
parameters theta (none for the semicircle; phi for Marchenko-Pastur and Wigner x Wishart; the two
ratios r1 >= r2 of a two-factor Wishart product; the mean degree c of the percolated Wigner law;
(phi, c) of the percolated Wishart law),
the *unit law* L_theta is the family's law at scale 1 (Semicircle(1, 0), MarchenkoPastur(phi, 1),
WishartProduct((r1, r2), 1), WignerWishartProduct(phi, 1), PercolatedWigner(c, 1),
PercolatedWishart(phi, c, 1)). Its table
holds the quantile function of the *continuous part* (the law conditioned on being nonzero),
Q_theta(u) on a fixed grid of u in [0, 1], and the atom at zero mu_theta({0}).

Between grid values of theta the continuous part is interpolated linearly in quantile space
(in log theta; bilinear in (log r1, log r2) for products; displacement interpolation), while the
atom is always the family's exact formula at theta (1 - 1/phi, 1 - 1/max r_i, Bordenave-Lelarge-
Salez, the bipartite maximum-matching formula; ``docs/reference/beyond-rmt.md`` §1-§3, §5, §8).

A fitted law (:class:`FittedLaw`) is ``a delta_0 + (1 - a) (s X + c)`` with X ~ the continuous part
of L_theta: scale s > 0, shift c (the semicircle's centre; 0 for the other families, whose atom
and support start are at 0), atom a (the family's own atom or the measured zero fraction,
:mod:`hessrmt.rmt.family_w1`).
"""

from __future__ import annotations

import functools
import math
from collections.abc import Sequence
from typing import Any

import numpy as np
from numpy.typing import ArrayLike

from hessrmt.errors import InputError
from hessrmt.rmt.law import SpectralLaw
from hessrmt.rmt.laws import MarchenkoPastur, Semicircle
from hessrmt.rmt.percolation import PercolatedWigner, percolated_wigner_atom
from hessrmt.rmt.percolation_wishart import PercolatedWishart, percolated_wishart_atom
from hessrmt.rmt.products import WignerWishartProduct, WishartProduct
from hessrmt.rng import RngLike, as_generator

__all__ = [
    "U_GRID",
    "FittedLaw",
    "axes",
    "exact_atom",
    "interpolated_quantiles",
    "quantile_table",
    "shape_grid",
    "unit_law",
]

#: the u grid of every quantile table
U_GRID = np.linspace(0.0, 1.0, 1201)
_X_POINTS = 800  # points on which a unit law's cdf is evaluated before inversion


def unit_law(family: str, shape: Sequence[float]) -> SpectralLaw:
    """The family's law at scale 1 and shape ``shape`` (module docstring)."""
    if family == "semicircle":
        return Semicircle(1.0, 0.0)
    if family == "marchenko-pastur":
        return MarchenkoPastur(shape[0], 1.0)
    if family == "wishart-product":
        return WishartProduct(list(shape), 1.0)
    if family == "wigner-wishart-product":
        return WignerWishartProduct(shape[0], 1.0)
    if family == "percolated-wigner":
        return PercolatedWigner(shape[0], 1.0, population=400, sweeps=8, grid=121, rng=0)
    if family == "percolated-wishart":
        return PercolatedWishart(shape[0], shape[1], 1.0, population=400, sweeps=8, grid=121, rng=0)
    if family == "free-sum":
        from hessrmt.rmt.pennington_bahri import PenningtonBahriLaw

        return PenningtonBahriLaw(shape[0], shape[1])
    raise InputError(f"no quantile table for family {family!r}")


def exact_atom(family: str, shape: Sequence[float]) -> float:
    """The family's atom at zero at ``shape`` (exact formula, no table)."""
    if family in ("marchenko-pastur", "wigner-wishart-product"):
        return max(0.0, 1.0 - 1.0 / shape[0])
    if family == "wishart-product":
        return max(0.0, 1.0 - 1.0 / max(shape))
    if family == "percolated-wigner":
        return percolated_wigner_atom(shape[0])
    if family == "percolated-wishart":
        return percolated_wishart_atom(shape[1], shape[0])
    return 0.0


@functools.lru_cache(maxsize=1024)
def quantile_table(family: str, shape: tuple[float, ...]) -> np.ndarray:
    """Q_theta on :data:`U_GRID`: quantiles of the continuous part of the unit law (cached)."""
    law = unit_law(family, shape)
    lo, hi = law.support()
    atom = float(sum(m for a, m in law.atoms() if a == 0.0))
    xs = np.linspace(lo, hi, _X_POINTS)
    if lo < 0.0 < hi:
        xs = np.unique(np.concatenate([xs, [0.0]]))
    if family == "free-sum":  # its cdf is a quadrature per point: integrate the density
        d = np.asarray(law.density(xs), dtype=float)
        f = np.concatenate([[0.0], np.cumsum(0.5 * (d[1:] + d[:-1]) * np.diff(xs))])
    else:
        f = np.asarray(law.cdf(xs), dtype=float) - atom * (xs >= 0)
    if atom >= 1.0 - 1e-12:
        raise InputError(f"{family} at {shape} is all atom; no continuous part")
    f = np.maximum.accumulate(np.clip(f / (1.0 - atom), 0.0, 1.0))
    f = (f - f[0]) / (f[-1] - f[0])
    # invert on the increasing part, keeping the last point of each flat run (so Q(0) is the
    # lower edge of the continuous part, not the atom's location)
    keep = np.concatenate([np.diff(f) > 0, [True]])
    return np.interp(U_GRID, f[keep], xs[keep])


def shape_grid(family: str, atom_mode: str) -> list[tuple[float, ...]]:
    """Grid of shapes searched by the W1 fit (log-spaced; see :mod:`hessrmt.rmt.family_w1`)."""
    if family == "semicircle":
        return [()]
    if family == "marchenko-pastur":
        # the continuous part of MP(phi > 1) is a rescaled MP(1/phi): with the atom matched to
        # the data only phi <= 1 is identifiable
        top = 1.0 if atom_mode == "matched" else 100.0
        return [(float(p),) for p in np.geomspace(0.01, top, 25 if top == 1.0 else 41)]
    if family == "wishart-product":
        # the law depends on {r1, r2} only, and the nonzero spectrum of a two-factor product is
        # that of the product with the smallest dimension first (all r <= 1) rescaled
        top, k = (1.0, 6) if atom_mode == "matched" else (20.0, 10)
        rs = np.geomspace(0.03 if atom_mode == "matched" else 0.02, top, k)
        return [(float(a), float(b)) for i, a in enumerate(rs) for b in rs[: i + 1]]
    if family == "wigner-wishart-product":
        # nonzero eigenvalues of C^{1/2} H C^{1/2} are those of A^T H A / m: the continuous part
        # of phi > 1 is a rescaled phi' = 1/phi one (same identifiability as MP)
        top, k = (1.0, 9) if atom_mode == "matched" else (50.0, 14)
        return [(float(p),) for p in np.geomspace(0.02, top, k)]
    if family == "free-sum":
        # MP(phi, mean 1) free-plus semicircle(variance 2 epsilon) (Pennington-Bahri H0 + H1)
        return [
            (float(a), float(b))
            for a in np.geomspace(0.05, 4.0, 7)
            for b in np.geomspace(0.002, 1.0, 7)
        ]
    if family == "percolated-wigner":
        # above c = 20 the law is within the solver's noise of the semicircle (its own family),
        # and the population-dynamics cost grows like c
        return [(float(c),) for c in np.geomspace(0.5, 20.0, 9)]
    if family == "percolated-wishart":
        # (phi, c): the nonzero spectrum of X X^T / n at (phi, c) is that of X^T X / p at
        # (1 / phi, c phi) rescaled by phi, so with the atom matched only phi <= 1 is identifiable;
        # the continuous part at c = 20 is close to MP (its own family), and the cost grows like c
        phis = np.geomspace(0.1, 1.0, 4) if atom_mode == "matched" else np.geomspace(0.1, 10.0, 7)
        return [(float(a), float(b)) for a in phis for b in np.geomspace(1.0, 20.0, 5)]
    raise InputError(f"no shape grid for family {family!r}")


class FittedLaw(SpectralLaw):
    """``a delta_0 + (1 - a) (s X + c)``, X with quantile function ``quantiles`` on
    :data:`U_GRID` (module docstring)."""

    def __init__(
        self,
        family: str,
        shape: Sequence[float],
        quantiles: np.ndarray,
        atom: float,
        scale: float,
        shift: float = 0.0,
        *,
        atom_mode: str = "matched",
    ) -> None:
        self.family, self.shape = family, tuple(float(t) for t in shape)
        self.q = np.asarray(quantiles, dtype=float)
        self.atom, self.scale, self.shift = float(atom), float(scale), float(shift)
        self.atom_mode = atom_mode
        self._x = self.scale * self.q + self.shift

    def __repr__(self) -> str:
        return (
            f"FittedLaw({self.family!r}, shape={self.shape}, atom={self.atom:.4g}, "
            f"scale={self.scale:.4g}, shift={self.shift:.4g})"
        )

    def _cont_cdf(self, x: np.ndarray) -> np.ndarray:
        keep = np.concatenate([[True], np.diff(self._x) > 0])
        return np.interp(x, self._x[keep], U_GRID[keep], left=0.0, right=1.0)

    def cdf(self, x: ArrayLike) -> np.ndarray:
        x = np.asarray(x, dtype=float)
        return (1.0 - self.atom) * self._cont_cdf(x) + self.atom * (x >= 0)

    def density(self, x: ArrayLike) -> np.ndarray:
        x = np.asarray(x, dtype=float)
        mid = 0.5 * (self._x[1:] + self._x[:-1])
        width = np.diff(self._x)
        dens = np.where(width > 0, np.diff(U_GRID) / np.where(width > 0, width, 1.0), 0.0)
        idx = np.clip(np.searchsorted(self._x, x) - 1, 0, mid.size - 1)
        inside = (x >= self._x[0]) & (x <= self._x[-1])
        return np.where(inside, (1.0 - self.atom) * dens[idx], 0.0)

    def support(self) -> tuple[float, float]:
        lo, hi = float(self._x[0]), float(self._x[-1])
        if self.atom > 0:
            lo, hi = min(lo, 0.0), max(hi, 0.0)
        return lo, hi

    def atoms(self) -> list[tuple[float, float]]:
        return [(0.0, self.atom)] if self.atom > 0 else []

    def _cells(self) -> tuple[np.ndarray, np.ndarray]:
        return 0.5 * (self._x[1:] + self._x[:-1]), (1.0 - self.atom) * np.diff(U_GRID)

    def stieltjes(self, z: ArrayLike) -> np.ndarray:
        """G(z) of the tabulated law (mid-point rule over the quantile cells, plus the atom)."""
        z = np.asarray(z, dtype=complex)
        pts, w = self._cells()
        g = np.sum(w / (z[..., None] - pts), axis=-1)
        return g + self.atom / z if self.atom > 0 else g

    def moment(self, k: int) -> float:
        pts, w = self._cells()
        return float(np.sum(w * pts**k) + (self.atom if k == 0 else 0.0))

    def sample(self, n: int, rng: RngLike = None) -> np.ndarray:
        gen = as_generator(rng)
        out = np.interp(gen.random(n), U_GRID, self._x)
        out[gen.random(n) < self.atom] = 0.0
        return out

    def conventions(self) -> dict[str, Any]:
        return {
            "law": "FittedLaw",
            "family": self.family,
            "shape": list(self.shape),
            "atom_at_zero": self.atom,
            "atom_mode": self.atom_mode,
            "scale": self.scale,
            "shift": self.shift,
            "form": "a delta_0 + (1 - a)(s X + c), X the continuous part of the family's unit "
            "law, tabulated by its quantile function on "
            f"{U_GRID.size} points",
        }


def interpolated_quantiles(
    family: str, grid: list[tuple[float, ...]], shape: Sequence[float]
) -> np.ndarray:
    """Q at ``shape`` by linear interpolation in log-shape between the grid's tables (1-D) or
    bilinear in (log r1, log r2) over the grid's values (products, symmetric in r1, r2)."""
    if not grid[0]:
        return quantile_table(family, ())
    if len(grid[0]) == 1:
        t = np.log([g[0] for g in grid])
        s = float(np.clip(math.log(shape[0]), t[0], t[-1]))
        k = int(np.clip(np.searchsorted(t, s) - 1, 0, t.size - 2))
        w = (s - t[k]) / (t[k + 1] - t[k])
        return (1 - w) * quantile_table(family, grid[k]) + w * quantile_table(family, grid[k + 1])
    va, vb = axes(family, grid)
    a = float(np.clip(math.log(shape[0]), va[0], va[-1]))
    b = float(np.clip(math.log(shape[1]), vb[0], vb[-1]))
    out = np.zeros(U_GRID.size)
    ia = int(np.clip(np.searchsorted(va, a) - 1, 0, va.size - 2))
    ib = int(np.clip(np.searchsorted(vb, b) - 1, 0, vb.size - 2))
    wa = (a - va[ia]) / (va[ia + 1] - va[ia])
    wb = (b - vb[ib]) / (vb[ib + 1] - vb[ib])
    for i, wi in ((ia, 1 - wa), (ia + 1, wa)):
        for j, wj in ((ib, 1 - wb), (ib + 1, wb)):
            key = (float(np.exp(va[i])), float(np.exp(vb[j])))
            if family == "wishart-product":
                key = tuple(sorted(key, reverse=True))
            out += wi * wj * quantile_table(family, _nearest_key(grid, key))
    return out


def axes(family: str, grid: list[tuple[float, ...]]) -> tuple[np.ndarray, np.ndarray]:
    """The log-values of a 2-D shape grid along each axis (products: the same ratios on both,
    the law being symmetric in r1, r2)."""
    if family == "wishart-product":
        v = np.log(sorted({g[0] for g in grid}))
        return v, v
    return np.log(sorted({g[0] for g in grid})), np.log(sorted({g[1] for g in grid}))


def _nearest_key(grid: list[tuple[float, ...]], key: tuple[float, ...]) -> tuple[float, ...]:
    """The grid entry equal to ``key`` up to round-off of exp(log(.))."""
    arr = np.log(np.array(grid))
    return grid[int(np.argmin(np.sum((arr - np.log(key)) ** 2, axis=1)))]
