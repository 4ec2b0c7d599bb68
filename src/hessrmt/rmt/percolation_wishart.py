"""Sparse percolated Wishart matrices at mean row degree c: atom at zero and limiting law.

Model (:func:`hessrmt.rmt.ensembles.percolated_wishart` with keep_prob = c / n): X is p x n,
X_ij = B_ij g_ij, B_ij ~ Bernoulli(c / n), g_ij ~ N(0, v n / c) (so E X_ij^2 = v),
and W = X X^T / n, phi = p / n. So a row of X has Poisson(c) nonzero entries, a column
Poisson(c phi), and W = J J^T with J_ij = X_ij / sqrt(n): J^2 ~ (v / c) chi^2_1 on each edge of
the bipartite random graph. As c -> infinity the law tends to Marchenko-Pastur MP(phi, v).

**Atom at zero** (derived in ``docs/reference/beyond-rmt.md`` §8): for generic (Gaussian)
weights rank X is the size of a maximum matching of the bipartite graph, so
mu({0}) = 1 - M / p. On the local tree limit (two-type Poisson Galton-Watson tree), with
alpha = P(a row is unmatched by some maximum matching of its subtree) and beta the same for a
column, alpha = exp(-c beta), beta = exp(-c phi alpha) (a vertex is avoidable iff none of its
children is), and the Gallai-Edmonds decomposition (bipartite: unmatched rows = |D_rows| -
|A_cols|, a column is in A iff >= 2 of its children are avoidable) gives

    mu({0}) = alpha + beta / phi + c alpha beta - 1 / phi,

maximised over the fixed points alpha = exp(-c exp(-c phi alpha)) (the Karp-Sipser /
Bordenave-Lelarge-Salez prescription; at phi = 1 it is BLS's Erdos-Renyi formula
q + e^{-cq} + c q e^{-cq} - 1). The single-fixed-point case is the tree argument above; with
several fixed points (large c) taking the maximum is BLS's theorem carried over to the bipartite
graph, checked here against exact maximum matchings (``tests/rmt/test_percolation_wishart.py``).

**Continuous part**: the bipartite cavity recursion of the chiral matrix A = [[0, J], [J^T, 0]]
(:func:`hessrmt.rmt.cavity.bipartite_population_dynamics`, population started at the
Marchenko-Pastur values), read at zeta = s + i eta (default eta = 0.02 v), s = sqrt(lambda): the
row density of A is rho_A(s) = s rho_W(s^2) on s > 0, symmetric in s, so smoothing by a Cauchy of
width eta in s loses no mass to negative s and resolves the singular behaviour of rho_W near 0
(smoothing directly in lambda lost ~10% of the mass at phi = 1, c = 4). Near s = 0, besides
the atom, rho_A has a sharp continuous peak (at phi = 1, c = 4 about 7% of the eigenvalues of W
lie below 0.001 at p = 1000): the first 8 eta of s are read at eta / 8. The atom's Lorentzian
is subtracted, the result clipped at 0 and tabulated on ``grid`` points of s in [0, sqrt R] with
R = v ((1 + sqrt(phi))^2 + 20 / c) (the support is unbounded with chi^2-like tails from single
edges, J^2 = (v / c) chi^2_1); F_W(lambda) = mu({0}) + 2 int_0^{sqrt lambda} rho_A, the trapezoid
rule renormalised to total mass 1 (``mass_before`` keeps the mass before renormalising, a check
of the solver).

**Moments** (closed walks on the bipartite tree, exact): m1 = v, m2 = v^2 (1 + phi + 3/c)
(a row vertex: (sum_a J_ia^2)^2 over its Poisson(c) edges gives v^2 + 3 v^2 / c; the walk
i -> a -> j -> a -> i with j != i gives c (v/c) (c phi) (v/c) = phi v^2);
m3 = v^3 (1 + 3 phi + phi^2 + 9 (1 + phi) / c + 15 / c^2) (the five Dyck paths of length 6, each
up-step to a child of a Poisson(c) (rows) or Poisson(c phi) (columns) family, an edge used m times
weighing E J^{2m} = (2m - 1)!! (v/c)^m; e.g. UDUDUD gives v^3 (1 + 9/c + 15/c^2)); all three reduce
to Marchenko-Pastur's Narayana moments as c -> infinity. Higher moments from the table.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import scipy.optimize
from numpy.typing import ArrayLike

from hessrmt.rmt.cavity import bipartite_population_dynamics
from hessrmt.rmt.laws import MarchenkoPastur
from hessrmt.rmt.percolation import CavityLaw, cavity_bulk_table
from hessrmt.rmt.validate import positive as _positive
from hessrmt.rng import RngLike, as_generator

__all__ = ["PercolatedWishart", "percolated_wishart_atom"]


def _fixed_points(c: float, phi: float) -> list[float]:
    """All roots alpha in [0, 1] of alpha = exp(-c exp(-c phi alpha))."""

    def f(a: float) -> float:
        return a - math.exp(-c * math.exp(-c * phi * a))

    grid = np.linspace(0.0, 1.0, 20001)
    vals = np.array([f(a) for a in grid])
    roots = [
        scipy.optimize.brentq(f, grid[i], grid[i + 1], xtol=1e-15)
        for i in np.flatnonzero(np.sign(vals[:-1]) != np.sign(vals[1:]))
    ]
    return roots + [float(a) for a in grid[vals == 0.0]]


def percolated_wishart_atom(c: float, phi: float) -> float:
    """Mass of the atom at zero of W = X X^T / n, X p x n with Bernoulli(c/n) dilution, phi = p/n
    (module docstring): max over fixed points of alpha + beta/phi + c alpha beta - 1/phi."""
    c = _positive("mean row degree c", c)
    phi = _positive("phi", phi)
    best = -math.inf
    for a in _fixed_points(c, phi):
        b = math.exp(-c * phi * a)
        best = max(best, a + b / phi + c * a * b - 1.0 / phi)
    # rank X <= min(p, n) and every isolated row gives a zero: both are lower bounds
    floor = max(0.0, 1.0 - 1.0 / phi, math.exp(-c))
    return float(min(max(best, floor), 1.0))


class PercolatedWishart(CavityLaw):
    """Limit law of the percolated Wishart matrix (ratio phi = p/n, mean row degree c,
    entry variance v; module docstring)."""

    def __init__(
        self,
        phi: float,
        c: float,
        variance: float = 1.0,
        *,
        population: int = 2000,
        sweeps: int = 30,
        grid: int = 201,
        eta: float | None = None,
        rng: RngLike = 0,
    ) -> None:
        self.phi = _positive("phi", phi)
        self.c = _positive("mean row degree c", c)
        self.variance_ = _positive("variance", variance)
        self.atom_mass = percolated_wishart_atom(self.c, self.phi)
        v = self.variance_
        self.radius = v * ((1.0 + math.sqrt(self.phi)) ** 2 + 20.0 / self.c)
        self.eta = 0.02 * v if eta is None else _positive("eta", eta)
        self.population, self.sweeps, self.grid_size = int(population), int(sweeps), int(grid)
        self.seed = rng if isinstance(rng, int) else None
        self._gen = as_generator(rng)
        self._table: tuple[np.ndarray, np.ndarray, np.ndarray] | None = None

    def __repr__(self) -> str:
        return f"PercolatedWishart(phi={self.phi!r}, c={self.c!r}, variance={self.variance_!r})"

    def cavity_stieltjes(self, z: ArrayLike) -> tuple[np.ndarray, np.ndarray]:
        """(G_W(z), standard error) by bipartite population dynamics (Im z > 0):
        G_W(z) = E[g_r(sqrt z)] / sqrt z (:mod:`hessrmt.rmt.cavity`)."""
        zeta = np.sqrt(np.asarray(z, dtype=complex).ravel())
        g, err = self._chiral(zeta)
        return g / zeta, err / np.abs(zeta)

    def _chiral(self, zeta: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """E[g_r(zeta)] of the chiral matrix [[0, J], [J^T, 0]], started at its dense limit."""
        g_mp = MarchenkoPastur(self.phi, self.variance_).stieltjes(zeta**2)
        h = 1.0 / (1.0 - self.phi * self.variance_ * g_mp)
        return bipartite_population_dynamics(
            zeta,
            self.c,
            self.c * self.phi,
            self._coupling_sq,
            population=self.population,
            sweeps=self.sweeps,
            burn_in=60,
            rng=self._gen,
            init=(zeta * g_mp, h / zeta),
        )

    def _tabulate(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(s, rho_A(s), F(s)): s = sqrt(lambda) on a uniform grid of [0, sqrt R], rho_A the
        chiral density (atom's Lorentzian removed), F(s) = 2 int_0^s rho_A = P(0 < W <= s^2)."""
        if self._table is None:
            # two resolutions: eta / 8 on s < 8 eta (33 points), where rho_A has a sharp
            # continuous peak at 0 besides the atom; eta on the uniform grid above
            eta_f, edge = self.eta / 8.0, 8.0 * self.eta
            coarse = math.sqrt(self.radius) * np.linspace(0.0, 1.0, self.grid_size)
            fine = np.linspace(0.0, edge, 33)
            s = np.concatenate([fine, coarse[coarse > edge]])
            eta = np.where(s <= edge, eta_f, self.eta)
            g, _ = self._chiral(s + 1j * eta)
            rho, cum, self.mass_before = cavity_bulk_table(s, g, eta, self.atom_mass, weight=2.0)
            self._table = (s, rho, cum)
        return self._table

    def density(self, x: ArrayLike) -> np.ndarray:
        """rho_W(x) = rho_A(sqrt x) / sqrt x (x > 0)."""
        grid, rho, _ = self._tabulate()
        x = np.asarray(x, dtype=float)
        root = np.sqrt(np.clip(x, 0.0, None))
        val = np.interp(root, grid, rho, right=0.0) / np.maximum(root, 0.5 * grid[1])
        return np.where(x > 0, val, 0.0)

    def cdf(self, x: ArrayLike) -> np.ndarray:
        grid, _, cum = self._tabulate()
        x = np.asarray(x, dtype=float)
        root = np.sqrt(np.clip(x, 0.0, None))
        out = np.where(x >= 0, np.interp(root, grid, cum) + self.atom_mass, 0.0)
        return np.clip(out, 0.0, 1.0)

    def support(self) -> tuple[float, float]:
        return (0.0, self.radius)

    def moment(self, k: int) -> float:
        """Exact m0 .. m3 (module docstring); higher moments from the tabulated law (biased upward
        by the Cauchy smoothing's tails)."""
        v = self.variance_
        if k == 0:
            return 1.0
        if k == 1:
            return v
        phi, c = self.phi, self.c
        if k == 2:
            return v**2 * (1.0 + phi + 3.0 / c)
        if k == 3:
            return v**3 * (1.0 + 3.0 * phi + phi**2 + 9.0 * (1.0 + phi) / c + 15.0 / c**2)
        grid, rho, _ = self._tabulate()
        return float(2.0 * np.trapezoid(rho * grid ** (2 * k), grid))

    def sample(self, n: int, rng: RngLike = None) -> np.ndarray:
        gen = as_generator(rng)
        grid, _, cum = self._tabulate()
        out = np.interp(gen.random(n) * cum[-1], cum, grid) ** 2
        out[gen.random(n) < self.atom_mass] = 0.0
        return out

    def conventions(self) -> dict[str, Any]:
        return {
            "law": "PercolatedWishart",
            "phi": self.phi,
            "mean_row_degree": self.c,
            "variance": self.variance_,
            "atom_at_zero": self.atom_mass,
            "normalisation": "W = X X^T / n, X p x n, X_ij = B_ij g_ij, B ~ Bernoulli(c/n), "
            "g ~ N(0, v n / c) (E X_ij^2 = v); phi = p / n",
            "method": "bipartite population dynamics (Rogers et al. 2008 cavity on the "
            "bipartite graph); atom by maximum matching on the two-type Poisson tree",
            "population": self.population,
            "sweeps": self.sweeps,
            "eta": self.eta,
            "seed": self.seed,
        }
