"""Per-spectrum records of summary.json: the extra keys against direct computations, and the
density fits against their generating laws (rmt-oracles.md §6)."""

from __future__ import annotations

import numpy as np

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
    assert 0 < sc["ks_statistic"] < 0.2
    assert (
        "error" in rec["fits"]["marchenko_pastur"]
        or rec["fits"]["marchenko_pastur"]["ks_statistic"] > 0.1
    )


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
