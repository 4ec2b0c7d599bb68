"""hessrmt reproduce universal: a reduced run end to end, resume, and report sentences that follow
the numbers."""

import copy
import dataclasses
import json

import numpy as np
import pytest

from hessrmt.experiments.universal.networks import (
    NetworkSpec,
    fit_noise_scale,
    fpc_scale,
    ipr_ratio,
    mean_reduced_ratio,
)
from hessrmt.experiments.universal.pipeline import UniversalConfig, run_universal
from hessrmt.experiments.universal.report import conclusions

TINY = UniversalConfig(
    quick=True,
    synthetic_sizes=(120, 240),
    synthetic_reps=3,
    networks=(NetworkSpec("tiny", "mlp:4", epochs=5, lr=0.1, n_samples=400),),
    batch_sizes=(16, 32, 64),
    n_batches=2,
    damping_seeds=2,
    damping_steps=2,
)


def test_noise_scale_fit_recovers_laws():
    n = 1000
    b = np.array([8, 16, 32, 64, 128, 256])
    fit = fit_noise_scale(b, 0.7 * b**-0.5, n)
    assert fit["alpha"] == pytest.approx(0.5, abs=1e-10)
    assert fit["power_rms_log_residual"] < 1e-10
    fit = fit_noise_scale(b, 0.7 * fpc_scale(b, n), n)
    assert fit["fpc_c"] == pytest.approx(0.7, rel=1e-10)
    assert fit["fpc_rms_log_residual"] < 1e-10
    assert fit["power_rms_log_residual"] > 1e-4


def test_delocalisation_and_ratio_references():
    rng = np.random.default_rng(0)
    m = rng.standard_normal((300, 300))
    _, vec = np.linalg.eigh((m + m.T) / 2)
    assert ipr_ratio(vec).mean() == pytest.approx(1.0, abs=0.05)  # GOE eigenvectors
    assert ipr_ratio(np.eye(300)).mean() > 50  # localised
    ev = np.linalg.eigvalsh((m + m.T) / 2)
    assert mean_reduced_ratio(ev) == pytest.approx(0.5307, abs=0.03)
    assert mean_reduced_ratio(np.sort(rng.uniform(size=600))) == pytest.approx(0.386, abs=0.03)


@pytest.mark.slow
def test_reduced_run_end_to_end(tmp_path):
    out = tmp_path / "run"
    s = run_universal(out, config=TINY, progress=False)
    doc = json.loads((out / "summary.json").read_text())
    for section in (
        "noise_scale",
        "delocalisation",
        "outliers",
        "overlaps",
        "damping",
        "synthetic",
    ):
        assert section in doc
    rows = doc["noise_scale"]["tiny"]["rows"]
    assert [r["b"] for r in rows] == [16, 32, 64]
    # every estimate carries an interval / standard error
    assert all(r["s_se"] is not None and r["s_se"] >= 0 for r in rows)
    # the noise shrinks with the batch size
    assert rows[0]["s"] > rows[-1]["s"]
    assert (out / "report.html").read_text().count("<li>") == len(conclusions(s))
    # every computed step is timed, next to the calibrated model's prediction for it
    steps = ["synthetic_goe", "synthetic_wishart", "network_tiny", "damped_newton"]
    assert sorted(doc["step_timings"]) == sorted(steps)
    assert all(t["cpu_seconds"] > 0 for t in doc["step_timings"].values())
    assert doc["cpu_estimate"]["not_included"] == ["tiny"]
    # same settings, finished folder: refused; overwrite reruns to the same numbers
    with pytest.raises(Exception, match="overwrite"):
        run_universal(out, config=TINY, progress=False)
    s2 = run_universal(out, config=TINY, progress=False, overwrite=True)
    assert s2["noise_scale"] == s["noise_scale"]


