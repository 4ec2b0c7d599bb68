"""The Kac-Rice Hessian model of the GAN spin glass (Baskerville, Keating, Mezzadri, Najnudel,
arXiv 2101.02524) and its sampler.

Model (the authors' code ``rmt/empirical.py``; ``docs/reference/papers.md`` section 6.1 and
``docs/reference/oracles.md`` section 14):

    H = b M + [[b1 M1 - x1 I_{kappa N}, 0], [0, 0_{(1 - kappa) N}]],

M (N x N) and M1 (n1 x n1, n1 = floor(kappa N)) are GOE matrices in the "GAN repository"
normalisation: entries ``randn / sqrt(dim)`` symmetrised by (A + A^T) / 2, so off-diagonal
variance 1 / (2 dim), diagonal variance 1 / dim, semicircle of **variance 1/2** (radius sqrt 2).
Hence b M has a semicircle of variance b^2 / 2 and b1 M1 one of variance b1^2 / 2 on its block.

Exact moments of the limiting spectral distribution (free cumulants add, since M is
orthogonally invariant and independent of the block D = (b1 M1 - x1 I) + 0): with the moments
of D, m_k(D) = kappa E[(S1 - x1)^k] (S1 a semicircle of variance v1 = b1^2 / 2), the free
cumulants k_n of D, k_2 += b^2 / 2, and back to moments:

    mean = -kappa x1,   variance = b^2 / 2 + kappa b1^2 / 2 + kappa (1 - kappa) x1^2

(oracle FP-7 / GAN-1), and the third and fourth moments from the same recursion.
"""

from __future__ import annotations

import dataclasses
import math

import numpy as np

from hessrmt.errors import InputError
from hessrmt.rng import RngLike, as_generator

#: Normalisation recorded in every output that uses this model.
CONVENTIONS = {
    "model": "H = b M + [[b1 M1 - x1 I_{kappa N}, 0], [0, 0]] (arXiv 2101.02524; authors' code)",
    "goe": "M = (A + A^T)/2 with A_ij ~ N(0, 1/dim): semicircle variance 1/2, radius sqrt(2)",
    "stieltjes": "G(z) = int rho(l) / (z - l) dl, Im G < 0 for Im z > 0",
    "kappa": "kappa = N_D / N, the discriminator's share of the dimension (upper-left block)",
}


