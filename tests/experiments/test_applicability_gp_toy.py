"""GP Hessian toy: covariance derived from the kernel (checked by finite differences of the
kernel itself), sampler covariance (Monte Carlo), GOE ratios (docs/reference/papers.md §2.7, oracle
SR-4 style)."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from hessrmt.errors import InputError
from hessrmt.experiments.applicability.gp_toy import (
    GOE_MEAN_RATIO,
    POISSON_MEAN_RATIO,
    GPToyResult,
    default_configs,
    gp_hessian_covariance,
    gradient_correlation,
    gradient_correlation_se,
    reduced_ratio_stats,
    run_gp_toy,
    sample_gp_hessians,
)

S, ELL = 1.7, 0.8  # squared-exponential kernel k(u) = S exp(u / ELL^2)
K0, KP, KPP = S, S / ELL**2, S / ELL**4


def kernel(x: np.ndarray, y: np.ndarray) -> float:
    return S * np.exp(-0.5 * np.sum((x - y) ** 2) / ELL**2)


def mixed_derivative(idx_x: tuple[int, ...], idx_y: tuple[int, ...], x, y, h=1e-2) -> float:
    """d/dx_{idx_x...} d/dy_{idx_y...} kernel(x, y) by nested central differences."""
    coords = [("x", i) for i in idx_x] + [("y", j) for j in idx_y]
    total = 0.0
    for signs in itertools.product((1, -1), repeat=len(coords)):
        xx, yy = x.copy(), y.copy()
        for (which, i), sg in zip(coords, signs):
            (xx if which == "x" else yy)[i] += sg * h
        total += np.prod(signs) * kernel(xx, yy)
    return total / (2 * h) ** len(coords)


def test_hessian_covariance_matches_kernel_derivatives() -> None:
    n = 3
    x = np.array([0.3, -0.2, 0.5])
    iu, ju = np.triu_indices(n)
    fd = np.array(
        [
            [mixed_derivative((i, j), (k, l), x, x.copy()) for k, l in zip(iu, ju)]
            for i, j in zip(iu, ju)
        ]
    )
    ours = gp_hessian_covariance(n, KP, KPP, variant="derived")
    np.testing.assert_allclose(ours, fd, atol=2e-3 * KPP)
    # off-diagonal variance kpp, diagonal variance 3 kpp, diagonal covariance kpp
    assert np.isclose(ours[1, 1], KPP) and np.isclose(ours[0, 0], 3 * KPP)


def test_conditioned_covariance_is_schur_complement() -> None:
    n = 3
    x = np.array([0.1, 0.4, -0.3])
    iu, ju = np.triu_indices(n)
    h_cov = gp_hessian_covariance(n, KP, KPP, variant="derived")
    cov_hl = np.array([mixed_derivative((i, j), (), x, x.copy()) for i, j in zip(iu, ju)])
    np.testing.assert_allclose(cov_hl, -KP * (iu == ju), atol=1e-3 * KP)
    schur = h_cov - np.outer(cov_hl, cov_hl) / K0
    ours = gp_hessian_covariance(n, KP, KPP, variant="derived", k0=K0)
    np.testing.assert_allclose(ours, schur, atol=2e-3 * KPP)


def test_gradient_correlation_formula() -> None:
    n = 4
    rng = np.random.default_rng(3)
    x = rng.standard_normal(n) * 0.3
    for d in (0.0, 0.5, 1.2):
        u = rng.standard_normal(n)
        y = x + d * u / np.linalg.norm(u)
        inner = sum(mixed_derivative((i,), (i,), x, y) for i in range(n))
        expected = inner / (n * KP)
        general = gradient_correlation(
            np.array(d),
            lambda v: S / ELL**2 * np.exp(v / ELL**2),
            lambda v: S / ELL**4 * np.exp(v / ELL**2),
            n,
            KP,
        )
        np.testing.assert_allclose(general, expected, atol=1e-3)
        np.testing.assert_allclose(gradient_correlation_se(d, ELL, n), expected, atol=1e-3)
    assert gradient_correlation_se(0.0, 1.0) == 1.0
    assert gradient_correlation_se(10.0, 1.0) < 1e-20


@pytest.mark.parametrize("variant,kw", [("derived", {}), ("notebook", {"condition_k": 2.0})])
def test_sampler_covariance_monte_carlo(variant: str, kw: dict) -> None:
    n, m = 3, 40000
    h = sample_gp_hessians(n, m, kp=1.5, kpp=0.7, variant=variant, rng=11, **kw)
    iu, ju = np.triu_indices(n)
    v = h[:, iu, ju]
    emp = np.cov(v, rowvar=False)
    exact = gp_hessian_covariance(n, 1.5, 0.7, variant=variant, **kw)
    # SE of a covariance estimate ~ sqrt((s_a s_b + c^2) / m) <= sqrt(2) max var / sqrt(m)
    se = np.sqrt(2.0) * np.max(np.diag(exact)) / np.sqrt(m)
    np.testing.assert_allclose(emp, exact, atol=5 * se)


def test_degeneracy_and_outliers_structure() -> None:
    h = sample_gp_hessians(20, 2, degeneracy=5, outliers=4, kp=0.0, kpp=1e-8, rng=1)
    assert h.shape == (2, 25, 25)
    assert np.all(h[:, 20:, :] == 0) and np.all(h[:, :, 20:] == 0)
    big = np.abs(np.diagonal(h[:, :20, :20], axis1=1, axis2=2)) >= 10.0 - 1e-6
    assert np.all(big.sum(axis=1) == 4)
    ev = np.linalg.eigvalsh(h)
    assert np.all((np.abs(ev) == 0).sum(axis=1) == 5)


NAMES = ("plain", "degenerate+outliers")


def test_gp_toy_goe_ratios_within_se() -> None:
    """n = 300, kp = 3, kpp = 6, 100 degenerate directions, 20 outliers (scale 10): GOE r~."""
    from threadpoolctl import threadpool_limits

    configs = {k: v for k, v in default_configs(sweeps=False).items() if k in NAMES}
    with threadpool_limits(1):  # faster than 2 contended threads for 300 x 300 eigvalsh
        res = run_gp_toy(n=300, size=30, configs=configs, rng=2026)
    for name in NAMES:
        st = res.stats[name]
        assert abs(st["mean_ratio"] - GOE_MEAN_RATIO) < 4 * st["mean_ratio_se"], (name, st)
        # and far from Poisson
        assert st["mean_ratio"] - POISSON_MEAN_RATIO > 20 * st["mean_ratio_se"]
    assert res.stats["degenerate+outliers"]["n_zero_removed"] == 100 * 30
    s = res.summary()
    assert s["configs"]["plain"]["n"] == 300 and s["seed"] == 2026


def test_ratio_stats_poisson_and_errors(tmp_path) -> None:
    rng = np.random.default_rng(0)
    levels = np.sort(rng.uniform(size=(50, 400)), axis=1)
    st = reduced_ratio_stats(levels, central=1.0)
    assert abs(st["mean_ratio"] - POISSON_MEAN_RATIO) < 4 * st["mean_ratio_se"]
    with pytest.raises(InputError):
        reduced_ratio_stats(np.zeros((3, 5)))
    with pytest.raises(InputError, match="valid kernel"):
        sample_gp_hessians(5, 1, kp=3.0, kpp=1.0, variant="derived", k0=1.0)
    with pytest.raises(InputError, match="variant"):
        sample_gp_hessians(5, 1, variant="bogus")  # type: ignore[arg-type]
    res = run_gp_toy(n=30, size=5, sweeps=False, rng=1)
    res.save(tmp_path / "gp")
    back = GPToyResult.load(tmp_path / "gp")
    np.testing.assert_array_equal(back.spectra["plain"], res.spectra["plain"])
    again = run_gp_toy(n=30, size=5, sweeps=False, rng=1)
    np.testing.assert_array_equal(again.spectra["outliers"], res.spectra["outliers"])
