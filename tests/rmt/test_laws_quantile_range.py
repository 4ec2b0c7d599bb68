"""Quantiles of the limiting laws: levels outside [0, 1] are an error, not the support edge."""

import numpy as np
import pytest

from hessrmt.errors import InputError
from hessrmt.rmt.laws import MarchenkoPastur, Semicircle


@pytest.mark.parametrize("law", [Semicircle(1.0), MarchenkoPastur(2.0, 1.0)])
@pytest.mark.parametrize("bad", [-0.1, 1.5, float("nan")])
def test_out_of_range_level_is_an_input_error(law, bad) -> None:
    with pytest.raises(InputError, match=r"\[0, 1\]"):
        law.quantile(np.array([0.5, bad]))


def test_quantile_inverts_the_cdf_up_to_the_endpoints() -> None:
    sc = Semicircle(1.0)  # radius 2
    u = np.array([0.0, 0.25, 0.5, 0.75, 1.0])
    x = sc.quantile(u)
    # near an edge the cdf is flat like |x -+ 2|^(3/2), so a level within 1e-16 of 0 or 1 only
    # pins x to ~1e-10
    assert x[0] == pytest.approx(-2.0, abs=1e-9) and x[-1] == pytest.approx(2.0, abs=1e-9)
    assert x[2] == pytest.approx(0.0, abs=1e-12)  # symmetric law: median 0
    np.testing.assert_allclose(sc.cdf(x[1:-1]), u[1:-1], atol=1e-12)
    mp = MarchenkoPastur(2.0, 1.0)  # atom 1 - 1/phi = 1/2 at zero
    assert mp.quantile(np.array([0.3]))[0] == 0.0
