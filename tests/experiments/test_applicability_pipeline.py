"""The quick reproduction end to end (``hessrmt reproduce applicability --quick``): summary sanity,
GP toy GOE within its SE, rank check, hardness oracle, report, resume and CLI errors."""

from __future__ import annotations

import contextlib
import io
import itertools
import json
import time

import numpy as np
import pytest

from hessrmt.errors import InputError
from hessrmt.experiments.applicability.pipeline import SUMMARY_SECTIONS, run_applicability

GOE, POISSON = 0.5307, 2 * np.log(2) - 1


class Killed(RuntimeError):
    pass


@pytest.fixture(scope="module")
def quick(tmp_path_factory):
    """The quick run, interrupted in its last network and then resumed (the run's checkpoints)."""
    from hessrmt.experiments.applicability import networks

    out = tmp_path_factory.mktemp("appl") / "run"
    real = networks.compute_model_spectra

    def dies_on_the_last(spec, **kw):
        if spec.key == "regression-mlp":
            raise Killed("simulated kill")
        return real(spec, **kw)

    t = time.perf_counter()
    with pytest.MonkeyPatch.context() as m:
        m.setattr(networks, "compute_model_spectra", dies_on_the_last)
        with pytest.raises(Killed):
            run_applicability(out, quick=True, seed=0, threads=1, progress=False)
    assert not out.exists()
    # the resumed run is the command itself, ``hessrmt reproduce applicability --quick`` with its
    # default threads (1 in quick mode), as a user runs it; its log lines go to stderr
    from hessrmt.cli.main import main

    err = io.StringIO()
    with contextlib.redirect_stderr(err):
        rc = main(["reproduce", "applicability", "--quick", "--out", str(out)])
    assert rc == 0
    prefix = "[applicability] "
    log = [
        line.split(prefix, 1)[1]
        for line in err.getvalue().replace("\r", "\n").splitlines()
        if prefix in line
    ]
    summary = json.loads((out / "summary.json").read_text())
    return out, summary, time.perf_counter() - t, log


@pytest.mark.slow
def test_summary_sections_and_files(quick) -> None:
    out, summary, *_ = quick
    on_disk = json.loads((out / "summary.json").read_text())
    for sec in SUMMARY_SECTIONS:
        assert sec in on_disk
    assert set(on_disk["models"]) == {"logreg", "mlp", "regression-mlp"}
    text = (out / "report.html").read_text()
    assert "Comparison with the paper" in text and "Rank check" in text
    assert "MNIST logistic, train, batches" in text  # the paper's figure row next to ours
    assert text.count("data:image/png;base64,") >= 7
    assert summary["config"]["quick"] is True and summary["config"]["seed"] == 0
    assert summary["config"]["threads"] == 1  # the quick default (QUICK_DEFAULT_THREADS)


@pytest.mark.slow
def test_hardness_section(quick) -> None:
    h = quick[1]["hardness"]
    for name, ref in (("loss", (0.9432, 0.7611, -0.0458)), ("error", (0.2330, 0.1673, -0.0406))):
        got = [h[name][p]["value"] for p in ("a", "b", "c")]
        np.testing.assert_allclose(got, ref, rtol=1e-3)
        lo, hi = h[name]["c"]["bootstrap"]
        assert lo < h[name]["c"]["value"] < hi


@pytest.mark.slow
def test_gp_toy_goe_within_se(quick) -> None:
    cfgs = quick[1]["gp_toy"]["configs"]
    assert cfgs["plain"]["n"] == 300 and cfgs["plain"]["kp"] == 3.0 and cfgs["plain"]["kpp"] == 6.0
    for name in ("plain", "degenerate+outliers"):
        c = cfgs[name]
        assert abs(c["mean_ratio"] - GOE) < 4 * c["mean_ratio_se"], (name, c)
        assert c["mean_ratio"] - POISSON > 10 * c["mean_ratio_se"]
    assert cfgs["degenerate+outliers"]["n_zero_removed"] == 100 * cfgs["plain"]["size"]
    assert sum(k.startswith("sweep_") for k in cfgs) == 12


@pytest.mark.slow
def test_rank_check(quick) -> None:
    rc = quick[1]["rank_check"]
    at3 = rc["synthetic_AT3"]
    assert (at3["n_params"], at3["expected_rank"]) == (2010, 576)
    assert at3["float64_above_1e-10"] == 576  # AT-3: exact count in float64
    assert at3["float32_above_1e-10"] >= 2000  # float32 round-off passes the paper's cut
    checks = rc["models"]["logreg"]
    for key in ("trained/hessian/batch", "untrained/hessian/batch"):
        assert checks[key]["all_equal"] is True
        assert all(n <= 576 for n in checks[key]["nonzero_per_batch"])
        assert "min(P, (C - 1) b) = 576" in checks[key]["statement"]


