"""Random-matrix ensembles: Gaussian (dense, tridiagonal), Wishart, Haar, products, sparse, spiked.

Conventions (``docs/reference/oracles.md`` §0, §10):

* **Wigner/Gaussian ("normalised")**: off-diagonal variance ``variance / N`` (E|H_ij|^2 for
  complex entries), diagonal variance ``2 variance / N`` for the GOE, so the eigenvalue density
  converges to the semicircle of variance ``variance`` (radius ``2 sqrt(variance)``) for every beta;
  E (1/N) tr H^2 = variance (1 + 1/N) for the GOE.
* **beta-Hermite** (Dumitriu & Edelman, J. Math. Phys. 43 (2002) 5830): the DE matrix
  (1/sqrt 2) tridiag(N(0, 2); chi_{beta(N-1)}, ..., chi_beta) has radius sqrt(2 beta N); it is
  multiplied by sqrt(2 variance / (beta N)) here, so its semicircle has radius 2 sqrt(variance)
  for every beta (the same law as the dense GOE/GUE for beta = 1, 2, and as the N distinct
  eigenvalues of the GSE for beta = 4).
* **Wishart**: W = X X^* / n with X of size p x n with iid entries of variance ``variance``
  (complex: E|X_ij|^2 = variance); ratio phi = p / n; Marchenko-Pastur edges
  variance (1 +- sqrt(phi))^2, mean eigenvalue ``variance``, atom 1 - 1/phi at zero when phi > 1.
* **Haar**: QR of a Ginibre matrix with the phases of diag(R) moved into Q (Mezzadri, Notices AMS
  54 (2007)).

Every sampler takes ``size`` (``None`` for one sample, an int B for a batch: the batch axis comes
first) and ``rng`` (a numpy Generator, an int seed or None; see :func:`hessrmt.rng.as_generator`).
No global random state is touched.

Modules: :mod:`~hessrmt.rmt.ensembles.gaussian` (GOE, GUE, GSE, beta-Hermite, Sturm counts),
:mod:`~hessrmt.rmt.ensembles.wishart` (Wishart, beta-Laguerre, products),
:mod:`~hessrmt.rmt.ensembles.haar`, :mod:`~hessrmt.rmt.ensembles.sparse` (percolated),
:mod:`~hessrmt.rmt.ensembles.spiked` and :mod:`~hessrmt.rmt.ensembles.poisson`; every sampler is
also importable from this package.
"""

from __future__ import annotations

from hessrmt.rmt.ensembles.gaussian import (
    beta_hermite_eigenvalues,
    beta_hermite_tridiagonal,
    goe,
    gse,
    gue,
    sturm_count,
)
from hessrmt.rmt.ensembles.haar import haar_orthogonal, haar_unitary
from hessrmt.rmt.ensembles.poisson import poisson_spectrum
from hessrmt.rmt.ensembles.sparse import percolated_wigner, percolated_wishart
from hessrmt.rmt.ensembles.spiked import spiked_covariance, spiked_wigner
from hessrmt.rmt.ensembles.wishart import (
    beta_laguerre_eigenvalues,
    product_wishart,
    wigner_wishart_product,
    wishart,
)

__all__ = [
    "beta_hermite_eigenvalues",
    "beta_hermite_tridiagonal",
    "beta_laguerre_eigenvalues",
    "goe",
    "gse",
    "gue",
    "haar_orthogonal",
    "haar_unitary",
    "percolated_wigner",
    "percolated_wishart",
    "poisson_spectrum",
    "product_wishart",
    "spiked_covariance",
    "spiked_wigner",
    "sturm_count",
    "wigner_wishart_product",
    "wishart",
]

CONVENTIONS: dict[str, str] = {
    "wigner": "off-diagonal variance variance/N (GOE diagonal 2 variance/N); semicircle "
    "variance `variance`, radius 2 sqrt(variance)",
    "beta_hermite": "Dumitriu-Edelman tridiagonal times sqrt(2 variance/(beta N)): radius "
    "2 sqrt(variance) for every beta",
    "wishart": "W = X X^*/n, X p x n, entry variance `variance`, phi = p/n",
    "haar": "phase-fixed QR (Mezzadri 2007)",
}
