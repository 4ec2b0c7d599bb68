"""Marchenko-Pastur fit on spectra whose mean is only round-off: a clear error, not phi ~ 1e30."""

import numpy as np
import pytest

from hessrmt.errors import InputError
from hessrmt.rmt.fit import MP_MEAN_RTOL, fit_marchenko_pastur


def test_traceless_spectrum_is_rejected_with_the_reason(rng: np.random.Generator) -> None:
    y = rng.standard_normal(200)
    x = np.concatenate([y, -y]) + 1e-12  # traceless but for a round-off-sized positive shift
    assert 0 < x.mean() <= MP_MEAN_RTOL * np.abs(x).max()
    with pytest.raises(InputError, match="round-off"):
        fit_marchenko_pastur(x, n_null=0)


def test_small_but_genuine_mean_is_fitted(rng: np.random.Generator) -> None:
    # a Wishart-like spectrum scaled down: its mean is tiny in absolute terms but not round-off
    X = rng.standard_normal((200, 400))
    eigs = np.linalg.eigvalsh(X @ X.T / 400) * 1e-12
    fit = fit_marchenko_pastur(eigs, n_null=0)
    # phi = p/n = 0.5 and scale = mean: moment estimates within a few standard errors
    assert fit.params["phi"] == pytest.approx(0.5, abs=0.05)
    assert fit.params["scale"] == pytest.approx(float(eigs.mean()), rel=1e-12)
