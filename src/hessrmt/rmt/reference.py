"""Reference curves of local eigenvalue statistics, all vectorised
(``docs/reference/oracles.md`` §2-§5).

This module re-exports the three parts:

* :mod:`hessrmt.rmt.reference_spacing`: nearest-neighbour spacing laws on unfolded spectra (mean
  spacing 1): Wigner surmise (any beta > 0), Poisson, Brody, the exact Gaudin-Mehta law for
  beta = 1, 2, 4 by Fredholm determinants (Bornemann 2010) and the GOE next-nearest-neighbour law.
* :mod:`hessrmt.rmt.reference_ratio`: spacing-ratio laws (Atas et al. 2013 surmise, Poisson,
  finite-N correction), the large-N table :data:`MEAN_REDUCED_RATIO` and surmise means.
* :mod:`hessrmt.rmt.reference_rigidity`: exact (two-level cluster function) and asymptotic number
  variance Sigma^2(L) and spectral rigidity Delta_3(L).

Conventions: beta = 0 means Poisson wherever a beta is accepted by the ratio and rigidity curves;
r~ = min(r, 1/r); "reduced=True" is the law of r~ on [0, 1].
"""

from __future__ import annotations

from hessrmt.rmt.reference_ratio import (
    ATAS_C,
    MEAN_RATIO,
    MEAN_REDUCED_RATIO,
    atas_c_small,
    atas_z,
    conditional_mean_ratio,
    mean_ratio_surmise,
    mean_reduced_ratio,
    mean_reduced_ratio_surmise,
    ratio_cdf,
    ratio_pdf,
)
from hessrmt.rmt.reference_rigidity import (
    cluster_function,
    delta3_asymptotic,
    delta3_exact,
    number_variance_asymptotic,
    number_variance_exact,
)
from hessrmt.rmt.reference_spacing import (
    GAUDIN_S_MAX,
    GAUDIN_VARIANCE,
    SURMISE_VARIANCE,
    brody_cdf,
    brody_pdf,
    gap_probability,
    gaudin_cdf,
    gaudin_pdf,
    gaudin_variance,
    nnn_spacing_cdf,
    nnn_spacing_pdf,
    poisson_spacing_cdf,
    poisson_spacing_pdf,
    wigner_surmise_cdf,
    wigner_surmise_pdf,
    wigner_surmise_variance,
)

__all__ = [
    "ATAS_C",
    "GAUDIN_S_MAX",
    "GAUDIN_VARIANCE",
    "MEAN_RATIO",
    "MEAN_REDUCED_RATIO",
    "SURMISE_VARIANCE",
    "atas_c_small",
    "atas_z",
    "brody_cdf",
    "brody_pdf",
    "cluster_function",
    "conditional_mean_ratio",
    "delta3_asymptotic",
    "delta3_exact",
    "gap_probability",
    "gaudin_cdf",
    "gaudin_pdf",
    "gaudin_variance",
    "mean_ratio_surmise",
    "mean_reduced_ratio",
    "mean_reduced_ratio_surmise",
    "nnn_spacing_cdf",
    "nnn_spacing_pdf",
    "number_variance_asymptotic",
    "number_variance_exact",
    "poisson_spacing_cdf",
    "poisson_spacing_pdf",
    "ratio_cdf",
    "ratio_pdf",
    "wigner_surmise_cdf",
    "wigner_surmise_pdf",
    "wigner_surmise_variance",
]
