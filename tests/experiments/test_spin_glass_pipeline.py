"""``hessrmt reproduce spin-glass`` end to end in a reduced quick mode (a few seconds)."""

from __future__ import annotations

import dataclasses
import json

import pytest

from hessrmt.cli.main import main
from hessrmt.experiments.spin_glass import pipeline

TINY = dict(
    table_ps=(3, 4), kmax=2, curve_ps=(3,), finite_ns=(10, 20), finite_samples=60,
    law_specs=("semicircle", "uniform"), activations=("relu", "sigmoid"), pieces=(2, None),
    descent_ns=(8, 12), descent_p4_ns=(6,), disorder=2, starts=3, max_steps=150,
    net_activations=("relu", "pwl-gelu-4"), widths=(2, 3), runs=2, n_samples=40, train_steps=15,
)  # fmt: skip


_QUICK = pipeline.quick_config


def _tiny(seed: int = 0) -> pipeline.SpinGlassConfig:
    return dataclasses.replace(_QUICK(seed), **TINY)


@pytest.fixture
def tiny_quick(monkeypatch):
    monkeypatch.setattr(pipeline, "quick_config", _tiny)


@pytest.mark.slow
def test_reduced_quick_run_via_cli(tiny_quick, tmp_path, capsys):
    out = tmp_path / "run"
    assert main(["reproduce", "spin-glass", "--quick", "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    assert "3-spin N = 8" in printed and "within 0.02 of -E_inf" in printed
    s = json.loads((out / "summary.json").read_text())
    for key in ("abc", "laws", "activations", "pspin_descent", "networks"):
        assert key in s
    assert s["abc"]["E_table"]["3"]["E"][0] == pytest.approx(1.65700, abs=1e-5)
    assert [r["N"] for r in s["pspin_descent"]["per_N"]] == [8, 12]
    for r in s["pspin_descent"]["per_N"]:
        for key in ("below_minus_E0", "within_band_of_minus_E_inf"):
            assert set(r[key]) == {"fraction", "stderr", "n"} and r[key]["n"] == 6
    assert s["pspin_descent"]["other_p"][0]["p"] == 4
    laws = {r["law"]: r for r in s["laws"]["laws"]}
    assert laws["semicircle"]["abc"]["verdict"] == "unchanged"
    assert laws["uniform"]["abc"]["verdict"] == "survives, shifted"
    acts = {(r["activation"], r["pieces"]): r for r in s["activations"]["rows"]}
    assert acts[("relu", 2)]["theta"] == 0.0 and acts[("sigmoid", "smooth")]["supercritical"]
    assert len(s["networks"]["rows"]) == 4
    assert (out / "report.html").stat().st_size > 10_000
    assert (out / "figures" / "pspin_descent.png").exists()
    # a finished folder is refused without --overwrite (one line, exit 2)
    assert main(["reproduce", "spin-glass", "--quick", "--out", str(out)]) == 2
    assert "--overwrite" in capsys.readouterr().err


@pytest.mark.slow
def test_same_seed_same_numbers(tmp_path):
    cfg = dataclasses.replace(_tiny(3), net_activations=("tanh",), widths=(2,), runs=1,
                              law_specs=("semicircle",), descent_ns=(8,),
                              descent_p4_ns=())  # fmt: skip
    a = pipeline.run(cfg, tmp_path / "a", log=None)
    b = pipeline.run(cfg, tmp_path / "b", log=None)
    for key in ("abc", "pspin_descent", "networks"):
        assert a[key] == b[key]


def test_bad_settings(tmp_path):
    with pytest.raises(Exception, match="seed"):
        pipeline.run(dataclasses.replace(_tiny(), seed=-1), tmp_path / "x", log=None)
    with pytest.raises(Exception, match="not usable"):
        pipeline.validate(dataclasses.replace(_tiny(), descent_ns=(2000,)))
    with pytest.raises(Exception, match="not usable"):
        pipeline.validate(dataclasses.replace(_tiny(), descent_p4_ns=(200,)))


def test_step_settings_cover_every_field_the_steps_read() -> None:
    from tests.experiments.step_reads import assert_declared_settings_match

    assert_declared_settings_match(pipeline, "config")


@pytest.mark.slow
def test_overwrite_with_more_network_runs_recomputes_only_the_networks(tmp_path, monkeypatch):
    cfg = dataclasses.replace(_tiny(1), net_activations=("tanh",), widths=(2,), runs=2,
                              law_specs=("semicircle",), descent_ns=(8,),
                              descent_p4_ns=())  # fmt: skip
    from tests.experiments.step_reads import run_interrupted_at

    out = tmp_path / "run"
    run_interrupted_at(monkeypatch, pipeline, "_networks", lambda: pipeline.run(cfg, out, log=None))
    more = dataclasses.replace(cfg, runs=3)
    s = pipeline.run(more, out, log=None, overwrite=True)
    assert sorted(s["resumed_steps"]) == ["abc", "activations", "laws", "pspin_descent"]
    fresh = pipeline.run(more, tmp_path / "fresh", log=None)
    for key in ("abc", "laws", "activations", "pspin_descent", "networks"):
        assert s[key] == fresh[key], key
