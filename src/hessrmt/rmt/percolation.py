"""Percolated (diluted) Wigner matrices at mean degree c: atom at zero and limiting law.

Model (:func:`hessrmt.rmt.ensembles.percolated_wigner` with keep_prob = c / N): H_ij = H_ji =
B_ij g_ij, B_ij ~ Bernoulli(c/N), g_ij ~ N(0, v / c), zero diagonal; E|H_ij|^2 = v / N, so the
law tends to the semicircle of variance v as c -> infinity (for fixed keep probability p the limit
is that semicircle: the sparse regime p = c / N is the one with an atom).

**Atom at zero** (exact rank theory of sparse random graphs; ``docs/reference/oracles.md``
§11.2): Bordenave, Lelarge & Salez, "The rank of diluted random graphs", Ann. Probab. 39 (2011)
1097: for Erdos-Renyi graphs with mean degree c,

    mu({0}) = max_q  [ q + e^{-c q} + c q e^{-c q} - 1 ],   over roots of  q = exp(-c e^{-c q}),

(attained at the smallest root); for c <= e the root is q = W(c)/c and this is Bauer & Golinelli's
(2W(c) + W(c)^2)/c - 1 (Lambert W). The theorem is for adjacency matrices; for Gaussian weights
the rank is the generic rank of the pattern, and the same mass is observed (tests, §11.2 table).

**Continuous part**: the cavity / population-dynamics density of Rogers et al. 2008
(:mod:`hessrmt.rmt.cavity`, population started at the semicircle's G) with couplings
J^2 ~ (v/c) chi^2_1, read at z = x + i eta with default eta = 0.02 sqrt(v) (a smaller eta makes
E Im G heavy-tailed over the population): the tabulated density is the true one convolved with a
Cauchy of width eta. The atom's Lorentzian mu0 eta / (pi (x^2 + eta^2)) is subtracted, the result
clipped at 0 and tabulated on ``grid`` points of [-R, R] (R = 2.5 sqrt(v) sqrt(1 + 4/c)); the cdf
is the trapezoid rule on that table renormalised to 1 - mu0 (the mass before renormalising is
kept as ``mass_before``, a check of the solver).
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import scipy.optimize
from numpy.typing import ArrayLike

from hessrmt.rmt.cavity import population_dynamics
from hessrmt.rmt.law import SpectralLaw
from hessrmt.rmt.laws import Semicircle
from hessrmt.rmt.validate import positive as _positive
from hessrmt.rng import RngLike, as_generator

__all__ = ["PercolatedWigner", "percolated_wigner_atom"]


def percolated_wigner_atom(c: float) -> float:
    """Mass of the atom at zero of the Erdos-Renyi(c) (weighted) adjacency spectrum (BLS 2011)."""
    c = _positive("mean degree c", c)

    def f(q: float) -> float:
        return q - math.exp(-c * math.exp(-c * q))

    grid = np.linspace(0.0, 1.0, 20001)
    vals = np.array([f(q) for q in grid])
    roots = [
        scipy.optimize.brentq(f, grid[i], grid[i + 1], xtol=1e-15)
        for i in np.flatnonzero(np.sign(vals[:-1]) != np.sign(vals[1:]))
    ]
    roots += [float(q) for q in grid[vals == 0.0]]
    best = max(q + math.exp(-c * q) + c * q * math.exp(-c * q) - 1.0 for q in roots)
    return float(min(max(best, 0.0), 1.0))


def cavity_bulk_table(
    x: np.ndarray, g: np.ndarray, eta: ArrayLike, atom_mass: float, *, weight: float = 1.0
) -> tuple[np.ndarray, np.ndarray, float]:
    """(rho, cumulative mass, mass before renormalising) of a cavity law tabulated at x + i eta.

    rho = -Im G / pi minus the atom's Lorentzian atom_mass * eta / (pi (x^2 + eta^2)) (clipped at
    0), its trapezoid cumulative times ``weight`` (2 for a chiral density read in sqrt(lambda)),
    both rescaled so the continuous part carries 1 - atom_mass (the eta smoothing and the finite
    grid lose a little mass, recorded as ``mass_before``)."""
    lor = atom_mass * eta / (np.pi * (x**2 + eta**2))
    rho = np.clip(-g.imag / np.pi - lor, 0.0, None)
    cum = weight * np.concatenate([[0.0], np.cumsum(0.5 * (rho[1:] + rho[:-1]) * np.diff(x))])
    mass_before = float(cum[-1])
    target = 1.0 - atom_mass
    if cum[-1] > 0:
        rho, cum = rho * target / cum[-1], cum * target / cum[-1]
    return rho, cum, mass_before


class CavityLaw(SpectralLaw):
    """What the cavity laws share: Gaussian couplings of variance v / c, an atom at 0, and
    G(z) for Im z < 0 by reflection, G(conj z) = conj G(z), from ``cavity_stieltjes``."""

    variance_: float
    c: float
    atom_mass: float

    def cavity_stieltjes(self, z: ArrayLike) -> tuple[np.ndarray, np.ndarray]:
        raise NotImplementedError

    def _coupling_sq(self, gen: np.random.Generator, shape: tuple[int, ...]) -> np.ndarray:
        return gen.standard_normal(shape) ** 2 * (self.variance_ / self.c)

    def atoms(self) -> list[tuple[float, float]]:
        return [(0.0, self.atom_mass)] if self.atom_mass > 0 else []

    def stieltjes(self, z: ArrayLike) -> np.ndarray:
        z = np.asarray(z, dtype=complex)
        flat = z.ravel()
        up = flat.imag > 0
        out = np.empty(flat.shape, dtype=complex)
        if up.any():
            out[up] = self.cavity_stieltjes(flat[up])[0]
        if (~up).any():
            out[~up] = np.conj(self.cavity_stieltjes(np.conj(flat[~up]))[0])
        return out.reshape(z.shape)


class PercolatedWigner(CavityLaw):
    """Limit law of the percolated Wigner matrix at mean degree c and variance v (module doc)."""

    def __init__(
        self,
        c: float,
        variance: float = 1.0,
        *,
        population: int = 2000,
        sweeps: int = 30,
        grid: int = 161,
        eta: float | None = None,
        rng: RngLike = 0,
    ) -> None:
        self.c = _positive("mean degree c", c)
        self.variance_ = _positive("variance", variance)
        self.atom_mass = percolated_wigner_atom(self.c)
        s = math.sqrt(self.variance_)
        # max row sum of squared couplings grows like log N / log log N for sparse graphs; the
        # limit law has unbounded support with super-exponentially light tails: cover 2.5 radii
        self.radius = 2.5 * s * max(1.0, math.sqrt(1.0 + 4.0 / self.c))
        self.eta = 0.02 * s if eta is None else _positive("eta", eta)
        self.population, self.sweeps, self.grid_size = int(population), int(sweeps), int(grid)
        self.seed = rng if isinstance(rng, int) else None
        self._gen = as_generator(rng)
        self._table: tuple[np.ndarray, np.ndarray, np.ndarray] | None = None

    def __repr__(self) -> str:
        return f"PercolatedWigner(c={self.c!r}, variance={self.variance_!r})"

    def cavity_stieltjes(self, z: ArrayLike) -> tuple[np.ndarray, np.ndarray]:
        """(G(z), standard error) by population dynamics (Im z > 0)."""
        return population_dynamics(
            z,
            self.c,
            self._coupling_sq,
            population=self.population,
            sweeps=self.sweeps,
            burn_in=60,
            rng=self._gen,
            init=Semicircle(self.variance_).stieltjes(z),
        )

    def _tabulate(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        if self._table is None:
            x = np.linspace(-self.radius, self.radius, self.grid_size)
            g, _ = self.cavity_stieltjes(x + 1j * self.eta)
            rho, cum, self.mass_before = cavity_bulk_table(x, g, self.eta, self.atom_mass)
            self._table = (x, rho, cum)
        return self._table

    def density(self, x: ArrayLike) -> np.ndarray:
        grid, rho, _ = self._tabulate()
        return np.interp(np.asarray(x, dtype=float), grid, rho, left=0.0, right=0.0)

    def cdf(self, x: ArrayLike) -> np.ndarray:
        grid, _, cum = self._tabulate()
        x = np.asarray(x, dtype=float)
        out = np.interp(x, grid, cum, left=0.0, right=cum[-1]) + self.atom_mass * (x >= 0)
        return np.clip(out, 0.0, 1.0)

    def support(self) -> tuple[float, float]:
        return (-self.radius, self.radius)

    def moment(self, k: int) -> float:
        """Exact: odd moments 0; m_2 = v; m_4 = v^2 (2 + 3/c) (closed walks on the tree: two
        distinct edges, 2 ways, plus one edge traversed twice with E J^4 = 3 v^2 / c^2 and c
        neighbours); higher moments from the tabulated law."""
        if k == 0:
            return 1.0
        if k % 2 == 1:
            return 0.0
        v = self.variance_
        if k == 2:
            return v
        if k == 4:
            return v * v * (2.0 + 3.0 / self.c)
        grid, rho, _ = self._tabulate()
        return float(np.trapezoid(rho * grid**k, grid))

    def sample(self, n: int, rng: RngLike = None) -> np.ndarray:
        gen = as_generator(rng)
        grid, _, cum = self._tabulate()
        out = np.interp(gen.random(n) * cum[-1], cum, grid)
        out[gen.random(n) < self.atom_mass] = 0.0
        return out

    def conventions(self) -> dict[str, Any]:
        return {
            "law": "PercolatedWigner",
            "mean_degree": self.c,
            "variance": self.variance_,
            "atom_at_zero": self.atom_mass,
            "normalisation": "H_ij = B_ij g_ij, B ~ Bernoulli(c/N), g ~ N(0, v/c), zero diagonal",
            "method": "population dynamics (Rogers et al. 2008), atom by Bordenave-Lelarge-Salez",
            "population": self.population,
            "sweeps": self.sweeps,
            "eta": self.eta,
            "seed": self.seed,
        }
