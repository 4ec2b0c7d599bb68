"""The Pennington-Bahri pipeline: configuration, thresholds from known-answer points, statements
that follow the numbers, the duration model, and a reduced quick reproduction that resumes."""

from __future__ import annotations

import copy
import dataclasses
import json

import numpy as np
import pytest

from hessrmt.cli.main import main
from hessrmt.errors import InputError
from hessrmt.experiments.pennington_bahri import config as C
from hessrmt.experiments.pennington_bahri import runtime, search, summary
from hessrmt.experiments.pennington_bahri import task as T
from hessrmt.experiments.pennington_bahri.conclusions import conclusions


def test_config_key_plan_and_validation():
    a = C.quick_config(0)
    assert a.key() == C.quick_config(0).key() != C.quick_config(1).key()
    assert a.key() == dataclasses.replace(a, bootstrap=7, threads=2).key()  # analysis-only
    assert a.key() == dataclasses.replace(a, starts=9, phis=(0.5,), autoencoder=False).key()
    assert a.key() != dataclasses.replace(a, max_iter=7).key()
    assert a.key() != dataclasses.replace(a, gtol=1.0).key()
    plan = C.planned_searches(a)
    kinds = {k for k, _, _ in plan}
    assert kinds == set(C.KINDS)
    assert sum(k == "critical" for k, _, _ in plan) == len(a.phis) * a.starts
    assert C.weight_decay_of(a, "critical_wd") == a.variant_weight_decay > 0
    assert C.weight_decay_of(a, "minimum") == 0.0
    no_variant = dataclasses.replace(a, variant_weight_decay=0.0)
    assert {k for k, _, _ in C.planned_searches(no_variant)} == {"critical", "minimum"}
    for bad in (dict(phis=(0.5, -1.0)), dict(variant_weight_decay=-1.0), dict(alpha_max=0.0)):
        with pytest.raises(InputError):
            C.validate(C.Config(**bad))


def test_calibration_order_keeps_every_search_once():
    plan = C.planned_searches(C.quick_config(0))
    ordered = runtime.calibration_order(plan, 2)
    assert sorted(ordered) == sorted(plan)
    groups = {(k, p) for k, p, _ in plan}
    assert {(k, p) for k, p, _ in ordered[: 2 * len(groups)]} == groups
    done = [("critical", 0.25, 2.0), ("critical", 0.25, 4.0)]
    assert runtime.estimate_from_records(done, [("critical", 0.25, 5)] * 3) == 9.0
    assert runtime.estimate_from_records(done, [("critical", 0.5, 5)]) is None


def test_duration_model_is_positive_and_grows_with_the_work():
    cfg = dataclasses.replace(C.quick_config(0), min_phis=(0.5,), phis=(0.5,))
    est = runtime.estimate_seconds(cfg)
    assert 0 < est < 3600
    assert runtime.estimate_seconds(dataclasses.replace(cfg, starts=4 * cfg.starts)) > est


@pytest.fixture(scope="module")
def template():
    """One real search record (tiny network), to be copied with chosen energies and indices."""
    cfg = dataclasses.replace(C.quick_config(0), width=3, max_iter=5, stall_window=5)
    task = T.make_task(0.5, width=3)
    return search.run_search(task, cfg, "critical", 0)


def _records(template, law, phis=(0.25, 0.5, 0.75), n=14, rng=None):
    """Records whose index follows alpha = c (eps - eps0(phi))^1.5 with log-normal noise."""
    rng = rng or np.random.default_rng(0)
    out = []
    for phi in phis:
        e0 = law(phi)
        for i, e in enumerate(e0 + np.geomspace(0.01, 0.25, n)):
            a = 0.8 * (e - e0) ** 1.5 * np.exp(0.03 * rng.standard_normal())
            out.append(
                dataclasses.replace(
                    template,
                    phi_target=phi,
                    phi=phi,
                    seed=i,
                    energy=float(e),
                    index=float(a),
                    index_count=1000 + len(out),
                    accepted=True,
                    alpha_theory=float(a),
                    alpha_theory_eff=float(2 * a),
                    alpha_free=float(a),
                )
            )
    return out


