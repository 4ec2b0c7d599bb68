"""Random matrix theory in pure NumPy/SciPy (this package never imports torch).

Conventions (stated in every docstring and recorded in every result):

* GOE/GUE/GSE ("normalised"): off-diagonal variance 1/N, so the semicircle has variance 1 and
  radius 2. Other scalings are available through explicit arguments.
* Marchenko-Pastur: W = X X^T / n with X of size p x n, ratio phi = p / n, mean eigenvalue 1,
  edges (1 +- sqrt(phi))^2, atom 1 - 1/phi at zero when phi > 1.
* Stieltjes transform G(z) = int rho(l) / (z - l) dl, G(z) ~ 1/z, Im G < 0 for Im z > 0.
* Spacing ratios r_i = s_{i+1} / s_i, reduced ratios r~_i = min(r_i, 1 / r_i).
* Samplers take ``rng`` (Generator, int seed or None) and are batch-first: shape (batch, N, ...).
"""

import importlib
from typing import Any

#: public name -> submodule of hessrmt.rmt that defines it (imported on first use, so that
#: ``import hessrmt.rmt`` stays cheap and ``hessrmt stats`` loads only what it needs). Names
#: equal to a submodule's (``spacings``) are not re-exported: the submodule would shadow them.
_EXPORTS: dict[str, str] = {
    **dict.fromkeys(
        [
            "goe",
            "gue",
            "gse",
            "beta_hermite_eigenvalues",
            "beta_laguerre_eigenvalues",
            "wishart",
            "haar_orthogonal",
            "haar_unitary",
            "product_wishart",
            "wigner_wishart_product",
            "percolated_wigner",
            "percolated_wishart",
            "spiked_wigner",
            "spiked_covariance",
            "poisson_spectrum",
        ],
        "ensembles",
    ),
    **dict.fromkeys(["Semicircle", "MarchenkoPastur", "UniformLaw", "EmpiricalLaw"], "laws"),
    "SpectralLaw": "law",
    **dict.fromkeys(["free_additive_convolution", "free_multiplicative_convolution"], "free"),
    **dict.fromkeys(["fit_semicircle", "fit_marchenko_pastur", "LawFit"], "fit"),
    **dict.fromkeys(
        ["bbp_outlier", "bbp_overlap", "bbp_threshold", "deformed_outliers"], "outliers"
    ),
    **dict.fromkeys(
        [
            "wigner_surmise_pdf",
            "wigner_surmise_cdf",
            "gaudin_pdf",
            "gaudin_cdf",
            "ratio_pdf",
            "ratio_cdf",
            "MEAN_REDUCED_RATIO",
            "number_variance_exact",
            "delta3_exact",
        ],
        "reference",
    ),
    **dict.fromkeys(["number_variance", "delta3"], "rigidity"),
    **dict.fromkeys(["spacing_ratios", "reduced_ratios", "remove_degeneracies"], "spacings"),
    **dict.fromkeys(
        ["unfold_by_cdf", "unfold_polynomial", "unfold_gaussian_kernel", "unfold_pooled"],
        "unfolding",
    ),
    "split_spectrum": "bulk",
    "ratio_test": "stattests",
    **dict.fromkeys(["summarize_spectrum", "SpectrumSummary"], "summary"),
    "load_spectrum": "spectrum_io",
    "PenningtonBahriLaw": "pennington_bahri",
    **dict.fromkeys(["WishartProduct", "WignerWishartProduct"], "products"),
    **dict.fromkeys(["PercolatedWigner", "percolated_wigner_atom"], "percolation"),
    **dict.fromkeys(["PercolatedWishart", "percolated_wishart_atom"], "percolation_wishart"),
    "fit_families": "family_fit",
    "batch_noise_summary": "batch_noise",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'hessrmt.rmt' has no attribute {name!r}")
    value = getattr(importlib.import_module(f"hessrmt.rmt.{module}"), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_EXPORTS))
