"""number_variance_profile: where along the bulk Sigma^2 departs from GOE."""

import json

import numpy as np
import pytest

from hessrmt.errors import InputError
from hessrmt.rmt.ensembles import beta_hermite_eigenvalues
from hessrmt.rmt.verdict import _semicircle_cdf
from hessrmt.rmt.verdict_profile import number_variance_profile


def _flat_goe(n: int, seed: int) -> np.ndarray:
    return n * _semicircle_cdf(beta_hermite_eigenvalues(n, 1, rng=seed))


def test_goe_stays_under_its_reference_and_gamma_is_above_everywhere() -> None:
    goe = number_variance_profile([_flat_goe(900, 1)], rng=0)
    assert goe["n_stretches"] == 6 and goe["n_above_q99"] <= 1
    assert 0.5 < goe["goe_mean"] < 1.1  # GOE Sigma^2(10) after local unfolding ~ 0.76
    json.dumps(goe, allow_nan=False)
    rng = np.random.default_rng(2)
    gamma = number_variance_profile([np.cumsum(rng.gamma(2.43, 1 / 2.43, 900))], rng=0)
    assert gamma["n_above_q99"] >= 4  # a stationary excess: (almost) every stretch


def test_a_sharp_local_feature_shows_in_its_stretch_only() -> None:
    """GOE levels whose density has a divergence at the middle of stretch 4 of 6: the excess
    sits there, the far stretches are GOE-like."""
    u = _flat_goe(900, 3) / 900
    x0 = 0.1 + 0.8 * 3.5 / 6  # middle of the 4th stretch of the central 80 %
    levels = np.sign(u - x0) * np.abs(u - x0) ** 3
    prof = number_variance_profile([levels], rng=0)
    s2 = prof["segments"][0]["sigma2"]
    assert s2[3] > prof["goe_q99"] and s2[3] == max(s2)
    assert s2[0] < prof["goe_q99"] and s2[-1] < prof["goe_q99"]


def test_bad_input() -> None:
    with pytest.raises(InputError, match="stretch"):
        number_variance_profile([np.arange(30.0)], stretches=6, length=10)
    with pytest.raises(InputError):
        number_variance_profile([np.arange(300.0)], stretches=0)


def test_summary_carries_the_profile() -> None:
    from hessrmt.rmt.summary import summarize_spectrum

    s = summarize_spectrum(beta_hermite_eigenvalues(400, 1, rng=7), rng=0, n_null=0, n_boot=0)
    prof = s.to_summary_dict()["verdict_tests"]["number_variance_profile"]
    assert prof["n_stretches"] == 6 and prof["segments"][0]["range"][0] < 0
