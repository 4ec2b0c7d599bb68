"""Moment fits of the semicircle and Marchenko-Pastur laws: parameters, distances, plausibility."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.stats

from hessrmt.errors import InputError
from hessrmt.rmt import ensembles as E
from hessrmt.rmt.fit import (
    LawFit,
    fit_marchenko_pastur,
    fit_semicircle,
    ks_distance,
    wasserstein_distance,
)
from hessrmt.rmt.laws import MarchenkoPastur, Semicircle

pytestmark = pytest.mark.usefixtures("one_thread")


def test_ks_distance_matches_scipy_for_continuous_law() -> None:
    x = np.random.default_rng(1).normal(size=300)
    law = Semicircle(1.0)
    assert ks_distance(x, law) == pytest.approx(scipy.stats.kstest(x, law.cdf).statistic, 1e-12)


def test_ks_distance_with_atom() -> None:
    """MP(2) has an atom 1/2 at zero: a sample with exactly half zeros and the rest at the
    continuous-part quantiles has KS ~ 1/n, not 1/2."""
    law = MarchenkoPastur(2.0)
    n = 400
    cont = law.quantile(0.5 + 0.5 * (np.arange(n // 2) + 0.5) / (n // 2))
    x = np.concatenate([np.zeros(n // 2), cont])
    assert ks_distance(x, law) <= 1.0 / n + 1e-9
    # a quarter of the mass at zero: F_n(0) = 1/3 against F(0) = 1/2
    assert ks_distance(np.concatenate([np.zeros(n // 4), cont]), law) == pytest.approx(
        1 / 6, abs=1 / 300
    )


def test_wasserstein_against_scipy_quantile_sample() -> None:
    law = MarchenkoPastur(0.5, 2.0)
    x = np.random.default_rng(2).uniform(0.0, 6.0, 200)
    m = 200_000
    q = law.quantile((np.arange(m) + 0.5) / m)
    assert wasserstein_distance(x, law) == pytest.approx(
        scipy.stats.wasserstein_distance(x, q), abs=2e-4
    )
    # shift identity: W1(x + c, law) for a law sample equals about |c|
    y = law.quantile((np.arange(2000) + 0.5) / 2000)
    assert wasserstein_distance(y + 0.3, law) == pytest.approx(0.3, abs=2e-3)


def test_fit_semicircle_on_goe_is_plausible() -> None:
    ev = 0.5 + np.sqrt(2.0) * E.beta_hermite_eigenvalues(400, 1.0, rng=3)
    fit = fit_semicircle(ev, n_null=40, rng=4)
    assert fit.name == "semicircle"
    assert fit.params["variance"] == pytest.approx(2.0, rel=0.03)
    assert fit.params["center"] == pytest.approx(0.5, abs=0.03)
    assert fit.plausible
    assert fit.ks_statistic < 0.02
    assert isinstance(fit.to_law(), Semicircle)
    assert fit.meta.seed == 4


def test_fit_mp_on_wishart_is_plausible_and_semicircle_is_not() -> None:
    ev = np.linalg.eigvalsh(E.wishart(200, 400, rng=5, variance=3.0))
    fit = fit_marchenko_pastur(ev, n_null=40, rng=6)
    assert fit.params["phi"] == pytest.approx(0.5, rel=0.1)
    assert fit.params["scale"] == pytest.approx(3.0, rel=0.05)
    assert fit.plausible
    bad = fit_semicircle(ev, n_null=40, rng=6)
    assert not bad.plausible
    assert bad.ks_statistic > fit.ks_statistic
    assert bad.wasserstein > fit.wasserstein


def test_fit_mp_with_atom() -> None:
    ev = np.linalg.eigvalsh(E.wishart(300, 150, rng=7))
    ev[np.abs(ev) < 1e-10] = 0.0
    fit = fit_marchenko_pastur(ev, n_null=20, rng=8)
    assert fit.params["phi"] == pytest.approx(2.0, rel=0.1)
    assert fit.plausible


def test_poisson_levels_do_not_fit_semicircle() -> None:
    fit = fit_semicircle(E.poisson_spectrum(300, rng=9), n_null=30, rng=10)
    assert not fit.plausible


def test_reproducible_and_roundtrip(tmp_path) -> None:
    ev = E.beta_hermite_eigenvalues(100, 1.0, rng=11)
    a = fit_semicircle(ev, n_null=10, rng=12)
    b = fit_semicircle(ev, n_null=10, rng=12)
    assert a.ks_threshold == b.ks_threshold
    a.save(tmp_path / "fit")
    c = LawFit.load(tmp_path / "fit")
    assert c.params == a.params
    assert c.plausible == a.plausible
    assert c.ks_statistic == a.ks_statistic


def test_bad_input() -> None:
    with pytest.raises(InputError, match="at least 10"):
        fit_semicircle([1.0, 2.0])
    with pytest.raises(InputError, match="NaN"):
        fit_semicircle([np.nan] * 20)
    with pytest.raises(InputError, match="positive mean"):
        fit_marchenko_pastur(-np.arange(1.0, 20.0))
    with pytest.raises(InputError, match="complex"):
        fit_semicircle(np.ones(20) * 1j)
