"""Per-spectrum records of summary.json: the extra keys against direct computations, and the
density fits against their generating laws (docs/reference/oracles.md §6)."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.stats

from hessrmt.analysis.statistics import spectrum_record
from hessrmt.rmt.summary import SUMMARY_KEYS


def test_extra_keys_by_direct_computation(rng: np.random.Generator) -> None:
    n = 300
    a = rng.standard_normal((n, n))
    goe = np.linalg.eigvalsh((a + a.T) / np.sqrt(2 * n))
    eigs = np.concatenate([goe, np.zeros(40), [-3e-14, 2e-14]])  # exact and round-off zeros
    rec = spectrum_record(eigs, seed=0)
    assert set(SUMMARY_KEYS) <= set(rec)
    assert rec["lambda_max"] == goe.max() and rec["lambda_min"] == goe.min()
    assert rec["trace"] == eigs.sum()
    assert rec["n_negative_raw"] == int((goe < 0).sum()) + 1
    assert rec["n_negative"] == int((goe < 0).sum())  # -3e-14 is round-off, not negative
    assert (rec["n_zero_exact"], rec["n_zero_roundoff"]) == (40, 2)
    # moment fit of the semicircle to all eigenvalues: variance = mean square (zeros included)
    sc = rec["fits"]["semicircle"]
    np.testing.assert_allclose(sc["params"]["variance"], np.var(eigs), rtol=1e-12)
    np.testing.assert_allclose(sc["params"]["center"], np.mean(eigs), rtol=1e-12)
    # KS distance to the fitted semicircle, from its closed-form cdf (docs/reference/oracles.md
    # §6.1)
    var, c = np.var(eigs), np.mean(eigs)
    r = 2 * np.sqrt(var)

    def sc_cdf(x: np.ndarray) -> np.ndarray:
        u = np.clip(x - c, -r, r)
        return 0.5 + u * np.sqrt(4 * var - u**2) / (4 * np.pi * var) + np.arcsin(u / r) / np.pi

    expected = scipy.stats.kstest(eigs, sc_cdf).statistic
    assert sc["ks_statistic"] == pytest.approx(expected, rel=1e-9)
    # MP moment fit: scale = mean, phi = variance / mean^2; an MP law has no negative mass, so
    # its KS distance is at least the fraction of negative eigenvalues
    mp = rec["fits"]["marchenko_pastur"]
    assert mp["params"]["scale"] == pytest.approx(c, rel=1e-12)
    assert mp["params"]["phi"] == pytest.approx(var / c**2, rel=1e-9)
    assert mp["ks_statistic"] >= np.mean(eigs < 0) - 1e-12


def test_batch_record_and_mp_fit(rng: np.random.Generator) -> None:
    p, n = 100, 400
    rows = []
    for _ in range(4):
        x = rng.standard_normal((p, n))
        rows.append(np.linalg.eigvalsh(x @ x.T / n))
    batch = np.stack(rows)
    rec = spectrum_record(batch, seed=0)
    assert rec["n_spectra"] == 4 and rec["n_eigenvalues"] == 4 * p
    np.testing.assert_allclose(rec["trace"], batch.sum(axis=1).mean(), rtol=1e-12)
    mp = rec["fits"]["marchenko_pastur"]
    assert abs(mp["params"]["phi"] - p / n) < 0.03  # MP(phi = p/n = 0.25, scale 1)
    assert abs(mp["params"]["scale"] - 1.0) < 0.02
    assert mp["ks_statistic"] < rec["fits"]["semicircle"]["ks_statistic"]


def test_degenerate_spectrum_keeps_the_keys() -> None:
    rec = spectrum_record(np.zeros(50), seed=0)
    assert set(SUMMARY_KEYS) <= set(rec)
    assert rec["verdict"] is None and "no local statistics" in rec["skipped"]
    assert rec["zero_fraction"] == 1.0 and rec["n_zero_exact"] == 50 and rec["trace"] == 0.0


def test_fit_null_adds_plausibility(rng: np.random.Generator) -> None:
    a = rng.standard_normal((120, 120))
    eigs = np.linalg.eigvalsh((a + a.T) / np.sqrt(240))
    rec = spectrum_record(eigs, seed=0, fit_null=20)
    sc = rec["fits"]["semicircle"]
    assert sc["n_null"] == 20 and sc["plausible"] is True  # a GOE spectrum fits the semicircle


def test_no_mp_fit_for_a_traceless_spectrum(rng: np.random.Generator) -> None:
    """A spectrum whose mean is round-off (the residual of a ReLU network) gets no MP fit."""
    x = rng.standard_normal(200)
    x = np.sort(np.concatenate([x, -x])) + 1e-18
    rec = spectrum_record(x, seed=0)
    assert "error" in rec["fits"]["marchenko_pastur"]
    assert rec["fits"]["semicircle"]["ks_statistic"] < 0.2


def test_record_statistics_are_summarize_spectrum_with_the_dtype_tolerance(
    rng: np.random.Generator,
) -> None:
    """Identity: the summary keys of a record are summarize_spectrum's for the same seed and the
    dtype's zero tolerance (float32: 1e-4 max|lambda|, so 1e-6-relative levels count as zeros)."""
    from hessrmt.rmt.ensembles import beta_hermite_eigenvalues
    from hessrmt.rmt.summary import summarize_spectrum

    eigs = np.concatenate([beta_hermite_eigenvalues(200, 1, rng=rng), 2e-6 * rng.random(20)])
    for dtype, rtol in (("float64", 1e-9), ("float32", 1e-4)):
        rec = spectrum_record(eigs, seed=3, dtype=dtype)
        ref = summarize_spectrum(eigs, zero_rtol=rtol, rng=3, dtype=dtype).to_summary_dict()
        for key in ("mean_ratio", "mean_ratio_se", "verdict", "zero_fraction", "n_outliers"):
            assert rec[key] == ref[key], (dtype, key)
        assert rec["zero_tolerance"] == pytest.approx(rtol * np.abs(eigs).max(), rel=1e-12)
    assert spectrum_record(eigs, seed=3, dtype="float32")["zero_fraction"] == 20 / 220
