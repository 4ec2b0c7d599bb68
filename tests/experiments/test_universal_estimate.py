"""The full-run estimate of hessrmt reproduce universal: the cost model on known units, and the
CLI and docs/reproductions/universal.md stating the same estimate."""

import argparse
import dataclasses
from pathlib import Path

import pytest

from hessrmt.experiments.universal import estimate
from hessrmt.experiments.universal.networks import NetworkSpec
from hessrmt.experiments.universal.pipeline import UniversalConfig

UNITS = {
    "synthetic_draw_ref_n": 1000,
    "synthetic_draw": {"goe": 2.0, "wishart": 3.0},
    "network_fixed": {"a": 10.0},
    "network_per_batch": {"a": 0.5},
    "network_per_size": {"a": 1.5},
    "damping_setup": 4.0,
    "damping_per_step": 0.25,
}


def test_cost_model_on_known_units():
    cfg = UniversalConfig(
        synthetic_sizes=(500, 1000),
        synthetic_reps=4,
        networks=(NetworkSpec("a", "mlp:4"), NetworkSpec("b", "mlp:8")),
        batch_sizes=(8, 16, 32),
        n_batches=2,
        damping_seeds=3,
        damping_steps=5,
    )
    est = estimate.estimate_cpu_seconds(cfg, UNITS)
    scale = 4 * (0.5**3 + 1.0)
    assert est["steps"]["synthetic_goe"] == pytest.approx(scale * 2.0)
    assert est["steps"]["synthetic_wishart"] == pytest.approx(scale * 3.0)
    assert est["steps"]["network_a"] == pytest.approx(10.0 + 3 * (1.5 + 2 * 0.5))
    assert est["steps"]["damped_newton"] == pytest.approx(3 * (4.0 + 2 * 5 * 0.25))
    assert est["not_included"] == ["b"] and "network_b" not in est["steps"]
    assert est["total"] == pytest.approx(sum(est["steps"].values()))
    more = dataclasses.replace(cfg, n_batches=4)
    assert estimate.estimate_cpu_seconds(more, UNITS)["total"] > est["total"]


def test_range_factor():
    assert estimate.range_factor({"measured_cpu_seconds": 1, "predicted_cpu_seconds": 1}) == 1.5
    f = estimate.range_factor({"measured_cpu_seconds": 1, "predicted_cpu_seconds": 2})
    assert f == pytest.approx(2.0 + estimate.RUN_VARIATION)
    # the recorded prediction is the model's for the quick settings, and the model predicts the
    # measured quick run within its own range
    c = estimate.QUICK_CHECK
    quick = estimate.estimate_cpu_seconds(UniversalConfig.create(quick=True))
    assert quick["total"] == pytest.approx(c["predicted_cpu_seconds"], rel=1e-3)
    f = estimate.range_factor()
    assert c["predicted_cpu_seconds"] / f <= c["measured_cpu_seconds"]
    assert c["measured_cpu_seconds"] <= c["predicted_cpu_seconds"] * f


def test_cli_and_docs_state_the_same_estimate(monkeypatch, capsys):
    from hessrmt.experiments.universal import cli, pipeline

    full = UniversalConfig.create(quick=False)
    text = estimate.estimate_text(full)
    assert "not including" not in text  # every default network is calibrated
    assert " min (range " in text
    assert " s (range " in estimate.estimate_text(UniversalConfig.create(quick=True))
    five_k = UniversalConfig.create(quick=True, mnist5k=True)
    assert "not including the networks mlp8-mnist5k" in estimate.estimate_text(five_k)
    doc = Path(__file__).parents[2] / "docs" / "reproductions" / "universal.md"
    assert text in " ".join(doc.read_text().split())
    seen = {}

    def fake_run(out, **kw):
        seen.update(kw)
        return {"noise_scale": {}}

    monkeypatch.setattr(pipeline, "run_universal", fake_run)
    args = argparse.Namespace(
        quick=False,
        seed=0,
        data_root=None,
        mnist5k=False,
        out=None,
        threads=None,
        no_progress=True,
        overwrite=False,
    )
    assert cli.run_from_args(args) == 0
    assert f"universal: full mode, {text}\n" in capsys.readouterr().err
    assert seen["config"] == full
