"""``hessrmt reproduce gan``: a reduced quick mode end to end (sections, report, CLI line)."""

from __future__ import annotations

import dataclasses
import json

import pytest

from hessrmt.errors import InputError
from hessrmt.experiments.gan import pipeline


def _tiny() -> pipeline.GanConfig:
    return dataclasses.replace(
        pipeline.quick_config(0), n=40, n_samples=6, n_null=5, logdet_sizes=(20, 40),
        logdet_samples=6, logdet_x=(-4.0, 1.5), x_points=40, x1_points=3, u_points=20,
        sigma_grid=(1e-3, 1.0, 100.0), kappa_grid=(0.3, 0.7), max_index=1,
        gan_repetitions=2, gan_epochs=1, gan_images=256, gan_features=8,
    )  # fmt: skip


def test_reduced_quick_run(tmp_path) -> None:
    out = tmp_path / "run"
    s = pipeline.run(_tiny(), out, progress=False)
    on_disk = json.loads((out / "summary.json").read_text())
    for key in ("density_checks", "logdet_checks", "thresholds", "sweeps", "gan_runs"):
        assert key in s and key in on_disk
    assert len(s["density_checks"]) == 4
    g = on_disk["gan_runs"]
    assert g["status"] == "run" and len(g["runs"]) == (3 + 2) * 2
    assert all(r["steps"] == 2 and r["min_loss_d"] <= r["final_loss_d"] for r in g["runs"])
    assert len(g["correlations"]) == 4
    assert len(on_disk["sweeps"]["sigma_z"]["p=5,q=5"]["theta_D"]) == 3
    assert len(on_disk["thresholds"]["bands"]) == 4
    for d in on_disk["density_checks"].values():
        assert d["moments"]["n"] == 40 and 0 < d["ks"]["pvalue"] <= 1
    html = (out / "report.html").read_text()
    assert "GAN experiment" in html and "Spearman" in html
    with pytest.raises(InputError, match="overwrite"):
        pipeline.run(_tiny(), out, progress=False)


def test_rank_correlation_rejects_and_accepts_known_answers() -> None:
    """A monotone loss-threshold relation gives rho = 1 with an interval above 0; an
    anti-monotone one rho = -1 below 0; pure noise an interval containing 0."""
    import numpy as np

    from hessrmt.experiments.gan.dcgan import rank_correlation

    rng = np.random.default_rng(0)
    theta = np.linspace(-3, -1, 8)
    up = theta[:, None] + 0.01 * rng.standard_normal((8, 5))
    c = rank_correlation(theta, up, rng, n_boot=300)
    assert c["rho"] == 1.0 and c["low"] > 0
    c = rank_correlation(theta, -up, rng, n_boot=300)
    assert c["rho"] == -1.0 and c["high"] < 0
    noise = rng.standard_normal((8, 5))
    c = rank_correlation(theta, noise, rng, n_boot=300)
    assert c["low"] < 0 < c["high"]
    assert rank_correlation(np.ones(8), up, rng)["rho"] is None


def test_cli_bad_input_is_one_line(tmp_path, capsys) -> None:
    from hessrmt.cli.main import main

    rc = main(["reproduce", "gan", "--quick", "--out", str(tmp_path / "r"),
               "--data-root", str(tmp_path / "missing")])  # fmt: skip
    err = capsys.readouterr().err.strip()
    assert rc == 2 and err.startswith("hessrmt: error:") and "\n" not in err
    assert not (tmp_path / "r").exists()
    rc = main(["reproduce", "gan", "--quick", "--seed", "-1"])
    assert rc == 2


@pytest.mark.slow
def test_interrupted_run_resumes_with_identical_numbers(tmp_path, monkeypatch) -> None:
    """A run that fails in the sweeps part leaves its finished parts checkpointed; the rerun
    resumes them and gives the same summary numbers as an uninterrupted run."""
    cfg = _tiny()
    real_sweeps = pipeline._sweeps

    def boom(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(pipeline, "_sweeps", boom)
    with pytest.raises(KeyboardInterrupt):
        pipeline.run(cfg, tmp_path / "a", progress=False)
    assert not (tmp_path / "a").exists()
    monkeypatch.setattr(pipeline, "_sweeps", real_sweeps)
    logs: list[str] = []
    resumed = pipeline.run(cfg, tmp_path / "a", progress=False, log=logs.append)
    assert any("density_checks: resumed" in m for m in logs)
    fresh = pipeline.run(cfg, tmp_path / "b", progress=False)
    for key in ("density_checks", "logdet_checks", "thresholds"):
        assert json.dumps(resumed[key], sort_keys=True) == json.dumps(fresh[key], sort_keys=True)


def test_rank_correlation_resamples_the_shared_seeds_together() -> None:
    """Losses = trend(setting) + offset(seed) + small noise, the seed offsets shared by every
    setting (as in the pipeline) and larger than the trend steps. The paired bootstrap keeps
    the offsets' cancellation: a real trend's interval lies above 0 and contains rho; with no
    trend, the ranks come from the small noise and the interval contains 0. (Resampling each
    setting's repetitions independently mixed the offsets into the means: the trend's
    interval then fell below the estimate.)"""
    import numpy as np

    from hessrmt.experiments.gan.dcgan import rank_correlation

    rng = np.random.default_rng(1)
    theta = np.linspace(-4.0, -3.0, 30)
    for seed in range(4):
        r = np.random.default_rng(seed)
        offsets = 0.5 * r.standard_normal(5)  # one per repetition (seed), shared by settings
        trend = 0.02 * np.arange(30)
        losses = trend[:, None] + offsets[None, :] + 0.005 * r.standard_normal((30, 5))
        c = rank_correlation(theta, losses, rng, n_boot=400)
        assert c["low"] <= c["rho"] <= c["high"] and c["low"] > 0.8, c
        flat = offsets[None, :] + 0.005 * r.standard_normal((30, 5))
        c = rank_correlation(theta, flat, rng, n_boot=400)
        assert c["low"] < 0 < c["high"], c


def test_step_settings_cover_every_field_the_steps_read() -> None:
    from tests.experiments.step_reads import assert_declared_settings_match

    assert_declared_settings_match(pipeline, "cfg")


@pytest.mark.slow
def test_overwrite_with_more_repetitions_recomputes_only_the_gan_runs(tmp_path, monkeypatch):
    from tests.experiments.step_reads import run_interrupted_at

    out = tmp_path / "run"
    run_interrupted_at(
        monkeypatch, pipeline, "_gan_runs", lambda: pipeline.run(_tiny(), out, progress=False)
    )
    more = dataclasses.replace(_tiny(), gan_repetitions=3)
    steps: list[str] = []
    s = pipeline.run(more, out, progress=False, overwrite=True, log=steps.append)
    resumed = sorted(m.split(":")[0] for m in steps if "resumed from checkpoint" in m)
    assert resumed == ["density_checks", "logdet_checks", "sweeps", "thresholds"]
    fresh = pipeline.run(more, tmp_path / "fresh", progress=False)
    for key in ("density_checks", "logdet_checks", "thresholds", "sweeps", "gan_runs"):
        assert s[key] == fresh[key], key