def _fake_summary():
    syn = {
        "reps": 5,
        "predicted_outliers": [4.25, 2.9],
        "predicted_overlaps": [0.94, 0.84],
        "predicted_quadratic": [[0.2, 0.1], [0.3, 0.2]],
        "sizes": [
            {
                "n": 500,
                "top": [4.3, 2.95],
                "top_se": [0.02, 0.02],
                "overlap": [0.93, 0.83],
                "overlap_se": [0.01, 0.01],
                "quadratic": [[0.2, 0.1], [0.3, 0.2]],
                "quadratic_se": [[0.01, 0.01], [0.01, 0.01]],
                "outlier_error": [0.05, 0.05],
            },
            {
                "n": 2000,
                "top": [4.26, 2.91],
                "top_se": [0.01, 0.01],
                "overlap": [0.94, 0.84],
                "overlap_se": [0.01, 0.01],
                "quadratic": [[0.2, 0.1], [0.3, 0.2]],
                "quadratic_se": [[0.01, 0.01], [0.01, 0.01]],
                "outlier_error": [0.01, 0.01],
            },
        ],
    }
    net_rows = [
        {"b": 16.0, "theta": [2.0], "predicted": [2.2], "measured": [2.25], "measured_se": [0.05]}
    ]
    return {
        "synthetic": {"goe": syn},
        "noise_scale": {
            "n": {
                "rows": [],
                "fit": {
                    "alpha": 0.5,
                    "alpha_interval": [0.45, 0.55],
                    "power_rms_log_residual": 0.05,
                    "fpc_rms_log_residual": 0.01,
                },
            }
        },
        "delocalisation": {
            "n": {"rows": [{"ipr_over_goe": 1.1, "mean_ratio": 0.53, "mean_ratio_se": 0.01}]}
        },
        "outliers": {"n": {"rows": net_rows}},
        "damping": {
            "local_law": {
                "n": {
                    "rows": [
                        {"measured": [[0.2]], "predicted": [[0.21]], "naive": [[0.3]]},
                    ]
                }
            },
            "training": {
                "final_difference": [-0.1, 0.01],
                "target_effective_damping": 0.1,
                "local_law_delta": [0.2, 0.0],
                "seeds": 3,
            },
        },
    }


def test_conclusions_follow_the_numbers():
    base = _fake_summary()
    text = " ".join(conclusions(base))
    assert "agree with the subordination predictions" in text
    assert "shrank" in text
    assert "consistent with 1/sqrt(b)" in text
    assert "finite-population law fits better" in text
    assert "delocalised like GOE" in text
    assert "consistent with GOE's 0.5307" in text
    assert "within 3 standard errors at b = [16]" in text
    assert "closer to the measured values" in text
    assert "lower final loss with local-law damping" in text

    bad = copy.deepcopy(base)
    bad["synthetic"]["goe"]["sizes"][1]["top"] = [5.0, 2.91]
    bad["synthetic"]["goe"]["sizes"][1]["outlier_error"] = [0.9, 0.01]
    bad["noise_scale"]["n"]["fit"].update(alpha=0.8, alpha_interval=[0.7, 0.9])
    bad["noise_scale"]["n"]["fit"]["fpc_rms_log_residual"] = 0.2
    bad["delocalisation"]["n"]["rows"][0].update(ipr_over_goe=20.0, ipr_over_goe_se=0.5, b=16)
    bad["delocalisation"]["n"]["rows"][0]["mean_ratio"] = 0.45
    bad["outliers"]["n"]["rows"][0]["measured"] = [4.0]
    bad["damping"]["local_law"]["n"]["rows"][0]["predicted"] = [[0.5]]
    bad["damping"]["training"]["final_difference"] = [0.001, 0.01]
    text = " ".join(conclusions(bad))
    assert "disagree with the subordination predictions" in text
    assert "did not shrink" in text
    assert "not consistent with 1/sqrt(b)" in text
    assert "free power law fits better" in text
    assert "far more localised than GOE" in text
    assert "up to 20.00 +- 0.50 x GOE's, at b = 16" in text  # the run's number, and where
    assert "differs from GOE's 0.5307 by up to 8.1 standard errors" in text
    assert "disagree at b = [16]" in text
    assert "no closer to" in text
    assert "no significant difference" in text


def test_single_damping_seed_reports_no_interval():
    """damping_seeds = 1: the standard error is None in the summary; the report prints the value
    with "no interval (1 seed)" and claims no significance (it used to crash formatting None)."""
    from hessrmt.experiments.universal.damping import run_damped_newton
    from hessrmt.experiments.universal.report import training_sentences
    from hessrmt.io import to_jsonable

    t = to_jsonable(run_damped_newton(seeds=1, steps=1, n_noise_batches=2))
    d, se = t["final_difference"]
    assert se is None and t["local_law_delta"][1] is None
    (sentence,) = training_sentences(t)
    assert f"{d:.4g}, no interval (1 seed)" in sentence
    assert "significant" not in sentence.replace("no significance", "")
    two = copy.deepcopy(t)
    two.update(final_difference=[d, abs(d) / 10 + 1e-9], seeds=2)
    assert "over 2 seeds" in training_sentences(two)[0]
    assert "no interval" not in training_sentences(two)[0]
    summary = _fake_summary()
    summary["damping"]["training"].update(
        final_difference=[0.01, None], local_law_delta=[0.2, None], seeds=1
    )
    assert "no interval (1 seed)" in " ".join(conclusions(summary))


