"""Deformed models H = A + X: subordination, outliers, overlaps and the local law's damping.

The model of Baskerville, Keating, Mezzadri, Najnudel and Granziol (arXiv 2205.08601, J. Phys. A
2022; ``docs/reference/papers.md`` §5 and ``docs/reference/universal.md``) for a batch Hessian is
H_b = A + X_b: A the full-data Hessian (deterministic), X_b = s(b) X a noise matrix in general
position with respect to A (asymptotically free). With mu_A the law of A's bulk and nu that of the
noise, the spectrum of H tends to mu_A boxplus nu, and everything below follows from the
subordination function omega = omega_A of that free convolution,

    G_H(z) = G_A(omega(z)),   omega(z) = z - R_nu(G_H(z))          (Biane 1998; Voiculescu).

* **Outliers** (Belinschi, Bercovici, Capitaine & Fevrier, Ann. Probab. 45 (2017); Capitaine
  2013): a spike theta of A (an eigenvalue outside mu_A's support) produces an outlier of H at
  the rho outside supp(mu_A boxplus nu) where omega(rho) = theta; none when theta does not exceed
  omega at the edge (the BBP threshold of a general bulk).
* **Overlaps**: |<v_H(rho), u_A(theta)>|^2 -> 1 / omega'(rho) (same references; for A = spikes +
  zeros and semicircle noise of variance s^2 this is 1 - s^2/theta^2, BBP).
* **Local law and damping** (anisotropic local law for deformed models: Knowles & Yin, PTRF 2017
  for Wigner noise; Bao, Erdos & Schnelli for free sums): for a unit vector u with A u = theta u,
  u^T (z - H)^{-1} u -> 1 / (omega(z) - theta). At z = -delta below the spectrum of H,
  u^T (H + delta)^{-1} u -> 1 / (theta + delta'), delta' = -omega(-delta): the damping that the
  direction u of the true Hessian feels is delta', not delta (paper 4's "effective damping").

For A = theta-spikes plus zeros (mu_A = delta_0), omega = 1/G_nu; with semicircle noise of
variance s^2, omega(z) = z - s^2 G_sc(z) and the closed forms above are recovered: rho = theta +
s^2/theta, delta' = (delta + sqrt(delta^2 - 4 s^2))/2. Both are tests of this module.

Conventions: G(z) = int dmu(l)/(z - l); laws are :class:`~hessrmt.rmt.law.SpectralLaw` objects
(closed forms or :class:`~hessrmt.rmt.laws.EmpiricalLaw` of measured eigenvalues).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np
import scipy.optimize
from numpy.typing import ArrayLike

from hessrmt.errors import InputError
from hessrmt.rmt.free import FreeAdditiveConvolution
from hessrmt.rmt.law import SpectralLaw
from hessrmt.rmt.laws import EmpiricalLaw

__all__ = ["DeformedModel", "point_mass", "semicircle_effective_damping"]


def point_mass(at: float = 0.0) -> EmpiricalLaw:
    """The Dirac law delta_at (the bulk of A = spikes + zeros)."""
    return EmpiricalLaw(np.array([float(at)]))


def semicircle_effective_damping(delta: ArrayLike, variance: float) -> np.ndarray:
    """delta' = (delta + sqrt(delta^2 - 4 s^2)) / 2 for A = spikes + zeros and semicircle noise of
    variance s^2 (needs delta > 2 s, i.e. H + delta positive definite in the limit)."""
    d = np.asarray(delta, dtype=float)
    s2 = float(variance)
    if np.any(d <= 2 * math.sqrt(s2)):
        raise InputError(f"delta must exceed the bulk's left edge 2 s = {2 * math.sqrt(s2):.6g}")
    return (d + np.sqrt(d * d - 4 * s2)) / 2


class DeformedModel:
    """H = A + X with A's bulk law ``bulk`` and the noise law ``noise`` (free; module docstring).

    Args:
        bulk: law of A without its spikes (e.g. :func:`point_mass` for spikes + zeros, or an
            :class:`EmpiricalLaw` of A's non-outlier eigenvalues).
        noise: law of X (e.g. a :class:`~hessrmt.rmt.laws.Semicircle` or the empirical law of a
            measured noise matrix).
    """

    def __init__(self, bulk: SpectralLaw, noise: SpectralLaw) -> None:
        for name, law in (("bulk", bulk), ("noise", noise)):
            if not isinstance(law, SpectralLaw):
                raise InputError(f"{name} must be a SpectralLaw, got {type(law).__name__}")
        self.bulk, self.noise = bulk, noise
        self.law = FreeAdditiveConvolution(bulk, noise)
        a, b = self.law.support()
        self._edges = (float(a), float(b))
        scale = max(b - a, 1e-12) + math.sqrt(max(noise.variance(), 0.0))
        self._h = 1e-6 * scale
        self._eta = 1e-12 * scale

    def __repr__(self) -> str:
        return f"DeformedModel(bulk={self.bulk!r}, noise={self.noise!r})"

    def support(self) -> tuple[float, float]:
        """Support [a, b] of mu_A boxplus nu (the bulk of H)."""
        return self._edges

    def _check_outside(self, z: np.ndarray) -> None:
        a, b = self._edges
        inside = (z >= a) & (z <= b)
        if np.any(inside):
            raise InputError(
                f"omega is evaluated off the bulk [{a:.6g}, {b:.6g}] of H; got {z[inside][0]:.6g}"
            )

    def omega(self, z: ArrayLike) -> np.ndarray:
        """Subordination function omega(z) (real) for real z outside the support of H."""
        z = np.atleast_1d(np.asarray(z, dtype=float))
        self._check_outside(z)
        w1, _ = self.law.subordination(z, self._eta)
        return w1.real

    def omega_derivative(self, z: ArrayLike) -> np.ndarray:
        """omega'(z) by a central difference (step 1e-6 x scale; accuracy ~1e-9 relative)."""
        z = np.atleast_1d(np.asarray(z, dtype=float))
        h = self._h
        return (self.omega(z + h) - self.omega(z - h)) / (2 * h)

    def threshold(self, side: str = "right") -> float:
        """The spike size theta above which (``right``; below which, ``left``) an outlier leaves
        the bulk: omega at the bulk's edge, approached from outside."""
        a, b = self._edges
        if side not in ("right", "left"):
            raise InputError(f"side must be 'right' or 'left', got {side!r}")
        # omega(edge + e) = t + c sqrt(e) + O(e) at a square-root edge: Richardson in sqrt(e)
        sign = 1.0 if side == "right" else -1.0
        edge = b if side == "right" else a
        e = 10 * self._h
        w1, w4 = self.omega(np.array([edge + sign * e, edge + sign * 4 * e]))
        return float(2 * w1 - w4)

    def outliers(self, thetas: Sequence[float] | ArrayLike) -> list[float | None]:
        """Outlier location rho with omega(rho) = theta for each spike theta (None: no outlier)."""
        a, b = self._edges
        out: list[float | None] = []
        t_right, t_left = self.threshold("right"), self.threshold("left")
        for theta in np.atleast_1d(np.asarray(thetas, dtype=float)):
            if not np.isfinite(theta):
                raise InputError(f"spike values must be finite, got {theta}")
            if theta > t_right:
                lo, step = b + 10 * self._h, max(theta - b, 1.0)
                hi = lo + step
                while self.omega(hi)[0] < theta:
                    hi += 2 * step
            elif theta < t_left:
                hi, step = a - 10 * self._h, max(a - theta, 1.0)
                lo = hi - step
                while self.omega(lo)[0] > theta:
                    lo -= 2 * step
            else:
                out.append(None)
                continue
            rho = scipy.optimize.brentq(
                lambda x, t=theta: self.omega(x)[0] - t, lo, hi, xtol=1e-13, rtol=1e-13
            )
            out.append(float(rho))
        return out

    def overlaps(self, thetas: Sequence[float] | ArrayLike) -> list[float]:
        """Squared overlap |<v_H(rho), u_A(theta)>|^2 = 1/omega'(rho) (0 without an outlier)."""
        res = []
        for rho in self.outliers(thetas):
            res.append(0.0 if rho is None else float(1.0 / self.omega_derivative(rho)[0]))
        return res

    def effective_damping(self, delta: ArrayLike) -> np.ndarray:
        """delta' = -omega(-delta) for damping delta with -delta below the bulk of H."""
        d = np.atleast_1d(np.asarray(delta, dtype=float))
        if np.any(-d >= self._edges[0]):
            raise InputError(
                f"delta must exceed {-self._edges[0]:.6g} (minus the bulk's left edge) so that "
                "H + delta is positive on the bulk"
            )
        return -self.omega(-d)

    def resolvent_overlap(self, theta: float, delta: ArrayLike) -> np.ndarray:
        """Limit of u^T (H + delta)^{-1} u for A u = theta u: 1 / (theta + delta')."""
        return 1.0 / (float(theta) + self.effective_damping(delta))

    def conventions(self) -> dict[str, Any]:
        return {
            "model": "H = A + X, A's bulk free from X (asymptotic freeness)",
            "bulk": self.bulk.conventions(),
            "noise": self.noise.conventions(),
            "omega": "G_H(z) = G_A(omega(z)); outliers omega(rho) = theta; overlap 1/omega'(rho); "
            "effective damping delta' = -omega(-delta)",
        }
