"""Family fitting (hessrmt.rmt.family_fit): parameter recovery within the bootstrap intervals and
the right family ranked first, on spectra of matrices sampled with known parameters (independent
of the laws: hessrmt.rmt.ensembles samplers)."""

from __future__ import annotations

import numpy as np
import pytest

from hessrmt.errors import InputError
from hessrmt.rmt import ensembles as E
from hessrmt.rmt.family_fit import (
    DEFAULT_FAMILIES,
    FAMILIES,
    fit_families,
    fit_family_params,
    law_of,
)

pytestmark = pytest.mark.usefixtures("one_thread")


def _covers(fit: dict, truth: dict[str, float]) -> None:
    for k, v in truth.items():
        lo, hi = fit["intervals"][k]
        # matrix spectra are more rigid than the iid bootstrap, so the interval is wide enough
        assert lo <= v <= hi, (fit["family"], k, v, lo, hi)


@pytest.mark.parametrize(
    ("family", "eigs", "truth"),
    [
        ("semicircle", lambda: E.goe(600, rng=1, variance=2.0), {"variance": 2.0, "center": 0.0}),
        ("marchenko-pastur", lambda: E.wishart(600, 300, rng=2), {"phi": 2.0, "scale": 1.0}),
        (
            "wishart-product",
            lambda: E.product_wishart((600, 300, 1200), rng=3),
            {"r1": 2.0, "r2": 0.5, "scale": 1.0},
        ),
        (
            "wigner-wishart-product",
            lambda: E.wigner_wishart_product(600, 300, rng=4, variance=0.5),
            {"phi": 2.0, "variance": 0.5},
        ),
        (
            "percolated-wigner",
            lambda: E.percolated_wigner(800, 3.0 / 800, rng=5),
            {"c": 3.0, "variance": 1.0},
        ),
    ],
)
def test_recovery_and_ranking(family: str, eigs, truth: dict[str, float]) -> None:
    """Moment fits (the W1 fits are tested in test_family_w1.py)."""
    x = np.linalg.eigvalsh(eigs())
    res = fit_families(x, n_boot=30, rng=0, method="moments")
    assert res["best"] == family, [(f["family"], f["w1"]) for f in res["families"]]
    best = res["families"][0]
    _covers(best, truth)
    assert best["n_params"] == FAMILIES[family][2]
    assert [f["w1"] for f in res["families"]] == sorted(f["w1"] for f in res["families"])
    # the best family is not rejected; the worst one is, except for semicircle data, which the
    # wider families contain as a limit (Wigner x Wishart with phi -> 0, percolated with c -> inf)
    assert best["pvalue"] > 0.05
    if family != "semicircle":
        assert res["families"][-1]["pvalue"] < 0.05


def test_moment_fits_are_exact_on_the_laws_own_moments() -> None:
    """Fitting draws from a law returns its parameters (large iid sample, tight tolerance)."""
    rng = np.random.default_rng(0)
    for family, params in [
        ("wigner-wishart-product", {"phi": 1.5, "variance": 2.0}),
        ("wishart-product", {"r1": 3.0, "r2": 0.7, "scale": 2.0}),
    ]:
        x = law_of(family, params).sample(200_000, rng)
        got = fit_family_params(family, x)
        for k, v in params.items():
            assert got[k] == pytest.approx(v, rel=0.08), (family, k)


def test_positive_laws_skipped_for_symmetric_spectra() -> None:
    names = ["semicircle", "marchenko-pastur", "wishart-product"]
    res = fit_families(np.linalg.eigvalsh(E.goe(200, rng=1)), names, n_boot=5, rng=0)
    assert set(res["skipped"]) == {"marchenko-pastur", "wishart-product"}


def test_same_seed_same_result() -> None:
    x = np.linalg.eigvalsh(E.wishart(200, 100, rng=2))
    a = fit_families(x, ["marchenko-pastur", "semicircle"], n_boot=10, rng=4)
    b = fit_families(x, ["marchenko-pastur", "semicircle"], n_boot=10, rng=4)
    assert a == b


@pytest.mark.parametrize(
    ("eigs", "fragment"),
    [(np.zeros(0), "at least 10"), (np.ones(50), "constant"), (np.array([np.nan] * 20), "NaN")],
)
def test_bad_spectra(eigs: np.ndarray, fragment: str) -> None:
    with pytest.raises(InputError, match=fragment):
        fit_families(eigs)


def test_unknown_family() -> None:
    with pytest.raises(InputError, match="unknown family"):
        fit_families(np.arange(20.0), ["gaussian"])


def test_outliers_kept_apart_restore_the_fit() -> None:
    """MP spectrum with 3 spikes: with the spikes kept the MP moment fit is pulled away from the
    truth; with them removed the truth is inside the intervals and the spikes are listed."""
    x = np.linalg.eigvalsh(E.wishart(400, 800, rng=6))  # MP(0.5)
    spiked = np.concatenate([x, [40.0, 55.0, 70.0]])
    kept = fit_families(spiked, ["marchenko-pastur"], n_boot=20, rng=0, method="moments")
    lo, hi = kept["families"][0]["intervals"]["phi"]
    assert not lo <= 0.5 <= hi
    res = fit_families(
        spiked, ["marchenko-pastur"], n_boot=20, rng=0, outliers="remove", method="moments"
    )
    assert sorted(res["outliers"]) == [40.0, 55.0, 70.0]
    _covers(res["families"][0], {"phi": 0.5, "scale": 1.0})
    with pytest.raises(InputError):
        fit_families(spiked, outliers="drop")


def test_percolated_wishart_moment_fit_on_sampled_matrices() -> None:
    """Moments of sampled percolated Wishart matrices (phi = 0.5, c = 2, variance 1.5) pooled over
    20 matrices: the moment fit returns (phi, c, scale) near the truth; the family is opt-in."""
    x = np.concatenate(
        [
            np.linalg.eigvalsh(E.percolated_wishart(200, 400, 2.0 / 400, rng=s, variance=1.5))
            for s in range(20)
        ]
    )
    got = fit_family_params("percolated-wishart", x)
    assert got["scale"] == pytest.approx(1.5, rel=0.05)
    assert got["phi"] == pytest.approx(0.5, rel=0.3)
    assert got["c"] == pytest.approx(2.0, rel=0.3)
    assert "percolated-wishart" in FAMILIES and "percolated-wishart" not in DEFAULT_FAMILIES
    res = fit_families(np.linalg.eigvalsh(E.goe(100, rng=1)), n_boot=0, rng=0, method="moments")
    assert "percolated-wishart" not in {f["family"] for f in res["families"]} | set(res["skipped"])