def test_matrix_free_damping_sentences_report_residuals_and_refusals():
    from hessrmt.experiments.universal.report import render_report

    s = _fake_summary()
    row = {
        "b": 16,
        "delta": [0.5, 1.0],
        "effective_delta": [0.6, 1.1],
        "measured": [[0.2, 0.1]],
        "measured_se": [[0.01, 0.01]],
        "predicted": [[0.21, 0.1]],
        "naive": [[0.3, 0.2]],
        "max_residual": [3e-11, 2e-12],
        "converged": [True, True],
    }
    s["damping"]["local_law"]["n"]["rows"] = [row]
    text = " ".join(conclusions(s))
    assert "largest true relative residual 3.0e-11; 2 of 2 deltas converged." in text
    assert "closer to the measured values" in text and "refused" not in text
    # the first delta did not converge: refused (None), the comparison uses the second only
    refused = copy.deepcopy(s)
    r = refused["damping"]["local_law"]["n"]["rows"][0]
    r.update(measured=[[None, 0.1]], max_residual=[1e-3, 2e-12], converged=[False, True])
    r["naive"] = [[0.2, 0.1]]  # naive exact where the solve converged
    text = " ".join(conclusions(refused))
    assert "1 of 2 deltas converged, refused (not converged): 0.5 (b = 16)." in text
    assert "no closer to the measured values" in text
    r.update(measured=[[None, None]], converged=[False, False])
    assert "no converged quadratic forms" in " ".join(conclusions(refused))
    refused.update(paper="p", config={}, overlaps={"n": {"rows": []}})
    assert "max_residual" in render_report(refused)


def test_damped_newton_minres_steps_match_dense_solves():
    """Above dense_max_params the damped-Newton steps are solved by MINRES with products only:
    the loss curves equal the dense solves' (P = 650, float64), and the report says so."""
    from hessrmt.experiments.universal.damping import run_damped_newton
    from hessrmt.experiments.universal.report import training_sentences
    from hessrmt.io import to_jsonable

    kw = dict(seeds=1, steps=2, n_noise_batches=2)
    dense = run_damped_newton(**kw)
    mf = run_damped_newton(**kw, dense_max_params=100)
    assert dense["solver"] == {"method": "dense"}
    assert mf["solver"]["method"] == "minres" and mf["solver"]["steps"] == 4
    assert mf["solver"]["unconverged_steps"] == 0 and mf["solver"]["max_residual"] < 1e-9
    for arm in ("naive", "local_law"):
        np.testing.assert_allclose(mf[arm]["loss_mean"], dense[arm]["loss_mean"], rtol=1e-8)
    assert mf["naive"]["loss_mean"][-1] < mf["naive"]["loss_mean"][0]  # the steps do descend
    text = " ".join(training_sentences(to_jsonable(mf)))
    assert "solved matrix-free by MINRES (P = 650 > dense_max_params = 100)" in text
    assert "0 of 4 solves above 10 x 1e-10" in text
    assert "MINRES" not in " ".join(training_sentences(to_jsonable(dense)))


@pytest.mark.slow
def test_overwrite_with_other_damping_reuses_synthetic_and_network_steps(tmp_path, monkeypatch):
    """An interrupted run (every step but the last done) rerun with more damping seeds and
    --overwrite recomputes only the damping step, and gives the numbers of an uninterrupted
    run; other synthetic sizes recompute only the synthetic steps."""
    from hessrmt.experiments.universal import damping
    from tests.experiments.step_reads import run_interrupted_at

    out = tmp_path / "run"
    run_interrupted_at(
        monkeypatch, damping, "run_damped_newton",
        lambda: run_universal(out, config=TINY, progress=False),
    )  # fmt: skip
    more = dataclasses.replace(TINY, damping_seeds=3)
    s = run_universal(out, config=more, progress=False, overwrite=True)
    assert sorted(s["resumed_steps"]) == ["network_tiny", "synthetic_goe", "synthetic_wishart"]
    assert sorted(s["step_timings"]) == ["damped_newton"]
    fresh = run_universal(tmp_path / "fresh", config=more, progress=False)
    for key in ("noise_scale", "delocalisation", "outliers", "synthetic", "damping"):
        assert s[key] == fresh[key], key
    # synthetic sizes are read by the synthetic steps alone
    assert TINY.step_settings("network_tiny") == more.step_settings("network_tiny")
    other = dataclasses.replace(more, synthetic_sizes=(100, 200))
    assert other.step_settings("synthetic_goe") != more.step_settings("synthetic_goe")
    assert other.step_settings("network_tiny") == more.step_settings("network_tiny")
    assert other.step_settings("damped_newton") == more.step_settings("damped_newton")
    assert dataclasses.replace(more, seed=1).step_settings("damped_newton") != more.step_settings(
        "damped_newton"
    )