@pytest.mark.slow
def test_model_variants_sane(quick) -> None:
    models = quick[1]["models"]
    for key, m in models.items():
        assert m["n_params"] > 0
        for vkey, v in m["variants"].items():
            assert v["n_spectra"] >= 1, (key, vkey)
            r = v["relative_cut"]["mean_ratio"]
            assert 0.3 < r < 0.7, (key, vkey, r)
            fr = v["degeneracy"]["fraction"]
            assert all(0 <= a <= b <= 1 for a, b in itertools.pairwise(fr))
        # float64 has exact or 1e-15-relative zeros where float32 has round-off
        lr = models["logreg"]["variants"]
        assert (
            lr["trained/hessian/batch/float32"]["paper_method"]["n_ratios"]
            > (lr["trained/hessian/batch/float64"]["paper_method"]["n_ratios"])
        )
    trained = models["logreg"]["training"]["trained"]
    assert trained["train_accuracy"] > 0.5
    rows = quick[1]["comparison"]
    assert {r["verdict"] for r in rows} <= {
        "GOE", "GUE", "GSE", "Poisson", "intermediate", "inconclusive", "n/a"
    }  # fmt: skip
    assert any(r["paper_row"] == "MNIST logistic, train, batches" for r in rows)


@pytest.mark.slow
def test_gradient_decorrelation(quick) -> None:
    g = quick[1]["gradient_decorrelation"]
    c = np.asarray(g["corr_full"])
    assert c[0] == pytest.approx(1.0, abs=1e-9)
    assert c[1] > 0.99 and c[-1] < 0.5  # decorrelates with distance
    assert g["gp_length_scale"] > 0 and g["half_correlation_distance"] is not None


@pytest.mark.slow
def test_resume_and_config_guard(quick) -> None:
    out, _, _, log = quick
    # the interrupted run's parts came from the checkpoints; only the last network was computed
    for name in ("hardness_loss", "gp_toy", "decorrelation", "model_logreg", "model_mlp"):
        assert f"{name}: resumed from checkpoint" in log
    assert any(m.startswith("model_regression-mlp: done in") for m in log)
    parts = {p.name for p in (out / "parts").iterdir()}
    assert {"gp_toy.json", "model_logreg.npz"} <= parts
    assert all(n.endswith((".json", ".npz")) for n in parts), parts  # results only
    assert not (out.parent / f".{out.name}.partial").exists()
    # a finished run folder is refused (other settings or not) unless --overwrite
    for seed in (0, 1):
        with pytest.raises(InputError, match="--overwrite"):
            run_applicability(out, quick=True, seed=seed, progress=False)
    assert json.loads((out / "summary.json").read_text())["config"]["seed"] == 0


def test_cli_errors(tmp_path, capsys) -> None:
    from hessrmt.cli.main import main

    rc = main(
        [
            "reproduce",
            "applicability",
            "--quick",
            "--out",
            str(tmp_path / "o"),
            "--data-root",
            str(tmp_path / "missing"),
            "--no-progress",
        ]
    )
    assert rc == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "data-root" in err[0]
    rc = main(["reproduce", "applicability", "--out", str(tmp_path / "o2"), "--seed", "-1"])
    assert rc == 2


def test_reduced_run_selects_caps_and_says_so() -> None:
    from hessrmt.experiments.applicability.pipeline import RunConfig, selected_specs
    from hessrmt.experiments.applicability.report import reduced_run_sentence
    from hessrmt.experiments.applicability.specs import PAPER_MODELS

    full = RunConfig.create(quick=False)
    assert [s.key for s in selected_specs(full)] == [s.key for s in PAPER_MODELS]
    assert [s.max_batches for s in selected_specs(full)] == [s.max_batches for s in PAPER_MODELS]
    assert reduced_run_sentence({"quick": False, "models": list(full.models)}) == ""
    cfg = RunConfig.create(quick=False, models=("mlp", "logreg"), max_batches=4)
    specs = selected_specs(cfg)
    # the preset's order, not the order asked for; caps only lower the preset's counts
    assert [s.key for s in specs] == ["logreg", "mlp"]
    assert [s.max_batches for s in specs] == [4, 4]
    assert cfg.max_batches == 4 and cfg.models == ("logreg", "mlp")
    text = reduced_run_sentence({"quick": False, "models": ["logreg"], "max_batches": 4})
    assert "at most 4 batch Hessians" in text and "deep-mlp" in text and "Reduced run" in text
    small = RunConfig.create(quick=False, models=("deep-mlp",), max_batches=100)
    assert [s.max_batches for s in selected_specs(small)] == [3]
    for bad in ({"models": ("resnet",)}, {"models": ()}, {"max_batches": 0}):
        with pytest.raises(InputError):
            RunConfig.create(quick=False, **bad)


def test_cli_reduced_run_errors(tmp_path, capsys) -> None:
    from hessrmt.cli.main import main

    for extra in (["--models", "logreg,nope"], ["--max-batches", "0"]):
        rc = main(["reproduce", "applicability", "--out", str(tmp_path / "o"), *extra])
        assert rc == 2
        err = capsys.readouterr().err.strip().splitlines()
        assert len(err) == 1 and extra[0] in err[0]
    assert not (tmp_path / "o").exists()