def test_thresholds_recover_known_answers_and_the_statements_follow(template):
    cfg = dataclasses.replace(C.quick_config(0), bootstrap=40)
    on_curve = summary.summarize(_records(template, lambda p: (1 - p) ** 2 / 2), cfg)
    ts = on_curve["thresholds"]
    assert [t["phi"] for t in ts] == [0.25, 0.5, 0.75]
    for t in ts:
        assert set(t) >= {"phi", "eps0", "eps0_interval", "predicted", "gamma", "gamma_interval"}
        assert t["predicted"] == pytest.approx((1 - t["phi"]) ** 2 / 2)
        assert t["eps0"] == pytest.approx(t["predicted"], abs=0.005)
        assert t["gamma"] == pytest.approx(1.5, abs=0.1)
        assert t["gamma_interval"][0] <= t["gamma"] <= t["gamma_interval"][1]
        assert t["gamma_p_value"] > 0.01
        assert t["gamma_phi"] == pytest.approx(1.5, abs=0.2)
        assert t["gamma_phi_interval"][0] <= t["gamma_phi"] <= t["gamma_phi_interval"][1]
    text = conclusions(on_curve)
    # 95 % percentile-bootstrap intervals of a nonlinear fit on 14 points per phi under-cover a
    # little: each statement either contains the truth or misses it by under 2 %
    for sentence, t in zip(text["thresholds"], ts):
        assert "interval contains (1 - phi)^2 / 2" in sentence or (
            abs(t["eps0"] / t["predicted"] - 1) < 0.02 and "%" in sentence
        )
    assert any("interval contains (1 - phi)^2 / 2" in s for s in text["thresholds"])
    # the decision follows the bootstrap interval, which under-covers a little on these few
    # points too: not rejected, or an interval that misses the truth by under 2 %
    lo, hi = ts[0]["gamma_interval"]
    assert "1.5 is not rejected" in text["exponent"][-1] or (
        "excludes 1.5" in text["exponent"][-1] and min(abs(lo - 1.5), abs(hi - 1.5)) < 0.03
    )
    # thresholds well above the curve: the statements say so
    above = summary.summarize(_records(template, lambda p: (1 - p) ** 2 / 2 + 0.05), cfg)
    text = conclusions(above)
    assert all("interval lies above (1 - phi)^2 / 2" in s for s in text["thresholds"])
    # an index growing linearly: gamma = 3/2 is rejected
    lin = [
        dataclasses.replace(r, index=r.index ** (1 / 1.5))
        for r in _records(template, lambda p: 0.1)
    ]
    text = conclusions(summary.summarize(lin, cfg))
    assert "1.5 is rejected" in text["exponent"][-1]


def test_yield_per_phi_and_finder_counted_and_stated(template):
    """Per-phi yields and the finder split are counts of the records, and the yield sentence
    quotes them."""
    cfg = dataclasses.replace(C.quick_config(0), bootstrap=0)
    recs = _records(template, lambda p: (1 - p) ** 2 / 2, n=4)
    recs = [
        dataclasses.replace(r, finder="lm+ef" if i % 4 == 0 else "lm", accepted=i % 3 != 1)
        for i, r in enumerate(recs)
    ]
    ser = summary.summarize(recs, cfg)["series"]["critical"]
    for p in ser["per_phi"]:
        rp = [r for r in recs if r.phi_target == p["phi_target"]]
        assert p["n_searches"] == len(rp) == 4
        assert p["n_kept"] == sum(r.accepted for r in rp)
        assert p["yield"] == pytest.approx(p["n_kept"] / 4)
        for f in ("lm", "lm+ef"):
            assert p["n_kept_by_finder"][f] == sum(r.accepted and r.finder == f for r in rp)
    n_ef = sum(r.accepted and r.finder == "lm+ef" for r in recs)
    assert ser["n_kept_by_finder"]["lm+ef"] == n_ef > 0
    sentence = conclusions(summary.summarize(recs, cfg))["yield"][0]
    assert f"{n_ef} of the kept points were reached by eigenvector following" in sentence
    for p in ser["per_phi"]:
        assert f"{p['n_kept']} of 4 at phi = {p['phi']:.3g}" in sentence


