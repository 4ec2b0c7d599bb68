"""ABC's finite-N identity by GOE sampling: exact p = 2 counts, convergence to Theta_{k,p}."""

from __future__ import annotations

import math

import numpy as np
import pytest

from hessrmt.errors import InputError
from hessrmt.rmt.complexity import abc
from hessrmt.rmt.complexity.kac_rice import finite_n_complexity, goe_spectra


def test_p2_counts_are_exact() -> None:
    # the 2-spin's critical points are +-eigenvectors: exactly 2 of each index, 2N in all
    n = 12
    tot = finite_n_complexity(n, 2, [10.0], k=None, samples=20, rng=0)
    assert math.exp(n * tot.theta[0]) == pytest.approx(2 * n, rel=1e-12)
    for k in (0, 5):
        r = finite_n_complexity(n, 2, [10.0], k=k, samples=20, rng=0)
        assert math.exp(n * r.theta[0]) == pytest.approx(2.0, rel=1e-12)


def test_p2_index_count_matches_direct_simulation() -> None:
    # p = 2: E Crt_{N,0}(u) = 2 P(lambda_min(A)/sqrt N <= u), A = (J + J^T)/2 with J iid N(0, 1)
    n, u = 8, -1.2
    gen = np.random.default_rng(5)
    j = gen.standard_normal((4000, n, n))
    lam = np.linalg.eigvalsh((j + j.transpose(0, 2, 1)) / 2)[:, 0] / math.sqrt(n)
    direct = 2 * np.mean(lam <= u)
    r = finite_n_complexity(n, 2, [u], k=0, samples=4000, rng=6)
    est = math.exp(n * r.theta[0])
    se = 2 * math.sqrt(direct / 2 * (1 - direct / 2) / 4000)
    assert abs(est - direct) < 5 * math.sqrt(2) * se


def test_spectra_normalisation() -> None:
    sp = goe_spectra(200, 20, kmax=None, rng=1)
    assert np.mean(sp**2) == pytest.approx(0.5, abs=0.02)  # semicircle radius sqrt 2, variance 1/2
    assert sp.min() > -math.sqrt(2) - 0.2


def test_converges_to_theta_as_n_grows() -> None:
    # p = 3, k = 0: the error shrinks like 1/N below the threshold (u = -1.65) and like N^-2/3
    # (edge fluctuations) above it (u = -1.0); docs/reproductions/spin-glass.md
    p, u = 3, np.array([-1.65, -1.0])
    ns = [25, 50, 100, 200]
    errs = []
    for i, n in enumerate(ns):
        r = finite_n_complexity(n, p, u, k=0, samples=1500, rng=10 + i)
        assert np.all(r.hits > 0)
        errs.append(np.abs(r.theta - abc.theta_k(u, p, 0)))
    errs = np.array(errs)
    assert np.all(np.diff(errs, axis=0) < 0)
    assert errs[-1, 0] < 0.02 and errs[-1, 1] < 0.04
    slopes = np.polyfit(np.log(ns), np.log(errs), 1)[0]
    assert -1.4 < slopes[0] < -0.7
    assert -0.9 < slopes[1] < -0.35


def test_bad_input() -> None:
    with pytest.raises(InputError, match="N > k"):
        finite_n_complexity(3, 3, [-1.0], k=5, samples=10, rng=0)
    with pytest.raises(InputError, match="p must be"):
        finite_n_complexity(10, 1, [-1.0], samples=10, rng=0)
    with pytest.raises(InputError, match="samples"):
        goe_spectra(10, 1, kmax=0, rng=0)


def test_result_roundtrip_and_metadata(tmp_path) -> None:
    from hessrmt.rmt.complexity.kac_rice import FiniteNComplexity

    r = finite_n_complexity(20, 3, [-1.7, -1.0], k=1, samples=50, rng=4)
    assert r.meta.seed == 4 and "goe" in r.meta.conventions
    r.save(tmp_path / "fn")
    back = FiniteNComplexity.load(tmp_path / "fn")
    np.testing.assert_array_equal(back.theta, r.theta)
    assert back.k == 1 and back.summary_dict()["N"] == 20
    again = finite_n_complexity(20, 3, [-1.7, -1.0], k=1, samples=50, rng=4)
    np.testing.assert_array_equal(again.theta, r.theta)  # same seed, same result
