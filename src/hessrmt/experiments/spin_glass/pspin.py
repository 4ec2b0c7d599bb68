"""Spherical pure p-spin glasses: couplings, energy, gradient descent on the sphere, Hessian index.

Convention (ABC; ``docs/reference/papers.md`` §8): H_N(sigma) = N^{-(p-1)/2} sum J_{i1..ip}
sigma_i1 ... sigma_ip with J iid N(0, 1), sigma on the sphere |sigma|^2 = N, energy per site
e = H_N / N. J is symmetrised (the same function; gradients by one contraction):
grad H = p N^{-(p-1)/2} J_sym[sigma^{p-1}], Hess H = p (p-1) N^{-(p-1)/2} J_sym[sigma^{p-2}].
On the sphere the Riemannian gradient is P grad H and the Riemannian Hessian is
P (Hess H - (sigma . grad H / N) I) P = P (Hess H - p e I) P on the tangent space
(P = I - sigma sigma^T / N; sigma . grad H = p H by homogeneity). The index is its number of
negative eigenvalues (tangent space of dimension N - 1).
"""

from __future__ import annotations

import itertools
import math
from dataclasses import dataclass

import numpy as np

from hessrmt.errors import InputError
from hessrmt.rng import RngLike, as_generator

__all__ = ["DescentResult", "PSpin", "gradient_descent"]


class PSpin:
    """One sample of the spherical p-spin Hamiltonian (module docstring)."""

    def __init__(self, n: int, p: int, rng: RngLike = None) -> None:
        if not isinstance(n, (int, np.integer)) or n < 3:
            raise InputError(f"N must be an integer >= 3, got {n!r}")
        if not isinstance(p, (int, np.integer)) or p < 2:
            raise InputError(f"p must be an integer >= 2, got {p!r}")
        if float(n) ** p > 5e8:
            raise InputError(f"N^p = {n}^{p} couplings do not fit in memory; use a smaller N")
        self.n, self.p = int(n), int(p)
        gen = as_generator(rng)
        j = gen.standard_normal((n,) * p)
        sym = np.zeros_like(j)
        perms = list(itertools.permutations(range(p)))
        for perm in perms:
            sym += j.transpose(perm)
        self.j = sym / len(perms)
        self.scale = n ** (-(p - 1) / 2)

    def _contract(self, sigma: np.ndarray, times: int) -> np.ndarray:
        """J_sym contracted with ``times`` copies of each row of sigma (B, N): (B, N^(p-times))."""
        t = self.j.reshape(self.n ** (self.p - times), self.n**times) if times else self.j
        if times == 0:
            return t
        outer = sigma
        for _ in range(times - 1):
            outer = (outer[:, :, None] * sigma[:, None, :]).reshape(sigma.shape[0], -1)
        return outer @ t.T

    def energy(self, sigma: np.ndarray) -> np.ndarray:
        """H_N(sigma) / N for each row of sigma (B, N)."""
        s = np.atleast_2d(sigma)
        return self.scale * np.einsum("bi,bi->b", self._contract(s, self.p - 1), s) / self.n

    def gradient(self, sigma: np.ndarray) -> np.ndarray:
        """Euclidean gradient of H_N at each row of sigma."""
        return self.p * self.scale * self._contract(np.atleast_2d(sigma), self.p - 1)

    def hessian(self, sigma: np.ndarray) -> np.ndarray:
        """Euclidean Hessian of H_N at one point sigma (N,): (N, N)."""
        s = np.asarray(sigma, dtype=float)[None, :]
        flat = self._contract(s, self.p - 2)[0] if self.p > 2 else self.j.ravel()
        return self.p * (self.p - 1) * self.scale * flat.reshape(self.n, self.n)

    def riemannian_hessian_eigenvalues(self, sigma: np.ndarray) -> np.ndarray:
        """Eigenvalues of the Riemannian Hessian on the tangent space at sigma (N - 1 values)."""
        s = np.asarray(sigma, dtype=float)
        s = s * math.sqrt(self.n) / np.linalg.norm(s)
        e = float(self.energy(s)[0])
        h = self.hessian(s) - self.p * e * np.eye(self.n)
        q, _ = np.linalg.qr(np.column_stack([s, np.eye(self.n)[:, : self.n - 1]]))
        basis = q[:, 1:]
        return np.linalg.eigvalsh(basis.T @ h @ basis)


@dataclass(frozen=True)
class DescentResult:
    """Final energies per site, Riemannian gradient norms per sqrt(N), steps and indices."""

    energy: np.ndarray
    grad_norm: np.ndarray
    steps: int
    index: np.ndarray
    min_eigenvalue: np.ndarray


def gradient_descent(
    model: PSpin,
    starts: int,
    *,
    rng: RngLike = None,
    lr: float = 0.05,
    max_steps: int = 2000,
    gtol: float = 1e-4,
    index_tol: float = 1e-6,
) -> DescentResult:
    """Riemannian gradient descent from ``starts`` uniform random points (retraction: rescale to
    the sphere). Each descent stops when its |P grad H| / sqrt(N) <= gtol; all stop after
    ``max_steps`` (``steps`` is the number of steps of the longest). The index
    of each end point counts Riemannian Hessian eigenvalues below -index_tol."""
    if starts < 1:
        raise InputError(f"starts must be >= 1, got {starts}")
    gen = as_generator(rng)
    n = model.n
    s = gen.standard_normal((starts, n))
    s *= math.sqrt(n) / np.linalg.norm(s, axis=1, keepdims=True)
    steps = 0
    gnorm = np.full(starts, np.inf)
    active = np.ones(starts, dtype=bool)  # a converged descent stops (and costs nothing more)
    while True:
        sa = s[active]
        g = model.gradient(sa)
        g -= (np.einsum("bi,bi->b", g, sa) / n)[:, None] * sa
        gnorm[active] = np.linalg.norm(g, axis=1) / math.sqrt(n)
        moving = gnorm[active] > gtol
        if not np.any(moving) or steps >= max_steps:
            break
        new = sa[moving] - lr * g[moving]
        new *= math.sqrt(n) / np.linalg.norm(new, axis=1, keepdims=True)
        idx = np.flatnonzero(active)
        s[idx[moving]] = new
        active[idx[~moving]] = False
        steps += 1
    eig = [model.riemannian_hessian_eigenvalues(x) for x in s]
    return DescentResult(
        energy=model.energy(s),
        grad_norm=gnorm,
        steps=steps,
        index=np.array([int(np.sum(e < -index_tol)) for e in eig]),
        min_eigenvalue=np.array([float(e[0]) for e in eig]),
    )