def test_statements_change_when_the_numbers_do(template):
    cfg = dataclasses.replace(C.quick_config(0), bootstrap=30)
    s = summary.summarize(_records(template, lambda p: (1 - p) ** 2 / 2), cfg)
    base = conclusions(s)
    # the theory comparison names the closest evaluation from the numbers
    assert "Closest to the measured index: the theory at the raw energy" in base["theory"][0]
    t = copy.deepcopy(s)
    th = t["series"]["critical"]["theory"]
    th["raw_energy"]["median_ratio_measured_to_theory"] = 5.0
    th["free_sum"]["median_ratio_measured_to_theory"] = 1.1
    assert (
        "Closest to the measured index: the theory as the free sum" in conclusions(t)["theory"][0]
    )
    # a threshold below the prediction, and a p-value below the level
    t = copy.deepcopy(s)
    entry = t["series"]["critical"]["thresholds"][0]
    entry.update(eps0=0.1, eps0_interval=[0.05, 0.15], gamma_phi_p_value=1e-4)
    entry.update(gamma_phi_bootstrap_p_value=None)
    c = conclusions(t)
    assert "interval lies below (1 - phi)^2 / 2 = 0.2812" in c["thresholds"][0]
    assert "1.5 is rejected at the 0.05 level (F test p = 0.0001)" in c["exponent"][0]
    # the bootstrap test dual to the interval decides; a disagreeing F test is said
    entry.update(gamma_phi_interval=[0.6, 1.7], gamma_phi_bootstrap_p_value=0.6)
    text = conclusions(t)["exponent"][0]
    assert "contains 1.5" in text and "1.5 is not rejected at the 0.05 level" in text
    assert "F test p = 0.0001, which rejects it" in text
    entry.update(gamma_phi_interval=[0.6, 1.2], gamma_phi_bootstrap_p_value=0.01)
    entry.update(gamma_phi_p_value=0.002)
    text = conclusions(t)["exponent"][0]
    assert "excludes 1.5" in text and "1.5 is rejected at the 0.05 level" in text
    assert "which" not in text
    entry.update(eps0=None, n_points=2, reason="too few")
    assert "no threshold fitted (2 saddles" in conclusions(t)["thresholds"][0]


@pytest.mark.slow
def _interrupted_after(n: int):
    """``run_search`` that raises KeyboardInterrupt from its (n + 1)-th call on; the call count
    is ``calls["n"]`` (set it to change when the interruption comes)."""
    real = search.run_search
    calls = {"n": 0}

    def run_search(*a, **k):
        calls["n"] += 1
        if calls["n"] > n:
            raise KeyboardInterrupt
        return real(*a, **k)

    return run_search, calls


def test_reduced_quick_reproduction_resumes_identically(tmp_path, capsys, monkeypatch):
    args = ["reproduce", "pennington-bahri", "--quick", "--starts", "16", "--variant-starts",
            "8", "--max-iter", "40"]  # fmt: skip
    out = tmp_path / "pb"
    # interrupt after 20 searches: the checkpoints stay, the run folder does not appear
    real = search.run_search
    flaky, _ = _interrupted_after(20)

    from hessrmt.experiments.pennington_bahri import pipeline

    monkeypatch.setattr(pipeline, "run_search", flaky)
    assert main([*args, "--out", str(out)]) == 130  # the CLI's "interrupted; rerun to resume"
    assert "rerun the same command to resume" in capsys.readouterr().err
    assert not out.exists()
    monkeypatch.setattr(pipeline, "run_search", real)
    assert main([*args, "--out", str(out)]) == 0
    assert "critical points kept" in capsys.readouterr().out
    s = json.loads((out / "summary.json").read_text())
    assert s["run"]["resumed_steps"] == 20
    # the same numbers as an uninterrupted run (the autoencoder is not needed for that)
    assert main([*args, "--no-autoencoder", "--out", str(tmp_path / "fresh")]) == 0
    s2 = json.loads((tmp_path / "fresh" / "summary.json").read_text())
    assert s2["critical_points"] == s["critical_points"]
    assert s2["thresholds"] == s["thresholds"]
    # a finished run folder is refused without --overwrite (one line, exit status 2)
    assert main([*args, "--out", str(out)]) == 2
    cfg = s["config"]
    assert s["mode"] == "quick" and s["n_searches"] == len(cfg["phis"]) * cfg["starts"]
    assert len(s["thresholds"]) == 3 and len(s["thresholds_weight_decay"]) == 3
    for t in s["thresholds"]:
        assert t["predicted"] == pytest.approx((1 - t["phi"]) ** 2 / 2)
    for p in s["critical_points"]:
        assert np.isfinite(p["grad_norm"]) and p["energy"] >= 0
        if p["accepted"]:  # a critical point: tiny gradient, tiny Newton step, no zero mode
            assert p["grad_norm"] <= s["accept_gtol"]
            assert p["newton_step"] <= cfg["accept_xtol"] and p["zero_modes"] == 0
            assert 0.0 <= p["index"] <= 1.0 and 0.0 <= p["alpha_free"] <= 1.0
        else:
            assert p["index"] is None
    assert any(p["accepted"] for p in s["critical_points"])
    assert s["max_relative_h_minus_h0_h1"] < 1e-10  # H = H0 + H1 from hessrmt.curvature
    ae = s["autoencoder"]
    assert ae["n_params"] == 640 and ae["phi"] == pytest.approx(640 / (150 * 16))
    assert "stand-in" in ae["source"]
    html = (out / "report.html").read_text()
    assert html.count("data:image/png;base64,") >= 4
    assert "(1 - phi)^2 / 2" in html
    for name in ("densities", "index_vs_energy", "minimiser_energy", "autoencoder"):
        assert (out / "figures" / f"{name}.png").stat().st_size > 1000


