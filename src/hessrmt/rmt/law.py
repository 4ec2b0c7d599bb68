"""The interface every limiting spectral law implements.

A :class:`SpectralLaw` is a probability measure on the real line made of an absolutely continuous
part (with a density on a finite union of intervals) and finitely many atoms. Concrete laws
(semicircle, Marchenko-Pastur, empirical, free convolutions, ...) live in :mod:`hessrmt.rmt.laws`
and :mod:`hessrmt.rmt.free`.

Conventions: G(z) = int dmu(l) / (z - l) (so G(z) ~ 1/z at infinity and Im G < 0 for Im z > 0);
``density`` is the density of the absolutely continuous part only (it integrates to
``1 - sum of atom masses``); ``cdf`` includes the atoms.
"""

from __future__ import annotations

import abc
from typing import Any

import numpy as np
from numpy.typing import ArrayLike


class SpectralLaw(abc.ABC):
    """A limiting eigenvalue distribution (see module docstring for conventions)."""

    @abc.abstractmethod
    def density(self, x: ArrayLike) -> np.ndarray:
        """Density of the absolutely continuous part at ``x`` (zero outside the support)."""

    @abc.abstractmethod
    def cdf(self, x: ArrayLike) -> np.ndarray:
        """Cumulative distribution function mu((-inf, x]), atoms included."""

    @abc.abstractmethod
    def support(self) -> tuple[float, float]:
        """Smallest interval [a, b] holding the whole measure (atoms included)."""

    def atoms(self) -> list[tuple[float, float]]:
        """Atoms as (location, mass) pairs; none by default."""
        return []

    @abc.abstractmethod
    def stieltjes(self, z: ArrayLike) -> np.ndarray:
        """Stieltjes transform G(z) = int dmu(l) / (z - l) for z off the support (complex)."""

    @abc.abstractmethod
    def moment(self, k: int) -> float:
        """The k-th moment int l^k dmu(l)."""

    def mean(self) -> float:
        return self.moment(1)

    def variance(self) -> float:
        return self.moment(2) - self.moment(1) ** 2

    def sample(self, n: int, rng: Any = None) -> np.ndarray:
        """``n`` iid draws; ``rng`` as in :func:`hessrmt.rng.as_generator`."""
        raise NotImplementedError(f"{type(self).__name__} does not implement sampling")

    def conventions(self) -> dict[str, Any]:
        """The normalisation in force, for results' metadata."""
        return {"law": type(self).__name__}
