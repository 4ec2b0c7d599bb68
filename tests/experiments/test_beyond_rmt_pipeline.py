"""``hessrmt reproduce beyond-rmt`` on a reduced quick configuration: summary sections, report
sentences computed from the run, run-folder behaviour (refusal without --overwrite, checkpoints
resumed), CLI registration."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from hessrmt.errors import InputError
from hessrmt.experiments.beyond_rmt.pipeline import BeyondConfig, run_beyond_rmt

TINY = BeyondConfig(
    law_n=200,
    law_n_sim=10,
    product_n=120,
    percolated_n=300,
    percolated_degrees=(2.0,),
    percolated_samples=2,
    law_degrees=(2.0,),
    networks=((6, 6, 3, 4),),
    fit_networks=((6, 10, 3, 30),),
    n_boot=5,
    cavity_population=300,
    cnns=("vgg-small-bn",),
    cnn_width=1,
    cnn_samples=80,
    cnn_epochs=1,
    lanczos_steps=20,
    lanczos_probes=3,
    lanczos_repeats=2,
    families=("semicircle", "marchenko-pastur", "wigner-wishart-product"),
    law_wishart=((0.5, 2.0),),
    wishart_atom_p=200,
    wishart_atom_cases=((1.0, 2.0),),
)


def test_reduced_quick_run(tmp_path: Path) -> None:
    out = tmp_path / "run"
    summary = run_beyond_rmt(out, progress=False, config=TINY)
    data = json.loads((out / "summary.json").read_text())
    for key in ("laws", "fits", "atoms", "verdict"):
        assert key in data
    assert {r["law"] for r in data["laws"]} >= {"wishart-product", "wigner-wishart-product"}
    assert all(r["exact_match"] for r in data["atoms"]["products"])
    net = data["atoms"]["networks"][0]
    assert net["gauss_newton_zero_fraction"] == pytest.approx(net["gauss_newton_bound"])
    assert set(data["verdict"]) == {"mlp-d6-h10-C3-b30", "vgg-small-bn-w1-digits"}
    assert data["fits"]["vgg-small-bn-w1-digits"]["network"]["batchnorm_mode"] == "train"
    report = (out / "report.md").read_text()
    for name, verdict in data["verdict"].items():
        assert verdict["best"] == data["fits"][name]["best"]
        assert verdict["sentence"] in report and name in report
        assert f"{verdict['best_w1']:.3g}" in verdict["sentence"]
    vgg = data["fits"]["vgg-small-bn-w1-digits"]
    assert {"family_atom", "moments"} <= set(vgg)
    assert vgg["network"]["lanczos"]["steps"] == 20
    assert "Single-probe Lanczos" in data["verdict"]["vgg-small-bn-w1-digits"]["sentence"]
    assert "## Layered critical points" in report
    lay = data["fits"]["mlp-d6-h10-C3-b30"]["layered"]
    assert set(lay["laws"]) == {f["family"] for f in data["fits"]["mlp-d6-h10-C3-b30"]["families"]}
    for res in data["fits"].values():
        best = res["families"][0]
        assert best["params"]["zero_mass"] == best["atom_at_zero"]
        assert abs(best["atom_at_zero"] - res["zero_fraction"]) < 0.05
    # the percolated Wishart law and its atom (exact ranks by maximum matching)
    wl = [r for r in data["laws"] if r["law"].startswith("percolated-wishart")]
    assert len(wl) == 1 and wl[0]["setup"] == {"p": 200, "n": 400, "c": 2.0}
    (wa,) = data["atoms"]["percolated_wishart"]
    assert wa["threshold_zero_fraction"] >= wa["zero_fraction"] - 1e-12
    assert abs(wa["large_matching_zero_fraction"] - wa["predicted"]) < 0.01
    assert f"{wa['zero_fraction']:.4f} +- {wa['se']:.4f}" in report
    assert summary["computed_steps"] == ["laws", "atoms_ensemble", "atoms_network", "fits"]
    with pytest.raises(InputError, match="overwrite"):
        run_beyond_rmt(out, progress=False, config=TINY)


def test_registered_in_reproduce() -> None:
    from hessrmt.cli.reproduce import EXPERIMENTS

    assert "beyond-rmt" in EXPERIMENTS


def test_verdict_at_the_bootstrap_floor_says_so() -> None:
    """A best family whose bootstrap p is the floor 1/(B + 1): the verdict says it is rejected at
    the resolution of B replicates and prints "p <= ..."; above the floor it prints "p = ..."."""
    from hessrmt.experiments.beyond_rmt.pipeline import _verdict

    def fits(p: float) -> dict:
        fam = {"family": "free-sum", "w1": 0.1, "ks": 0.2, "pvalue": p, "n_boot": 50,
               "pvalue_floor": 1 / 51, "pvalue_at_floor": p <= 1 / 51, "atom_at_zero": 0.0,
               "params": {"zero_mass": 0.0}}  # fmt: skip
        sc = {**fam, "family": "semicircle", "w1": 0.2, "pvalue_at_floor": True}
        return {"net": {"families": [fam, sc]}}

    v = _verdict(fits(1 / 51))["net"]
    assert v["best_rejected"] and v["best_pvalue_at_floor"]
    assert "rejected at the resolution of 50 replicates" in v["sentence"]
    assert "p <= 0.0196" in v["sentence"]
    v = _verdict(fits(0.03))["net"]
    assert v["best_rejected"] and not v["best_pvalue_at_floor"]
    assert "p = 0.03" in v["sentence"] and "resolution" not in v["sentence"]


def test_step_settings_cover_every_field_the_steps_read() -> None:
    from hessrmt.experiments.beyond_rmt import pipeline
    from tests.experiments.step_reads import function_reads

    for step, names in pipeline.STEP_SETTINGS.items():
        assert function_reads(pipeline, "cfg", f"_{step}_step") == set(names), step


@pytest.mark.slow
def test_overwrite_with_more_replicates_recomputes_only_the_fits(tmp_path, monkeypatch) -> None:
    import dataclasses

    from hessrmt.experiments.beyond_rmt import pipeline
    from tests.experiments.step_reads import run_interrupted_at

    out = tmp_path / "run"
    cfg = dataclasses.replace(TINY, cnns=())
    run_interrupted_at(
        monkeypatch, pipeline, "_fits_step", lambda: run_beyond_rmt(out, progress=False, config=cfg)
    )
    more = dataclasses.replace(cfg, n_boot=6)
    s = run_beyond_rmt(out, progress=False, config=more, overwrite=True)
    assert sorted(s["resumed_steps"]) == ["atoms_ensemble", "atoms_network", "laws"]
    assert s["computed_steps"] == ["fits"]
    fresh = run_beyond_rmt(tmp_path / "fresh", progress=False, config=more)
    for key in ("laws", "atoms", "fits"):
        assert s[key] == fresh[key], key
