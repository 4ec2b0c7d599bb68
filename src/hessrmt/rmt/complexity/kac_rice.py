"""ABC's finite-N Kac-Rice identities, evaluated by sampling GOE spectra (tridiagonal model).

Auffinger, Ben Arous & Cerny (CPAM 66 (2013), Theorems 2.5 and 2.8; ``docs/reference/spin-glass.md``
§3): with GOE^N the N x N GOE of off-diagonal variance 1/(2N) and diagonal variance 1/N
(semicircle radius sqrt 2), lambda_0 <= lambda_1 <= ... its ordered eigenvalues, rho_N its
one-point density, c = (p - 2)/(2p) and s = sqrt(p/(2(p - 1))),

    E Crt_{N,k}(u) = 2 sqrt(2/p) (p - 1)^{N/2} E[ exp(-N c lambda_k^2) 1{lambda_k <= s u} ],
    E Crt_N(u)     = 2 N sqrt(2/p) (p - 1)^{N/2}
                     x E[ N^-1 sum_i exp(-N c lambda_i^2) 1{lambda_i <= s u} ].

(Exact at every N; for p = 2 they give exactly 2 critical points of each index, 2N in all.)
The expectations are estimated by Monte Carlo over Dumitriu-Edelman tridiagonal GOE spectra
(:func:`hessrmt.rmt.ensembles.gaussian.beta_hermite_tridiagonal`, beta = 1, variance 1/2), and
reported as Theta_N(u) = N^-1 ln E Crt with a delta-method standard error
se(mean) / (N mean). Where no sample falls in the event the estimate is -inf (said so by
``hits = 0``): the event is a large deviation the sample size cannot reach.

Inside the band (s u < -sqrt 2, below the bulk's edge, or where plain sampling has fewer than 30
hits) and for k >= 1 the default estimator is
the importance sampler of :mod:`hessrmt.rmt.complexity.kac_rice_tilted` (the k + 1 smallest
eigenvalues proposed below s u, the rest a GOE of order N - k - 1, exact Coulomb-gas weight),
which is unbiased and finite where plain sampling returns -inf; ``method`` selects it.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np
import scipy.linalg
from numpy.typing import ArrayLike

from hessrmt.errors import InputError
from hessrmt.results import Metadata, Result
from hessrmt.rmt.complexity.abc import check_k, check_p
from hessrmt.rmt.complexity.kac_rice_tilted import tilted_expectation
from hessrmt.rmt.ensembles.gaussian import beta_hermite_tridiagonal
from hessrmt.rng import RngLike, as_generator, seed_of

__all__ = ["FiniteNComplexity", "finite_n_complexity", "goe_spectra"]


def goe_spectra(n: int, samples: int, *, kmax: int | None, rng: RngLike) -> np.ndarray:
    """``samples`` GOE^N spectra in ABC's normalisation (semicircle radius sqrt 2), ascending.

    ``kmax`` = None: all N eigenvalues; else only the kmax + 1 smallest (shape (samples, kmax+1)).
    """
    if not isinstance(n, (int, np.integer)) or n < 2:
        raise InputError(f"N must be an integer >= 2, got {n!r}")
    if not isinstance(samples, (int, np.integer)) or samples < 2:
        raise InputError(f"samples must be an integer >= 2, got {samples!r}")
    gen = as_generator(rng)
    d, e = beta_hermite_tridiagonal(int(n), 1.0, int(samples), rng=gen, variance=0.5)
    if kmax is None:
        return np.stack(
            [scipy.linalg.eigvalsh_tridiagonal(a, b, lapack_driver="sterf") for a, b in zip(d, e)]
        )
    if kmax >= n:
        raise InputError(f"index k = {kmax} needs N > k, got N = {n}")
    return np.stack(
        [
            scipy.linalg.eigvalsh_tridiagonal(a, b, select="i", select_range=(0, int(kmax)))
            for a, b in zip(d, e)
        ]
    )


#: ``method="auto"`` switches to the tilted estimator (k >= 1) where plain sampling has fewer
#: hits than this (or than 5 % of the samples, whichever is smaller).
MIN_PLAIN_HITS = 30

CONVENTIONS = {
    "goe": "ABC: off-diagonal variance 1/(2N), semicircle radius sqrt 2 (tridiagonal model)",
    "energy": "u = H_N / N, H_N on the sphere of radius sqrt(N), E[H H'] = N (s.s'/N)^p",
    "estimate": "Theta_N = N^-1 ln(Monte-Carlo mean of ABC's finite-N identity); delta-method se",
    "tilted": "k >= 1 inside the band (s u < -sqrt 2) or < 30 plain hits: importance sampling "
    "of the k + 1 smallest eigenvalues (kac_rice_tilted); `tilted` marks those u",
}


@dataclass(frozen=True)
class FiniteNComplexity(Result):
    """Theta_N(u) = N^-1 ln E Crt_{N,k}(u) on a grid of u (k = None: all indices), with standard
    errors and the number of samples that fell in the event (``hits``)."""

    n: int
    p: int
    k: int | None
    u: np.ndarray
    theta: np.ndarray
    stderr: np.ndarray
    hits: np.ndarray
    samples: int
    meta: Metadata = field(default_factory=Metadata)
    tilted: np.ndarray = field(default_factory=lambda: np.zeros(0, bool))

    def summary_dict(self) -> dict[str, object]:
        return {
            "N": self.n,
            "p": self.p,
            "k": self.k,
            "u": self.u.tolist(),
            "theta_N": self.theta.tolist(),
            "stderr": self.stderr.tolist(),
            "hits": self.hits.tolist(),
            "samples": self.samples,
            "tilted": self.tilted.tolist(),
        }


def _estimate(values: np.ndarray, n: int, log_const: float) -> tuple[float, float, int]:
    """(N^-1 ln(const * mean), delta-method se, hits) from per-sample values (rows: samples)."""
    hits = int(np.count_nonzero(values))
    m = float(values.mean())
    if m <= 0:
        return -math.inf, math.nan, hits
    se = float(values.std(ddof=1)) / math.sqrt(values.shape[0])
    return (log_const + math.log(m)) / n, se / (m * n), hits


def finite_n_complexity(
    n: int,
    p: int,
    u: ArrayLike,
    *,
    k: int | None = 0,
    samples: int = 2000,
    rng: RngLike = None,
    spectra: np.ndarray | None = None,
    method: str = "auto",
) -> FiniteNComplexity:
    """Monte-Carlo estimate of ABC's finite-N identity (module docstring) on the grid ``u``.

    ``spectra`` (from :func:`goe_spectra`) may be passed to reuse samples across k and u.
    ``method``: "plain" (sampled spectra only), "tilted" (importance sampling at every u; k
    given) or "auto" (for k >= 1 tilted where s u < -sqrt 2 or plain sampling has fewer than
    min(:data:`MIN_PLAIN_HITS`, 5 % of the samples) hits, plain elsewhere). The tilted
    estimates draw ``samples`` proposals from ``rng`` (pass a seed when ``spectra`` is given).
    """
    p = check_p(p)
    if k is not None:
        k = check_k(k)
    u = np.atleast_1d(np.asarray(u, dtype=float))
    if not np.all(np.isfinite(u)):
        raise InputError("the energies u must be finite")
    if method not in ("auto", "plain", "tilted"):
        raise InputError(f"method must be 'auto', 'plain' or 'tilted', got {method!r}")
    if method == "tilted" and k is None:
        raise InputError("the tilted estimator needs an index k (not the total count)")
    seed = seed_of(rng)
    gen = as_generator(rng)
    if spectra is None:
        spectra = goe_spectra(n, samples, kmax=k, rng=gen)
    c = (p - 2) / (2.0 * p)
    s = math.sqrt(p / (2.0 * (p - 1)))
    log_const = math.log(2.0 * math.sqrt(2.0 / p)) + 0.5 * n * math.log(p - 1)
    theta, se, hits = [], [], []
    if k is None:
        log_const += math.log(n)
        weights = np.exp(-n * c * spectra**2)
        for v in u:
            vals = (weights * (spectra <= s * v)).mean(axis=1)
            t, e, h = _estimate(vals, n, log_const)
            theta.append(t), se.append(e), hits.append(h)
    else:
        lam = spectra[:, k]
        weights = np.exp(-n * c * lam**2)
        for v in u:
            t, e, h = _estimate(weights * (lam <= s * v), n, log_const)
            theta.append(t), se.append(e), hits.append(h)
    tilted = np.zeros(u.size, bool)
    if k is not None and method != "plain":
        if method == "tilted":
            tilted = np.ones(u.size, bool)
        else:  # inside the band, or just above it where plain sampling still has few hits
            few = min(MIN_PLAIN_HITS, 0.05 * spectra.shape[0])  # a rare event for plain sampling
            tilted = (k >= 1) & ((s * u < -math.sqrt(2)) | (np.asarray(hits) < few))
        if tilted.any():
            est, err, hit = tilted_expectation(n, k, s * u[tilted], c, samples=samples, rng=gen)
            idx = np.flatnonzero(tilted)
            for j, i in enumerate(idx):
                theta[i] = (log_const + est[j]) / n
                se[i] = err[j] / n
                hits[i] = int(hit[j])
    return FiniteNComplexity(
        int(n),
        p,
        k,
        u,
        np.array(theta),
        np.array(se),
        np.array(hits),
        int(spectra.shape[0]),
        Metadata.create(seed=seed, dtype="float64", conventions=CONVENTIONS),
        tilted,
    )