def test_runaway_statement_follows_the_minimisers():
    from hessrmt.experiments.pennington_bahri.conclusions import runaway_sentence

    def m(wd, conv, theta, lowest):
        return {
            "weight_decay": wd, "phi_target": 0.5, "n_minimisers": conv, "n_searches": 3,
            "theta_norm_median": theta, "saturated_fraction_median": 0.1,
            "lowest_energy_reached": lowest,
        }  # fmt: skip

    ran_off = runaway_sentence({"minimisers": [m(0.0, 0, 300.0, 0.10), m(1e-3, 3, 8.0, 0.12)]})
    assert "0 of 3 runs converged" in ran_off and "37.5 times" in ran_off
    assert "the infimum is approached at infinity" in ran_off
    tame = runaway_sentence({"minimisers": [m(0.0, 3, 8.0, 0.13), m(1e-3, 3, 8.0, 0.12)]})
    assert "3 of 3 runs converged" in tame and "1 times" in tame
    assert "infinity" not in tame and "at 0 of 1 phi" in tame


def test_threshold_statement_at_the_fit_bound():
    from hessrmt.experiments.pennington_bahri.conclusions import threshold_sentence

    t = {"phi": 0.5, "predicted": 0.125, "eps0": 5e-17, "eps0_interval": [5e-17, 0.2],
         "eps_c_theory": 0.0113}  # fmt: skip
    s = threshold_sentence(t)
    assert "bound 0" in s and "times" not in s
    s = threshold_sentence(t | {"eps0": 0.113})
    assert "bound 0" not in s and "10 times smaller than eps0" in s


def test_more_starts_with_overwrite_reuse_every_search_done(tmp_path, capsys, monkeypatch):
    """An interrupted run rerun with more --starts and --overwrite keeps the searches it did
    (their own settings are unchanged) and gives the records of an uninterrupted run; a finder
    setting (--max-iter) invalidates them all."""
    from hessrmt.experiments.pennington_bahri import pipeline

    base = ["reproduce", "pennington-bahri", "--quick", "--variant-starts", "2", "--max-iter",
            "30", "--no-autoencoder"]  # fmt: skip
    out = tmp_path / "pb"
    real = search.run_search
    counting, calls = _interrupted_after(10)
    monkeypatch.setattr(pipeline, "run_search", counting)
    assert main([*base, "--starts", "3", "--out", str(out)]) == 130
    calls["n"] = -(10**6)  # no more interruptions; count the searches computed
    assert main([*base, "--starts", "4", "--out", str(out)]) == 2  # other settings: refused
    assert main([*base, "--starts", "4", "--out", str(out), "--overwrite"]) == 0
    s = json.loads((out / "summary.json").read_text())
    assert s["run"]["resumed_steps"] == 10
    assert calls["n"] == -(10**6) + s["run"]["computed_steps"]  # only those were searched
    monkeypatch.setattr(pipeline, "run_search", real)
    assert main([*base, "--starts", "4", "--out", str(tmp_path / "fresh")]) == 0
    fresh = json.loads((tmp_path / "fresh" / "summary.json").read_text())
    assert fresh["run"]["computed_steps"] == 10 + s["run"]["computed_steps"]
    assert fresh["critical_points"] == s["critical_points"]
    assert fresh["thresholds"] == s["thresholds"]
    capsys.readouterr()
    # a setting every search reads (interrupted again, then rerun with another --width):
    # nothing is reused
    out2 = tmp_path / "pb2"
    calls["n"] = 5  # five more searches, then interrupted
    monkeypatch.setattr(pipeline, "run_search", counting)
    assert main([*base, "--starts", "2", "--out", str(out2)]) == 130
    monkeypatch.setattr(pipeline, "run_search", real)
    argv = [*base, "--starts", "2", "--out", str(out2), "--overwrite", "--width", "4"]
    assert main(argv) == 0
    assert json.loads((out2 / "summary.json").read_text())["run"]["resumed_steps"] == 0
