"""Honest ratio tests (hessrmt.rmt.stattests): SR-4, SR-5, SR-6, SE, beta and Brody fits."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import special, stats

from hessrmt.errors import InputError
from hessrmt.rmt import reference
from hessrmt.rmt.ensembles import beta_hermite_eigenvalues
from hessrmt.rmt.spacings import reduced_ratios
from hessrmt.rmt.stattests import (
    LARGE_N_MEAN_RATIO,
    RatioTest,
    _ks_stat,
    beta_of_mean_ratio,
    brody_loglik_terms,
    fit_brody,
    goe_ratio_cdf,
    goe_tridiagonal_levels,
    mean_ratio_model,
    poisson_ratio_cdf,
    ratio_test,
)


def wrong_tridiagonal_goe(n: int, size: int, rng: np.random.Generator) -> np.ndarray:
    """The wrong sampler of docs/reference/oracles.md §4.5: N(0, 1) diagonal with *unscaled*
    chi off-diagonals
    (the correct one divides the chi's by sqrt 2, i.e. (1/sqrt 2) tridiag(N(0, 2); chi))."""
    from scipy.linalg import eigvalsh_tridiagonal

    out = []
    for _ in range(size):
        d = rng.standard_normal(n)
        e = np.sqrt(rng.chisquare(np.arange(n - 1, 0, -1.0)))
        out.append(eigvalsh_tridiagonal(d, e))
    return np.array(out)


# ---------------------------------------------------------------- reference pieces


def test_reference_values_are_the_large_n_ones() -> None:
    assert LARGE_N_MEAN_RATIO == {
        "Poisson": pytest.approx(2 * np.log(2) - 1, abs=1e-15),
        "GOE": 0.5307,
        "GUE": 0.5996,
        "GSE": 0.6744,
    }


def test_poisson_ratio_cdf_closed_form() -> None:
    x = np.linspace(0, 1, 11)
    np.testing.assert_allclose(poisson_ratio_cdf(x), 2 * x / (1 + x), rtol=1e-15)
    np.testing.assert_allclose(
        poisson_ratio_cdf(x), reference.ratio_cdf(x, 0, reduced=True), rtol=1e-12
    )


def test_mean_ratio_model_hits_the_anchors_and_inverts() -> None:
    for beta, name in [(0.0, "Poisson"), (1.0, "GOE"), (2.0, "GUE"), (4.0, "GSE")]:
        assert mean_ratio_model(beta) == pytest.approx(LARGE_N_MEAN_RATIO[name], abs=1e-12)
        assert beta_of_mean_ratio(LARGE_N_MEAN_RATIO[name]) == pytest.approx(beta, abs=1e-6)
    grid = np.linspace(0, 20, 201)
    assert np.all(np.diff([mean_ratio_model(b) for b in grid]) > 0)  # increasing: invertible
    assert beta_of_mean_ratio(0.3) == 0.0  # below Poisson: clipped


def test_ks_statistic_matches_scipy(rng: np.random.Generator) -> None:
    x = rng.random(300)
    assert _ks_stat(x, poisson_ratio_cdf) == pytest.approx(
        stats.kstest(x, poisson_ratio_cdf).statistic, rel=1e-12
    )


def test_brody_loglik_is_log_of_reference_pdf(rng: np.random.Generator) -> None:
    s = rng.exponential(size=50) + 0.01
    for q in (0.0, 0.3, 1.0, 1.7):
        np.testing.assert_allclose(
            brody_loglik_terms(s, q)[:, 0], np.log(reference.brody_pdf(s, q)), rtol=1e-10
        )


def _brody_sample(q: float, n: int, rng: np.random.Generator) -> np.ndarray:
    alpha = special.gamma((q + 2) / (q + 1)) ** (q + 1)
    return (-np.log(rng.random(n)) / alpha) ** (1 / (q + 1))  # inverse of 1 - exp(-a s^(q+1))


@pytest.mark.parametrize("q", [0.0, 0.4, 1.0])
def test_brody_fit_recovers_q(q: float, rng: np.random.Generator) -> None:
    s = _brody_sample(q, 4000, rng)
    fit = fit_brody(s, rng=1, n_boot=200)
    assert fit.low <= q <= fit.high or abs(fit.value - q) < 0.01
    assert abs(fit.value - q) < 0.06
    assert fit.high - fit.low < 0.2


# ---------------------------------------------------------------- SR-4 / SR-5


@pytest.mark.slow
@pytest.mark.parametrize(("beta", "name"), [(1, "GOE"), (2, "GUE"), (4, "GSE")])
def test_sr4_mean_reduced_ratio_n1000_100_spectra_central_60pct(beta: int, name: str) -> None:
    x = beta_hermite_eigenvalues(1000, beta, 100, rng=40 + beta)[:, 200:800]
    res = ratio_test(x, rng=0, n_null=0, n_boot=0)
    assert "between 100 spectra" in res.se_method
    assert 0 < res.mean_ratio_se < 0.002
    assert abs(res.mean_ratio - LARGE_N_MEAN_RATIO[name]) <= 4 * res.mean_ratio_se
    assert res.verdict == name


def test_sr4_poisson_iid_uniform_levels() -> None:
    x = np.sort(np.random.default_rng(4).random((100, 1000)), axis=1)
    res = ratio_test(x, rng=0, n_null=0, n_boot=0)
    assert abs(res.mean_ratio - 0.38629436) <= 4 * res.mean_ratio_se
    assert res.verdict == "Poisson"


@pytest.mark.slow
def test_sr5_wrong_tridiagonal_goe_is_detected() -> None:
    rng = np.random.default_rng(55)
    x = wrong_tridiagonal_goe(1000, 60, rng)[:, 200:800]
    res = ratio_test(x, rng=0, n_null=0, n_boot=0)
    assert abs(res.mean_ratio - 0.5572) < 4 * res.mean_ratio_se + 0.002  # the known wrong value
    assert abs(res.mean_ratio - LARGE_N_MEAN_RATIO["GOE"]) > 8 * res.mean_ratio_se
    assert res.verdict != "GOE"
    # the correct sampler of this module passes in the same set-up
    good = goe_tridiagonal_levels(1000, np.random.default_rng(56), 60)[:, 200:800]
    ok = ratio_test(good, rng=0, n_null=0, n_boot=0)
    assert abs(ok.mean_ratio - LARGE_N_MEAN_RATIO["GOE"]) <= 4 * ok.mean_ratio_se


# ---------------------------------------------------------------- SR-6 and standard errors


@pytest.mark.slow
def test_sr6_simulated_null_is_calibrated() -> None:
    # Under the GOE null the simulated-null p-value (19 replicates) is uniform on {1/20, ..., 1}:
    # P(p <= 0.05) = 1/20 exactly. 100 seeds, N = 100 whole spectra.
    rejections = 0
    for seed in range(100):
        x = beta_hermite_eigenvalues(100, 1, rng=7000 + seed)
        res = ratio_test(x, rng=seed, n_null=19, n_boot=0)
        rejections += res.ks_goe.pvalue <= 0.05
    assert 1 <= rejections <= 11  # binomial(100, 0.05): P(X >= 12) ~ 0.004


@pytest.mark.slow
def test_sr6_naive_ks_pvalue_is_anticonservative() -> None:
    # Adjacent r~ share a spacing; as-if-iid KS p-values of all ratios reject a true GOE too
    # often, every other ratio does not. 300 GOE bulk windows (N = 500, central 60 %).
    x = beta_hermite_eigenvalues(500, 1, 300, rng=8)[:, 100:400]
    r = reduced_ratios(x)
    naive = np.array([stats.kstest(ri, goe_ratio_cdf).pvalue for ri in r])
    decor = np.array([stats.kstest(ri[::2], goe_ratio_cdf).pvalue for ri in r])
    assert np.mean(naive < 0.05) > 0.08  # about 0.12 observed
    assert np.mean(decor < 0.05) < 0.08  # about 0.05
    # and ratio_test reports the same three numbers per spectrum
    res = ratio_test(x[0], rng=0, n_null=0, n_boot=0)
    assert res.ks_goe.pvalue_naive == pytest.approx(naive[0], rel=1e-6)
    assert res.ks_goe.pvalue_decorrelated == pytest.approx(decor[0], rel=1e-6)


def test_batch_means_se_matches_replicate_spread() -> None:
    # One long Poisson spectrum per replicate: the batch-means SE must match the spread of the
    # mean over independent replicates (the iid formula is off because ratios are correlated).
    rng = np.random.default_rng(9)
    means, ses = [], []
    for _ in range(100):
        res = ratio_test(np.sort(rng.random(2000)), rng=0, n_null=0, n_boot=0)
        means.append(res.mean_ratio)
        ses.append(res.mean_ratio_se)
    assert "batch means" in res.se_method
    ratio = np.mean(ses) / np.std(means, ddof=1)
    assert 0.8 < ratio < 1.2


def _brody_projection(pdf) -> float:
    """argmax_q of int pdf(s) log p_Brody(s; q) ds (Gauss-Legendre on [0, 6])."""
    from scipy.optimize import minimize_scalar

    x, w = np.polynomial.legendre.leggauss(200)
    s, w = 3.0 * (x + 1), 3.0 * w
    p = pdf(s)

    def loss(q: float) -> float:
        return -float(np.sum(w * p * np.log(np.maximum(reference.brody_pdf(s, q), 1e-300))))

    return float(minimize_scalar(loss, bounds=(0.3, 1.5), method="bounded").x)


def test_brody_projection_of_the_surmise_is_one() -> None:
    """Check of the helper: Brody q = 1 is the GOE surmise, so its projection is 1."""
    assert _brody_projection(lambda s: reference.wigner_surmise_pdf(s, 1)) == pytest.approx(
        1.0, abs=1e-4
    )


# ---------------------------------------------------------------- whole test


def test_goe_batch_full_test_and_determinism() -> None:
    x = beta_hermite_eigenvalues(200, 1, 12, rng=3)
    res = ratio_test(x, rng=11, n_null=30, n_boot=50)
    assert isinstance(res, RatioTest)
    assert res.n_spectra == 12 and res.n_levels == 2400 and res.n_ratios == 12 * 198
    assert res.verdict == "GOE"
    assert res.ks_goe.pvalue > 0.01 and res.ks_poisson.pvalue < 0.05
    assert res.beta_fit.low <= 1.0 <= res.beta_fit.high
    # oracle: the Brody q closest (in KL) to the exact Gaudin GOE law is q* = 0.954 (the surmise
    # would give exactly 1); replicate SD of q for this set-up (30 seeds): 0.042
    q_star = _brody_projection(lambda s: reference.gaudin_pdf(s, 1, method="direct"))
    assert q_star == pytest.approx(0.954, abs=2e-3)
    assert abs(res.brody_q.value - q_star) < 4 * 0.042
    assert res.brody_q.low <= q_star <= res.brody_q.high
    again = ratio_test(x, rng=11, n_null=30, n_boot=50)
    assert again.to_dict()["ks_goe"] == res.to_dict()["ks_goe"]
    assert again.brody_q == res.brody_q
    assert res.meta.seed == 11


def test_poisson_single_spectrum_verdict() -> None:
    x = np.sort(np.random.default_rng(12).random(1500))
    res = ratio_test(x, rng=0, n_null=30, n_boot=50)
    assert res.verdict == "Poisson"
    assert res.ks_goe.pvalue < 0.05
    assert res.brody_q.value < 0.15
    assert res.beta_fit.value < 0.2


def test_goe_poisson_mixture_is_intermediate() -> None:
    # Superposing two independent GOE spectra (a block-diagonal matrix) gives intermediate
    # statistics (<r~> ~ 0.42): neither GOE nor Poisson.
    rng = np.random.default_rng(13)
    a = goe_tridiagonal_levels(400, rng, 30)
    b = goe_tridiagonal_levels(400, rng, 30)
    x = np.sort(np.concatenate([a, b], axis=1), axis=1)[:, 200:600]
    res = ratio_test(x, rng=0, n_null=0, n_boot=0)
    assert 0.40 < res.mean_ratio < 0.48
    assert res.verdict == "intermediate"


def test_scaled_null_when_data_exceed_the_budget() -> None:
    # 40 spectra x 300 levels with a budget of 1500 simulated levels per replicate: each null
    # replicate uses a subset of spectra and compares sqrt(K) D.
    goe = beta_hermite_eigenvalues(300, 1, 40, rng=21)
    res = ratio_test(goe, rng=0, n_null=20, null_budget=20 * 1500, n_boot=0)
    assert res.ks_goe.null_scaled and "scaled" in res.ks_goe.method
    assert res.ks_goe.pvalue > 0.05
    assert res.ks_poisson.pvalue <= 1 / 21
    poi = np.sort(np.random.default_rng(22).random((40, 300)), axis=1)
    res = ratio_test(poi, rng=0, n_null=20, null_budget=20 * 1500, n_boot=0)
    assert res.ks_goe.null_scaled and res.ks_goe.pvalue <= 1 / 21
    assert res.ks_poisson.pvalue > 0.05


def test_list_of_ragged_spectra() -> None:
    rng = np.random.default_rng(23)
    spectra = [goe_tridiagonal_levels(n, rng) for n in (120, 150, 90)]
    res = ratio_test(spectra, rng=0, n_null=10, n_boot=10)
    assert res.n_spectra == 3 and res.n_levels == 360 and res.n_ratios == 354
    expected = np.mean(np.concatenate([reduced_ratios(s) for s in spectra]))
    assert res.mean_ratio == pytest.approx(expected, rel=1e-14)


def test_ratio_test_input_errors() -> None:
    with pytest.raises(InputError, match="at least 10"):
        ratio_test(np.arange(6.0))
    with pytest.raises(InputError):
        ratio_test(np.arange(30.0), n_null=-1)
    with pytest.raises(InputError):
        ratio_test(np.arange(30.0), null_window=0.0)
    with pytest.raises(InputError):
        ratio_test([np.arange(30.0), np.zeros((2, 3))])


def test_ks_part_of_the_ratio_rule_can_fire_with_100_null_replicates() -> None:
    """issue 11: with 100 replicates the simulated p-value stops at 1/101 > 1e-3, so a
    picket-fence / Poisson mixture with GOE's mean ratio was called GOE; the rule now uses the
    reachable decorrelated asymptotic p-value there."""
    rng = np.random.default_rng(0)
    levels = np.cumsum(np.where(rng.random(3000) < 0.4, 1.0, rng.exponential(1.0, 3000)))
    res = ratio_test(levels, rng=0, n_null=100, n_boot=0)
    assert abs(res.mean_ratio - 0.5307) < 3 * res.mean_ratio_se + 0.01  # looks GOE by its mean
    assert res.ks_goe.pvalue >= 1 / 101 - 1e-12  # the simulated p-value's floor
    assert res.ks_goe.pvalue_decorrelated < 1e-3
    assert res.verdict != "GOE"
