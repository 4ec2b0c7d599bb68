"""The Pennington-Bahri pipeline: exponent fit on known power laws; the quick reproduction."""

from __future__ import annotations

import json

import numpy as np
import pytest

from hessrmt.cli.main import main
from hessrmt.errors import InputError
from hessrmt.experiments.pennington_bahri import pipeline


def test_fit_recovers_known_exponent_with_free_threshold(rng):
    groups = {}
    for k, (c, eps0) in enumerate([(0.8, 0.05), (1.5, 0.2)]):
        e = eps0 + np.geomspace(0.01, 0.3, 12)
        a = c * (e - eps0) ** 1.5 * np.exp(0.02 * rng.standard_normal(e.size))
        groups[k] = (e, a)
    fit = pipeline.fit_power_law(groups, bootstrap=60, seed=1)
    assert fit["gamma"] == pytest.approx(1.5, abs=0.05)
    lo, hi = fit["interval"]
    assert lo <= fit["gamma"] <= hi and hi - lo < 0.3
    assert fit["groups"]["1"]["eps0"] == pytest.approx(0.2, abs=0.01)
    assert fit["n_points"] == 24


def test_fit_with_zero_threshold_and_the_theory_curve():
    # alpha = c eps^2 exactly: eps0 = "zero" recovers 2
    e = np.linspace(0.1, 0.5, 6)
    fit = pipeline.fit_power_law({0: (e, 0.3 * e**2)}, bootstrap=0, eps0="zero")
    assert fit["gamma"] == pytest.approx(2.0, abs=1e-6)
    # the theory's index close above eps_c follows the 3/2 law (PB-3), and the fit sees it
    from hessrmt.rmt import pennington_bahri as pb

    eps_c = pb.critical_energy(0.25)
    e = eps_c * (1 + np.geomspace(1e-3, 1e-2, 5))
    a = np.array([pb.index(x, 0.25) for x in e])
    fit = pipeline.fit_power_law({0.25: (e, a)}, bootstrap=0)
    assert fit["gamma"] == pytest.approx(1.5, abs=0.05)


def test_fit_reports_why_it_cannot_fit():
    fit = pipeline.fit_power_law({0.5: (np.array([0.1, 0.2]), np.array([0.01, 0.0]))})
    assert fit["gamma"] is None and "0 < alpha" in fit["reason"]
    with pytest.raises(InputError):
        pipeline.fit_power_law({}, eps0="sometimes")


def test_duration_estimate_is_positive_and_grows_with_the_work():
    cfg = pipeline.quick_config(0)
    est = pipeline.estimate_seconds(cfg)
    assert 0 < est < 3600
    import dataclasses

    more = dataclasses.replace(cfg, starts=4 * cfg.starts)
    assert pipeline.estimate_seconds(more) > est


def test_config_key_changes_with_settings():
    a = pipeline.quick_config(0)
    assert a.key() == pipeline.quick_config(0).key()
    assert a.key() != pipeline.quick_config(1).key()
    with pytest.raises(InputError):
        pipeline._validate(pipeline.Config(phis=(0.5, -1.0)))


@pytest.mark.slow
def test_quick_reproduction_summary_is_sane_and_resumes(tmp_path, capsys):
    out = tmp_path / "pb"
    assert main(["reproduce", "pennington-bahri", "--quick", "--out", str(out)]) == 0
    assert "critical points kept" in capsys.readouterr().out
    s = json.loads((out / "summary.json").read_text())
    cfg = s["config"]
    n_crit = len(cfg["phis"]) * cfg["starts"]
    assert s["mode"] == "quick" and s["n_searches"] == n_crit
    points = s["critical_points"]
    assert len(points) == n_crit + len(cfg["min_phis"]) * cfg["min_starts"]
    for p in points:
        assert np.isfinite(p["grad_norm"]) and p["grad_norm"] >= 0
        assert p["energy"] >= 0
        if p["accepted"]:  # only tiny-gradient points are kept, and they carry an index
            assert p["grad_norm"] <= s["accept_gtol"]
            assert 0.0 <= p["index"] <= 1.0
            assert 0.0 <= p["alpha_theory"] <= 1.0
        else:
            assert p["index"] is None
    kept = [p for p in points if p["accepted"]]
    assert s["n_kept"] == sum(p["search"] == "critical" for p in kept)
    assert all(p["index"] == 0.0 for p in kept if p["search"] == "minimum")
    if kept:  # H = H0 + H1 from hessrmt.curvature, to round-off
        assert s["max_relative_h_minus_h0_h1"] < 1e-10
    # the finder must deliver: enough distinct critical points, over a spread of energies and
    # with non-zero indices, for the 3/2-law fit to be made (a loose sanity band, not a value)
    assert s["n_distinct"] >= 15
    assert s["success_rate"] == pytest.approx(s["n_kept"] / s["n_searches"])
    crit_kept = [p for p in kept if p["search"] == "critical"]
    energies = [p["energy"] for p in crit_kept]
    assert max(energies) - min(energies) > 0.05
    assert len({p["index_count"] for p in crit_kept}) >= 4
    assert sum(0 < p["index"] <= cfg["alpha_max"] for p in crit_kept) >= 10
    for p in kept:  # a critical point: tiny gradient and a tiny Newton step (distance to it)
        assert p["newton_step"] <= cfg["accept_xtol"]
        assert p["zero_modes"] == 0
        assert p["theta_norm"] < 100  # runaway points at infinity have |theta| ~ 100-1000
    ex = s["exponent"]
    assert ex["expected"] == 1.5 and ex["reason"] is None
    assert ex["gamma"] is not None and np.isfinite(ex["gamma"])
    assert 0.5 < ex["gamma"] < 4.0
    lo, hi = ex["interval"]
    assert lo <= ex["gamma"] <= hi and hi - lo < 3.0
    assert ex["n_points"] >= 10
    ex0 = s["exponent_eps0_zero"]
    assert ex0["gamma"] is None or 0.05 <= ex0["gamma"] <= 10.0
    for m in s["minimisers"]:
        assert m["paper_curve"] == pytest.approx((1 - m["phi"]) ** 2 / 2)
        for e in m["energies"]:  # below the zero predictor's energy ~ 1/2, above 0
            assert 0.0 <= e < 0.75
        assert m["lowest_energy_reached"] is not None
        assert 0.0 <= m["lowest_energy_reached"] < 0.75
        if m["n_minimisers"]:
            assert m["lowest_energy_reached"] <= m["min_energy"] + 1e-12
    html = (out / "report.html").read_text()
    assert html.count("data:image/png;base64,") >= 3
    for name in ("densities", "index_vs_energy", "minimiser_energy"):
        assert (out / "figures" / f"{name}.png").stat().st_size > 1000
    # a rerun resumes from the checkpoints instead of searching again
    assert main(["reproduce", "pennington-bahri", "--quick", "--out", str(out)]) == 0
    s2 = json.loads((out / "summary.json").read_text())
    assert s2["run"]["resumed_searches"] == len(points)
    assert s2["critical_points"] == points
