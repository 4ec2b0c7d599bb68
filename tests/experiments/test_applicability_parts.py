"""Each part of the applicability reproduction is keyed by the settings it reads: an
``--overwrite`` rerun that changes only the statistics' bootstrap keeps the spectra and the other
parts, and gives the statistics of an uninterrupted run with the new settings."""

from __future__ import annotations

import json
from dataclasses import replace

import pytest

from hessrmt.experiments.applicability import pipeline
from hessrmt.experiments.applicability.parts import step_settings_of
from hessrmt.experiments.applicability.pipeline import RunConfig, run_applicability, selected_specs

PARTS = ("hardness_loss", "hardness_error", "gp_toy", "decorrelation", "rank_check_at3")


def keys(cfg: RunConfig) -> dict[str, object]:
    own = step_settings_of(cfg, selected_specs(cfg))
    names = [*PARTS] + [f"{p}_{s.key}" for s in selected_specs(cfg) for p in ("model", "stats")]
    return {n: json.dumps(own(n), sort_keys=True) for n in names}


def changed(a: RunConfig, b: RunConfig) -> set[str]:
    ka, kb = keys(a), keys(b)
    return {n for n in ka if ka[n] != kb[n]}


def test_each_setting_changes_exactly_the_parts_that_read_it() -> None:
    base = RunConfig.create(quick=True)
    models = {f"{p}_{k}" for k in base.models for p in ("model", "stats")}
    stats = {f"stats_{k}" for k in base.models}
    assert changed(base, replace(base, n_boot=7)) == stats
    assert changed(base, replace(base, n_null=7)) == stats
    assert changed(base, replace(base, hardness_boot=7)) == {"hardness_loss", "hardness_error"}
    assert changed(base, replace(base, gp_size=7)) == {"gp_toy"}
    assert changed(base, replace(base, decorrelation_epochs=7)) == {"decorrelation"}
    assert changed(base, replace(base, max_batches=2)) == models  # the specs as run change
    assert changed(base, replace(base, data_root="/elsewhere")) == models
    assert changed(base, replace(base, seed=1)) == set(keys(base))
    assert step_settings_of(base, selected_specs(base))("report") is None  # unknown: everything


@pytest.mark.slow
def test_overwrite_with_another_bootstrap_recomputes_only_the_statistics(
    tmp_path, monkeypatch
) -> None:
    from tests.experiments.step_reads import run_interrupted_at

    kw = dict(quick=True, threads=1, progress=False, report=False, models=("logreg",),
              max_batches=2)  # fmt: skip
    out = tmp_path / "run"
    run_interrupted_at(
        monkeypatch, pipeline, "comparison_rows", lambda: run_applicability(out, **kw)
    )
    create = RunConfig.create
    monkeypatch.setattr(
        RunConfig, "create", classmethod(lambda cls, **k: replace(create(**k), n_boot=7))
    )
    lines: list[str] = []
    summary = run_applicability(out, overwrite=True, log=lines.append, **kw)
    resumed = {m.split(":")[0] for m in lines if m.endswith("resumed from checkpoint")}
    computed = {m.split(":")[0] for m in lines if ": done in" in m}
    assert computed == {"stats_logreg"}
    assert resumed == {*PARTS, "model_logreg"}
    assert summary["config"]["n_boot"] == 7
    fresh = run_applicability(tmp_path / "fresh", **kw)
    assert summary["models"] == fresh["models"]
    assert summary["comparison"] == fresh["comparison"]