@dataclasses.dataclass(frozen=True)
class GanHessianModel:
    """Parameters of the GAN Hessian model ``H = b M + [[b1 M1 - x1 I, 0], [0, 0]]``.

    ``kappa`` in [0, 1] (the limits 0 and 1 are allowed here: the density is then a shifted
    semicircle), ``b >= 0``, ``b1 >= 0``, ``x1`` real. ``b = 0`` makes the law the mixture
    ``kappa * semicircle(-x1, b1^2/2) + (1 - kappa) * delta_0``, with an atom at 0.
    """

    kappa: float
    b: float = 1.0
    b1: float = 1.0
    x1: float = 0.0

    def __post_init__(self) -> None:
        for name in ("kappa", "b", "b1", "x1"):
            value = getattr(self, name)
            if not isinstance(value, (int, float, np.integer, np.floating)) or not math.isfinite(
                value
            ):
                raise InputError(f"{name} must be a finite number, got {value!r}")
            object.__setattr__(self, name, float(value))
        if not 0.0 <= self.kappa <= 1.0:
            raise InputError(f"kappa must lie in [0, 1], got {self.kappa}")
        if self.b < 0 or self.b1 < 0:
            raise InputError(f"b and b1 must be >= 0, got b = {self.b}, b1 = {self.b1}")

    @property
    def v(self) -> float:
        """Variance b^2 / 2 of the full-rank semicircle b M."""
        return self.b**2 / 2.0

    @property
    def v1(self) -> float:
        """Variance b1^2 / 2 of the block semicircle b1 M1 (on its own block)."""
        return self.b1**2 / 2.0

    def moments(self) -> np.ndarray:
        """Exact first four moments E[l^k], k = 1..4, of the limiting spectral distribution.

        Free cumulants of bM + D add (bM is a semicircle: only k_2 = b^2/2). Moments of D:
        m_k = kappa E[(S1 - x1)^k], S1 semicircle of variance v1 (E S1^2 = v1, E S1^4 = 2 v1^2).
        Free moment-cumulant relations (Nica & Speicher, Lecture 11):
        m1 = k1, m2 = k2 + k1^2, m3 = k3 + 3 k1 k2 + k1^3,
        m4 = k4 + 4 k1 k3 + 2 k2^2 + 6 k1^2 k2 + k1^4.
        """
        k, x, v1 = self.kappa, self.x1, self.v1
        d1 = -k * x
        d2 = k * (x**2 + v1)
        d3 = k * (-(x**3) - 3 * x * v1)
        d4 = k * (x**4 + 6 * x**2 * v1 + 2 * v1**2)
        c1 = d1
        c2 = d2 - c1**2
        c3 = d3 - 3 * c1 * c2 - c1**3
        c4 = d4 - 4 * c1 * c3 - 2 * c2**2 - 6 * c1**2 * c2 - c1**4
        c2 += self.v
        m1 = c1
        m2 = c2 + c1**2
        m3 = c3 + 3 * c1 * c2 + c1**3
        m4 = c4 + 4 * c1 * c3 + 2 * c2**2 + 6 * c1**2 * c2 + c1**4
        return np.array([m1, m2, m3, m4])

    def mean(self) -> float:
        """-kappa x1."""
        return -self.kappa * self.x1

    def variance(self) -> float:
        """b^2/2 + kappa b1^2/2 + kappa (1 - kappa) x1^2."""
        k = self.kappa
        return self.v + k * self.v1 + k * (1 - k) * self.x1**2

    def spectrum_bounds(self) -> tuple[float, float]:
        """An interval that contains the limiting support (Weyl: ||b M|| = sqrt(2) b)."""
        r = math.sqrt(2.0) * self.b
        lo = min(-self.x1 - math.sqrt(2.0) * self.b1, 0.0) if self.kappa > 0 else 0.0
        hi = max(-self.x1 + math.sqrt(2.0) * self.b1, 0.0) if self.kappa > 0 else 0.0
        if self.kappa == 1.0:
            lo, hi = -self.x1 - math.sqrt(2.0) * self.b1, -self.x1 + math.sqrt(2.0) * self.b1
        return lo - r, hi + r

    def to_dict(self) -> dict[str, float]:
        return dataclasses.asdict(self)


def _goe_repo(n: int, rng: np.random.Generator) -> np.ndarray:
    """A GOE matrix of order n in the repository normalisation (semicircle variance 1/2)."""
    a = rng.standard_normal((n, n)) / math.sqrt(n)
    return (a + a.T) / 2.0


def sample_hessians(
    model: GanHessianModel, n: int, size: int = 1, rng: RngLike = None
) -> np.ndarray:
    """``size`` matrices H of order n (shape (size, n, n)); the block has n1 = floor(kappa n).

    Each matrix draws its M and then its M1 from ``rng``, so the stream does not depend on how
    the draws are batched.
    """
    if not isinstance(n, (int, np.integer)) or n < 2:
        raise InputError(f"matrix order n must be an integer >= 2, got {n!r}")
    if not isinstance(size, (int, np.integer)) or size < 1:
        raise InputError(f"size must be a positive integer, got {size!r}")
    gen = as_generator(rng)
    n1 = int(model.kappa * n)
    idx = np.arange(n1)
    h = np.empty((size, n, n))
    for i in range(size):
        h[i] = model.b * _goe_repo(n, gen)
        if n1 > 0:
            h[i, :n1, :n1] += model.b1 * _goe_repo(n1, gen)
            h[i, idx, idx] -= model.x1
    return h


def sample_spectra(
    model: GanHessianModel, n: int, n_samples: int = 1, rng: RngLike = None, chunk: int = 20
) -> np.ndarray:
    """Eigenvalues (ascending) of ``n_samples`` sampled H, shape (n_samples, n).

    Diagonalised ``chunk`` at a time (memory); the draws do not depend on ``chunk``.
    """
    if not isinstance(n_samples, (int, np.integer)) or n_samples < 1:
        raise InputError(f"n_samples must be a positive integer, got {n_samples!r}")
    gen = as_generator(rng)
    out = np.empty((n_samples, n))
    for start in range(0, n_samples, chunk):
        stop = min(n_samples, start + chunk)
        out[start:stop] = np.linalg.eigvalsh(sample_hessians(model, n, stop - start, gen))
    return out
