"""Oracle PAPER-1: the ImageNet exponential-hardness fit (docs/reference/papers.md §2.8)."""

from __future__ import annotations

import numpy as np
import pytest

from hessrmt.errors import InputError
from hessrmt.experiments.applicability.hardness import (
    CITATION,
    exp_model,
    fit_exponential,
    fit_hardness,
    hardness_summary,
    load_imagenet_hardness,
)

PAPER_1 = {"loss": (0.9432, 0.7611, -0.0458), "error": (0.2330, 0.1673, -0.0406)}


def test_table_transcribed() -> None:
    tab = load_imagenet_hardness()
    assert tab.budget.tolist() == [15, 30, 45, 60, 90, 120, 150, 180, 210, 270, 300]
    # spot values from docs/reference/papers.md §2.8
    assert tab.loss[0] == 1.3510 and tab.loss[-1] == 0.9316
    assert tab.error_epoch[4] == 88 and tab.error[6] == 0.2346
    assert tab.loss_epoch.tolist()[-3:] == [152, 204, 210]
    assert tab.citation == CITATION and "2102.06740" in CITATION


@pytest.fixture(scope="module")
def fits():
    return fit_hardness(n_boot=200, rng=0)


@pytest.mark.parametrize("name", ["loss", "error"])
def test_paper_1_oracle(fits, name: str) -> None:
    np.testing.assert_allclose(fits[name].params, PAPER_1[name], rtol=1e-3)


@pytest.mark.parametrize("name", ["loss", "error"])
def test_intervals_cover_estimate(fits, name: str) -> None:
    f = fits[name]
    assert np.all(f.stderr > 0)
    assert np.all(f.wald_low < f.params) and np.all(f.params < f.wald_high)
    assert np.all(f.boot_low <= f.params) and np.all(f.params <= f.boot_high)
    assert f.n_boot_failed < 0.05 * f.n_boot
    # decay is significantly negative
    assert f.wald_high[2] < 0


def test_recovers_known_parameters() -> None:
    rng = np.random.default_rng(1)
    t = np.linspace(0, 200, 30)
    truth = (0.5, 2.0, -0.03)
    y = exp_model(t, *truth) + 1e-3 * rng.standard_normal(t.size)
    f = fit_exponential(t, y, p0=(0.4, 1.0, -0.1), n_boot=100, rng=2)
    for i in range(3):
        assert f.wald_low[i] < truth[i] < f.wald_high[i]
    np.testing.assert_allclose(f.params, truth, rtol=2e-2)


def test_seeded_bootstrap_reproducible() -> None:
    tab = load_imagenet_hardness()
    a = fit_exponential(tab.loss_epoch, tab.loss, n_boot=30, rng=5)
    b = fit_exponential(tab.loss_epoch, tab.loss, n_boot=30, rng=5)
    np.testing.assert_array_equal(a.boot_low, b.boot_low)
    assert a.meta.seed == 5


def test_bad_input() -> None:
    with pytest.raises(InputError, match="equal length"):
        fit_exponential(np.arange(5.0), np.arange(4.0))
    with pytest.raises(InputError, match="finite"):
        fit_exponential(np.arange(5.0), np.array([1, 2, np.nan, 4, 5.0]))


def test_summary_and_roundtrip(fits, tmp_path) -> None:
    s = hardness_summary(fits, seed=0)
    assert set(s) >= {"loss", "error", "citation"}
    assert abs(s["loss"]["c"]["value"] - PAPER_1["loss"][2]) < 1e-4
    assert len(s["error"]["a"]["bootstrap"]) == 2
    fits["loss"].save(tmp_path / "loss")
    back = type(fits["loss"]).load(tmp_path / "loss")
    np.testing.assert_array_equal(back.params, fits["loss"].params)
