"""Closed-form limiting spectral laws: semicircle, Marchenko-Pastur, uniform, empirical (atomic).

Conventions (``docs/reference/oracles.md`` §0, §6), shared with
:class:`hessrmt.rmt.law.SpectralLaw`:

* Stieltjes transform G(z) = int dmu(l) / (z - l), G(z) ~ 1/z, Im G < 0 for Im z > 0; density
  rho(x) = -(1/pi) lim_{eta -> 0+} Im G(x + i eta). For real ``z`` inside the support the
  closed forms here return the boundary value from the upper half plane, G(x + i0).
* Semicircle of variance s^2 = ``variance`` centred at ``center``: radius 2s; the limit of the
  normalised GOE (off-diagonal variance s^2/N).
* Marchenko-Pastur MP(phi, scale): the limit of W = X X^T / n, X of size p x n with iid entries
  of variance ``scale``, phi = p / n; edges scale (1 +- sqrt(phi))^2, mean ``scale``, variance
  scale^2 phi, atom 1 - 1/phi at zero when phi > 1. (WeightWatcher's Q = 1/phi.)
* R-transform: G(R(w) + 1/w) = w. S-transform: S_{mu boxtimes nu} = S_mu S_nu (§0.1).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import numpy as np
from numpy.typing import ArrayLike

from hessrmt.errors import InputError
from hessrmt.rmt.law import SpectralLaw
from hessrmt.rmt.validate import finite as _finite
from hessrmt.rmt.validate import positive as _positive
from hessrmt.rng import RngLike, as_generator

__all__ = [
    "EmpiricalLaw",
    "MarchenkoPastur",
    "Semicircle",
    "UniformLaw",
    "quantile_by_bisection",
    "stieltjes_derivative",
]


def _as_complex(z: ArrayLike) -> np.ndarray:
    return np.asarray(z, dtype=complex)


def check_probabilities(u: ArrayLike) -> np.ndarray:
    """``u`` as a float array, after checking every entry is a probability in [0, 1]."""
    u = np.asarray(u, dtype=float)
    bad = ~((u >= 0.0) & (u <= 1.0))  # also catches NaN
    if np.any(bad):
        first = u[bad].ravel()[0]
        raise InputError(
            f"quantile levels must lie in [0, 1]; got {first!r} ({int(bad.sum())} out of range)"
        )
    return u


def quantile_by_bisection(
    cdf: Callable[[np.ndarray], np.ndarray],
    u: ArrayLike,
    lo: float,
    hi: float,
    *,
    iterations: int = 64,
) -> np.ndarray:
    """Vectorised inverse of a non-decreasing ``cdf`` on [lo, hi]: smallest x with cdf(x) >= u
    (to ``(hi - lo) 2^-iterations``). ``u`` must lie in [0, 1] (an :class:`InputError` otherwise).
    """
    u = check_probabilities(u)
    a = np.full(u.shape, float(lo))
    b = np.full(u.shape, float(hi))
    for _ in range(iterations):
        mid = 0.5 * (a + b)
        right = cdf(mid) >= u
        b = np.where(right, mid, b)
        a = np.where(right, a, mid)
    return 0.5 * (a + b)


def stieltjes_derivative(law: SpectralLaw, z: ArrayLike) -> np.ndarray:
    """G'(z) of ``law``: its own closed form when it has ``stieltjes_derivative``, else a complex
    central difference with step 1e-4 Im z (accurate to ~1e-8 relative off the real axis)."""
    own = getattr(law, "stieltjes_derivative", None)
    z = _as_complex(z)
    if own is not None:
        return own(z)
    h = 1e-4 * np.maximum(np.abs(z.imag), 1e-8) + 0j
    return (law.stieltjes(z + h) - law.stieltjes(z - h)) / (2 * h)


# ----------------------------------------------------------------------------- semicircle
def _catalan(k: int) -> int:
    return math.comb(2 * k, k) // (k + 1)


class Semicircle(SpectralLaw):
    """Wigner semicircle of variance s^2 = ``variance`` centred at ``center`` (§6.1).

    rho(x) = sqrt(4 s^2 - u^2) / (2 pi s^2), u = x - center, |u| <= 2 s;
    F(x) = 1/2 + u sqrt(4 s^2 - u^2) / (4 pi s^2) + arcsin(u / 2s) / pi;
    G(z) = (w - sqrt(w - 2s) sqrt(w + 2s)) / (2 s^2), w = z - center (s^2 G^2 - w G + 1 = 0);
    R(w) = center + s^2 w; even central moments Catalan(k) s^{2k}.
    """

    def __init__(self, variance: float = 1.0, center: float = 0.0) -> None:
        self.variance_ = _positive("variance", variance)
        self.center = _finite("center", center)
        self.sigma = math.sqrt(self.variance_)

    def __repr__(self) -> str:
        return f"Semicircle(variance={self.variance_!r}, center={self.center!r})"

    def density(self, x: ArrayLike) -> np.ndarray:
        u = np.asarray(x, dtype=float) - self.center
        return np.sqrt(np.clip(4 * self.variance_ - u**2, 0.0, None)) / (2 * np.pi * self.variance_)

    def cdf(self, x: ArrayLike) -> np.ndarray:
        s = self.sigma
        u = np.clip(np.asarray(x, dtype=float) - self.center, -2 * s, 2 * s)
        out = (
            0.5
            + u * np.sqrt(np.clip(4 * s * s - u**2, 0.0, None)) / (4 * np.pi * s * s)
            + np.arcsin(u / (2 * s)) / np.pi
        )
        return np.clip(out, 0.0, 1.0)

    def support(self) -> tuple[float, float]:
        return (self.center - 2 * self.sigma, self.center + 2 * self.sigma)

    def stieltjes(self, z: ArrayLike) -> np.ndarray:
        w = _as_complex(z) - self.center
        s = self.sigma
        return (w - np.sqrt(w - 2 * s) * np.sqrt(w + 2 * s)) / (2 * self.variance_)

    def stieltjes_derivative(self, z: ArrayLike) -> np.ndarray:
        """G'(z) = -G / sqrt(w^2 - 4 s^2) = G / (2 s^2 G - w)."""
        w = _as_complex(z) - self.center
        g = self.stieltjes(z)
        return g / (2 * self.variance_ * g - w)

    def r_transform(self, w: ArrayLike) -> np.ndarray:
        return self.center + self.variance_ * np.asarray(w)

    def moment(self, k: int) -> float:
        total = 0.0
        for j in range(0, k + 1, 2):
            total += (
                math.comb(k, j)
                * self.center ** (k - j)
                * _catalan(j // 2)
                * self.variance_ ** (j // 2)
            )
        return float(total)

    def log_potential(self, x: ArrayLike) -> np.ndarray:
        """Omega(x) = int ln|x - l| rho(l) dl (§6.1): with u = (x - center)/s,
        ln s + u^2/4 - 1/2 for |u| <= 2 and ln s + u^2/4 - 1/2 - |u| sqrt(u^2 - 4)/4 +
        ln((|u| + sqrt(u^2 - 4))/2) outside."""
        u = (np.asarray(x, dtype=float) - self.center) / self.sigma
        a = np.abs(u)
        root = np.sqrt(np.clip(u * u - 4.0, 0.0, None))
        outside = -a * root / 4 + np.log(np.maximum((a + root) / 2, 1.0))
        return np.log(self.sigma) + u * u / 4 - 0.5 + np.where(a > 2, outside, 0.0)

    def sample(self, n: int, rng: RngLike = None) -> np.ndarray:
        """Exact draws: the abscissa of a uniform point of the disk of radius 2s (its marginal is
        the semicircle)."""
        gen = as_generator(rng)
        r = 2 * self.sigma * np.sqrt(gen.random(n))
        return self.center + r * np.cos(2 * np.pi * gen.random(n))

    def quantile(self, u: ArrayLike) -> np.ndarray:
        lo, hi = self.support()
        return quantile_by_bisection(self.cdf, u, lo, hi)

    def conventions(self) -> dict[str, Any]:
        return {
            "law": "Semicircle",
            "variance": self.variance_,
            "center": self.center,
            "radius": 2 * self.sigma,
            "normalisation": "limit of GOE with off-diagonal variance variance/N",
        }


# ----------------------------------------------------------------------------- Marchenko-Pastur
class MarchenkoPastur(SpectralLaw):
    """Marchenko-Pastur law MP(phi, scale) of W = X X^T / n, X p x n, entry variance ``scale``,
    phi = p / n (§6.2).

    l_pm = scale (1 +- sqrt(phi))^2; rho(x) = sqrt((l_+ - x)(x - l_-)) / (2 pi scale phi x) on
    [l_-, l_+], plus an atom 1 - 1/phi at 0 when phi > 1;
    G(z) = [z - scale (1 - phi) - sqrt(z - l_-) sqrt(z - l_+)] / (2 phi scale z);
    R(w) = scale / (1 - phi scale w); S(w) = 1 / (scale (1 + phi w));
    moments scale^k sum_j phi^j/(j+1) C(k, j) C(k-1, j) (Narayana).
    The cdf of the continuous part is in closed form (x = m - h cos t substitution).
    """

    def __init__(self, phi: float, scale: float = 1.0) -> None:
        self.phi = _positive("phi", phi)
        self.scale = _positive("scale", scale)
        r = math.sqrt(self.phi)
        self.lower = self.scale * (1 - r) ** 2
        self.upper = self.scale * (1 + r) ** 2
        self.atom_mass = max(0.0, 1.0 - 1.0 / self.phi)

    def __repr__(self) -> str:
        return f"MarchenkoPastur(phi={self.phi!r}, scale={self.scale!r})"

    def density(self, x: ArrayLike) -> np.ndarray:
        x = np.asarray(x, dtype=float)
        num = np.sqrt(np.clip((self.upper - x) * (x - self.lower), 0.0, None))
        with np.errstate(divide="ignore", invalid="ignore"):
            out = np.where(x > 0, num / (2 * np.pi * self.scale * self.phi * x), 0.0)
        return np.where((x > self.lower) & (x < self.upper), out, 0.0)

    def _continuous_cdf(self, x: np.ndarray) -> np.ndarray:
        m = 0.5 * (self.lower + self.upper)
        h = 0.5 * (self.upper - self.lower)
        if h <= 0.0:  # phi so small that the support is a point (to double precision)
            return (1.0 - self.atom_mass) * (x >= m).astype(float)
        c = np.clip((m - x) / h, -1.0, 1.0)
        t = np.arccos(c)
        gap = math.sqrt(max(m * m - h * h, 0.0))  # = scale |1 - phi|
        arct = np.arctan2(math.sqrt(m + h) * np.sin(t / 2), math.sqrt(m - h) * np.cos(t / 2))
        val = h * np.sin(t) + m * t - 2 * gap * arct
        return val / (2 * np.pi * self.scale * self.phi)

    def cdf(self, x: ArrayLike) -> np.ndarray:
        x = np.asarray(x, dtype=float)
        out = self._continuous_cdf(x) + self.atom_mass * (x >= 0)
        return np.clip(out, 0.0, 1.0)

    def support(self) -> tuple[float, float]:
        return (0.0 if self.atom_mass > 0 else self.lower, self.upper)

    def atoms(self) -> list[tuple[float, float]]:
        return [(0.0, self.atom_mass)] if self.atom_mass > 0 else []

    def stieltjes(self, z: ArrayLike) -> np.ndarray:
        """G(z) = (b - r) / (2 a) = 2 / (b + r), a = phi s z, b = z - s (1 - phi),
        r = sqrt(z - l_-) sqrt(z - l_+) (the two forms are equal because the roots of
        a G^2 - b G + 1 = 0 multiply to 1 / a). Each point uses the form without cancellation:
        near z = 0 with phi < 1, b - r -> 0 and a -> 0, so the first loses all digits
        (G(0) = -1 / (s (1 - phi)) exactly)."""
        z = _as_complex(z)
        root = np.sqrt(z - self.lower) * np.sqrt(z - self.upper)
        b = z - self.scale * (1 - self.phi)
        plus, minus = b + root, b - root
        with np.errstate(divide="ignore", invalid="ignore"):
            return np.where(
                np.abs(plus) >= np.abs(minus),
                2.0 / plus,
                minus / (2 * self.phi * self.scale * z),
            )

    def stieltjes_derivative(self, z: ArrayLike) -> np.ndarray:
        """From phi s z G^2 - (z - s(1 - phi)) G + 1 = 0 (s = scale):
        G' = (G - phi s G^2) / (2 phi s z G - z + s (1 - phi))."""
        z = _as_complex(z)
        g = self.stieltjes(z)
        ps = self.phi * self.scale
        return (g - ps * g * g) / (2 * ps * z * g - z + self.scale * (1 - self.phi))

    def r_transform(self, w: ArrayLike) -> np.ndarray:
        return self.scale / (1 - self.phi * self.scale * np.asarray(w))

    def s_transform(self, w: ArrayLike) -> np.ndarray:
        return 1.0 / (self.scale * (1 + self.phi * np.asarray(w)))

    def moment(self, k: int) -> float:
        if k == 0:
            return 1.0
        total = sum(self.phi**j / (j + 1) * math.comb(k, j) * math.comb(k - 1, j) for j in range(k))
        return float(self.scale**k * total)

    def sample(self, n: int, rng: RngLike = None) -> np.ndarray:
        """iid draws by inverse cdf (bisection on the closed-form cdf), atom included."""
        gen = as_generator(rng)
        u = gen.random(n)
        return self.quantile(u)

    def quantile(self, u: ArrayLike) -> np.ndarray:
        u = check_probabilities(u)
        out = quantile_by_bisection(self.cdf, u, self.lower, self.upper)
        return np.where(u <= self.atom_mass, 0.0, out)

    def conventions(self) -> dict[str, Any]:
        return {
            "law": "MarchenkoPastur",
            "phi": self.phi,
            "scale": self.scale,
            "edges": [self.lower, self.upper],
            "atom_at_zero": self.atom_mass,
            "normalisation": "W = X X^T / n, X p x n with entry variance scale, phi = p / n",
        }


# ----------------------------------------------------------------------------- uniform
class UniformLaw(SpectralLaw):
    """Uniform law on [a, b]: G(z) = (log(z - a) - log(z - b)) / (b - a)."""

    def __init__(self, a: float, b: float) -> None:
        self.a = _finite("a", a)
        self.b = _finite("b", b)
        if not self.b > self.a:
            raise InputError(f"UniformLaw needs a < b, got a={a!r}, b={b!r}")

    def __repr__(self) -> str:
        return f"UniformLaw({self.a!r}, {self.b!r})"

    def density(self, x: ArrayLike) -> np.ndarray:
        x = np.asarray(x, dtype=float)
        return np.where((x >= self.a) & (x <= self.b), 1.0 / (self.b - self.a), 0.0)

    def cdf(self, x: ArrayLike) -> np.ndarray:
        return np.clip((np.asarray(x, dtype=float) - self.a) / (self.b - self.a), 0.0, 1.0)

    def support(self) -> tuple[float, float]:
        return (self.a, self.b)

    def stieltjes(self, z: ArrayLike) -> np.ndarray:
        z = _as_complex(z)
        return (np.log(z - self.a) - np.log(z - self.b)) / (self.b - self.a)

    def stieltjes_derivative(self, z: ArrayLike) -> np.ndarray:
        z = _as_complex(z)
        return (1.0 / (z - self.a) - 1.0 / (z - self.b)) / (self.b - self.a)

    def moment(self, k: int) -> float:
        return (self.b ** (k + 1) - self.a ** (k + 1)) / ((k + 1) * (self.b - self.a))

    def sample(self, n: int, rng: RngLike = None) -> np.ndarray:
        return as_generator(rng).uniform(self.a, self.b, n)

    def conventions(self) -> dict[str, Any]:
        return {"law": "UniformLaw", "a": self.a, "b": self.b}


# ----------------------------------------------------------------------------- empirical
class EmpiricalLaw(SpectralLaw):
    """Atomic measure sum_i w_i delta_{l_i} (default w_i = 1/N): an empirical spectral law.

    No absolutely continuous part (``density`` is zero; see :meth:`smoothed_density`); the
    Stieltjes transform G(z) = sum_i w_i / (z - l_i) is exact, so free convolutions with an
    empirical law are exact up to the solver (``hessrmt.rmt.free``). Equal eigenvalues are merged.
    """

    def __init__(self, eigenvalues: ArrayLike, weights: ArrayLike | None = None) -> None:
        ev = np.asarray(eigenvalues, dtype=float).ravel()
        if ev.size == 0 or not np.all(np.isfinite(ev)):
            raise InputError("EmpiricalLaw needs a non-empty array of finite eigenvalues")
        if weights is None:
            w = np.full(ev.size, 1.0 / ev.size)
        else:
            w = np.asarray(weights, dtype=float).ravel()
            if w.shape != ev.shape or np.any(w < 0) or not np.isfinite(w).all() or w.sum() <= 0:
                raise InputError("weights must be non-negative, finite, one per eigenvalue")
            w = w / w.sum()
        values, inverse = np.unique(ev, return_inverse=True)
        self.values = values
        self.weights = np.bincount(inverse, weights=w, minlength=values.size)
        self._cum = np.cumsum(self.weights)

    def __repr__(self) -> str:
        return f"EmpiricalLaw(<{self.values.size} atoms on [{self.values[0]}, {self.values[-1]}]>)"

    def density(self, x: ArrayLike) -> np.ndarray:
        return np.zeros(np.shape(x))

    def smoothed_density(self, x: ArrayLike, bandwidth: float) -> np.ndarray:
        """Gaussian-kernel density estimate with the given bandwidth (not part of the law)."""
        bw = _positive("bandwidth", bandwidth)
        x = np.asarray(x, dtype=float)
        d = (x[..., None] - self.values) / bw
        return (np.exp(-0.5 * d * d) @ self.weights) / (bw * math.sqrt(2 * math.pi))

    def cdf(self, x: ArrayLike) -> np.ndarray:
        idx = np.searchsorted(self.values, np.asarray(x, dtype=float), side="right")
        cum = np.concatenate([[0.0], self._cum])
        return np.clip(cum[idx], 0.0, 1.0)

    def support(self) -> tuple[float, float]:
        return (float(self.values[0]), float(self.values[-1]))

    def atoms(self) -> list[tuple[float, float]]:
        return [(float(v), float(w)) for v, w in zip(self.values, self.weights)]

    def _apply(self, z: ArrayLike, power: int) -> np.ndarray:
        z = _as_complex(z)
        flat = z.ravel()
        out = np.empty(flat.shape, dtype=complex)
        chunk = max(1, 2_000_000 // self.values.size)
        for i in range(0, flat.size, chunk):
            inv = 1.0 / (flat[i : i + chunk, None] - self.values)
            # elementwise sum, not BLAS: tiny mat-vecs with threaded BLAS are slow under load
            out[i : i + chunk] = ((inv if power == 1 else inv**power) * self.weights).sum(-1)
        return out.reshape(z.shape)

    def stieltjes(self, z: ArrayLike) -> np.ndarray:
        return self._apply(z, 1)

    def stieltjes_and_derivative(self, z: ArrayLike) -> tuple[np.ndarray, np.ndarray]:
        """(G(z), G'(z)) in one pass over the atoms."""
        z = _as_complex(z)
        flat = z.ravel()
        g = np.empty(flat.shape, dtype=complex)
        dg = np.empty(flat.shape, dtype=complex)
        chunk = max(1, 2_000_000 // self.values.size)
        for i in range(0, flat.size, chunk):
            inv = 1.0 / (flat[i : i + chunk, None] - self.values)
            wi = inv * self.weights
            g[i : i + chunk] = wi.sum(-1)
            dg[i : i + chunk] = -(wi * inv).sum(-1)
        return g.reshape(z.shape), dg.reshape(z.shape)

    def stieltjes_derivative(self, z: ArrayLike) -> np.ndarray:
        return -self._apply(z, 2)

    def moment(self, k: int) -> float:
        return float(np.dot(self.values**k, self.weights))

    def sample(self, n: int, rng: RngLike = None) -> np.ndarray:
        return as_generator(rng).choice(self.values, size=n, p=self.weights)

    def conventions(self) -> dict[str, Any]:
        return {"law": "EmpiricalLaw", "n_atoms": int(self.values.size)}
