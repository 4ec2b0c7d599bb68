"""The benchmark harness (bench/): the smallest case of every task, with hessrmt and torch only.

The anchors (PyHessian, curvlinops, hessian-eigenthings) live in bench/.anchors-venv; the parts
that need them are skipped when this interpreter cannot import them.
"""

from __future__ import annotations

import math
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "bench"))

from hessbench import anchors as A  # noqa: E402
from hessbench.problems import build_problem, reference_gradient  # noqa: E402
from hessbench.report import check_goals, render  # noqa: E402
from hessbench.tasks import (  # noqa: E402
    Config,
    autograd_hvp,
    exact_spectrum,
    hessrmt_operator,
    task_dense,
    task_hvp,
    task_slq,
    task_topk,
    task_trace,
)
from hessbench.timing import measure, measure_interleaved  # noqa: E402

CFG = Config(
    mode="quick",
    repeats=2,
    repeats_slow=1,
    max_total_s=2.0,
    trace_probes=40,
    slq_probes=4,
    slq_steps=30,
    slq_seeds=3,
    power_max_iter=30,
    anchors=(),
)


@pytest.fixture(scope="module")
def tiny():
    return build_problem("tiny-mlp", mode="quick")


@pytest.fixture(scope="module")
def exact(tiny):
    return exact_spectrum(tiny)


@pytest.fixture(scope="module")
def hvp_result(tiny):
    return task_hvp(tiny, CFG, {})


@pytest.fixture(scope="module")
def slq_result(tiny, exact):
    return task_slq(tiny, CFG, {}, exact)


def test_measure_reports_median_min_max_and_stops_on_budget():
    calls = []
    t, value = measure(lambda: calls.append(1) or len(calls), repeats=5, warmup=2)
    assert value == 7 and len(calls) == 7
    assert t.to_dict()["n"] == 5
    assert t.min <= t.median <= t.max
    t2, _ = measure(lambda: sum(range(10_000)), repeats=50, warmup=0, max_total_s=0.0)
    assert len(t2.samples) == 1


def test_measure_interleaved_is_round_robin_and_isolates_failures():
    order = []

    def boom():
        order.append("c")
        raise ValueError("no")

    fns = {"a": lambda: order.append("a") or 1, "b": lambda: order.append("b") or 2, "c": boom}
    t, values = measure_interleaved(fns, repeats=3, warmup=1)
    assert order == ["a", "b", "c", "a", "b", "a", "b", "a", "b"]
    assert len(t["a"].samples) == len(t["b"].samples) == 3 and not t["c"].samples
    assert values["a"] == 1 and isinstance(values["c"], ValueError)


def test_problem_has_equal_batches_and_the_hessrmt_gradient(tiny):
    sizes = {int(x.shape[0]) for x, _ in tiny.batches}
    assert sizes == {16} and len(tiny.batches) == 2
    assert tiny.num_params == 64 * 8 + 8 + 8 * 10 + 10
    op = hessrmt_operator(tiny)
    g = reference_gradient(tiny)
    assert torch.allclose(op.gradient(), g, rtol=1e-12, atol=1e-14)


def test_exact_reference_is_symmetric_spectrum_with_matching_trace(tiny, exact):
    eigs = exact["eigenvalues"]
    assert eigs.shape == (tiny.num_params,)
    assert exact["trace"] == pytest.approx(float(np.sum(eigs)), rel=1e-10, abs=1e-12)
    assert exact["matrix_vs_autograd_hvp_rel_err"] < 1e-12


def test_hvp_task_hessrmt_matches_autograd(hvp_result):
    res = hvp_result
    rows = {(r["tool"], r["status"]) for r in res["rows"]}
    assert ("hessrmt", "ok") in rows
    anchors = {r["status"] for r in res["rows"] if r["tool"] in ("pyhessian", "curvlinops")}
    assert anchors == {"skipped"}
    h = res["rows"][0]
    assert h["rel_err"] < 1e-12
    plain = next(r for r in res["rows"] if r["tool"] == "torch.autograd")
    assert plain["status"] == "ok" and plain["rel_err"] < 1e-14
    assert h["hvp_over_grad"] > 0 and math.isfinite(h["hvp_over_grad"])
    assert h["time_10"]["n"] >= 1


def test_topk_task_hessrmt_reaches_the_target(tiny, exact):
    res = task_topk(tiny, CFG, {}, exact)
    h = res["rows"][0]
    assert h["status"] == "ok", h
    assert h["max_residual"] <= 1e-5
    assert h["max_eig_err"] <= 1e-6
    assert h["matvecs"] > 0
    top = np.sort(exact["eigenvalues"])[::-1][:10]
    np.testing.assert_allclose(h["eigenvalues"], top, rtol=1e-6, atol=1e-9 * abs(top[0]))


def test_slq_task_density_close_to_exact(slq_result):
    res = slq_result
    h = res["rows"][0]
    assert h["status"] == "ok", h
    assert h["matvecs"] == CFG.slq_probes * CFG.slq_steps
    # W1 of 4 probes x 30 steps on a 610-dimensional spectrum: a few % of its width
    assert 0 <= h["w1_relative"] < 0.05
    # accuracy over independent probe seeds: seed 0's W1 first, distinct values, mean and SE
    w = h["w1_seeds"]
    assert len(w) == CFG.slq_seeds and w[0] == h["w1"]
    assert len(set(w)) == len(w)
    assert h["w1_mean"] == pytest.approx(float(np.mean(w)), rel=1e-12)
    assert h["w1_stderr"] == pytest.approx(float(np.std(w, ddof=1) / np.sqrt(len(w))), rel=1e-12)
    assert res["settings"]["accuracy_seeds"] == CFG.slq_seeds


def _slq_rows(h_mean, h_se, a_mean, a_se):
    def row(tool, mean, se, t):
        return {
            "tool": tool,
            "status": "ok",
            "time": {"median": t, "min": t, "max": t, "n": 1},
            "w1": mean,
            "w1_seeds": [mean] * 5,
            "w1_mean": mean,
            "w1_stderr": se,
        }

    return {
        "task": "slq",
        "problem": {"name": "p"},
        "rows": [row("hessrmt", h_mean, h_se, 1.0), row("pyhessian", a_mean, a_se, 10.0)],
    }


@pytest.mark.parametrize(
    ("h_mean", "h_se", "a_mean", "a_se", "met"),
    [
        (1.0e-3, 1e-5, 1.0e-3, 1e-5, True),  # equal
        (1.09e-3, 1e-6, 1.0e-3, 1e-6, True),  # within 10 %
        (1.3e-3, 1.2e-4, 1.0e-3, 1.2e-4, True),  # 30 % worse, within 2 combined SEs (3.4e-4)
        (1.3e-3, 1e-5, 1.0e-3, 1e-5, False),  # 30 % worse, 21 SEs: a real difference
    ],
)
def test_slq_goal_compares_mean_w1_over_seeds(h_mean, h_se, a_mean, a_se, met):
    goals = check_goals({"tasks": [_slq_rows(h_mean, h_se, a_mean, a_se)]})
    (g,) = [g for g in goals if "pyhessian" in g["goal"]]
    assert g["met"] is met
    assert "mean W1 over 5 seeds" in g["measured"]


def test_trace_task_within_standard_errors(tiny, exact):
    res = task_trace(tiny, CFG, {}, exact)
    hutch = res["rows"][0]
    assert hutch["status"] == "ok", hutch
    assert abs(hutch["estimate"] - exact["trace"]) <= 5 * hutch["stderr"]
    assert hutch["matvecs"] == CFG.trace_probes


@pytest.mark.slow
def test_dense_task_hessrmt_and_torch_func_agree():
    res = task_dense("tiny-mlp", CFG, "cpu", timeout_s=300, tools=("hessrmt", "torch.func"))
    rows = {r["tool"]: r for r in res["rows"]}
    assert rows["hessrmt"]["status"] == "ok", rows["hessrmt"]
    assert rows["torch.func"]["status"] == "ok", rows["torch.func"]
    assert rows["torch.func"]["rel_diff_vs_hessrmt"] < 1e-12
    assert rows["hessrmt"]["peak_rss_mib"] > 0


def test_report_renders_every_task_and_goals(hvp_result, slq_result):
    results = {
        "tasks": [hvp_result, slq_result],
        "references": {},
        "meta": {
            "date_utc": "2026-01-01 00:00",
            "command": "test",
            "mode": "quick",
            "machine": {
                "cpu": "x",
                "cores": 2,
                "torch_threads": 2,
                "platform": "p",
                "device": "cpu",
                "cuda_available": False,
            },
            "versions": {"hessrmt": "0"},
            "anchors_note": "none",
        },
    }
    text = render(results)
    assert "## Hessian-vector products" in text and "## SLQ spectral density" in text
    assert "no GPU on this machine" in text
    goals = check_goals(results)
    assert [g["goal"] for g in goals] == ["HVP / gradient <= 2.5 (hessrmt default; medians)"]


def test_eig_shim_is_eigh_in_the_old_layout_and_is_removed_after():
    d = np.array([2.0, -1.0, 0.5, 3.0])
    e = np.array([0.3, 0.7, -0.2])
    T = torch.as_tensor(np.diag(d) + np.diag(e, 1) + np.diag(e, -1))
    had = hasattr(torch, "eig")
    with A.pyhessian_eig_shim():
        vals, vecs = torch.eig(T, eigenvectors=True)
    assert hasattr(torch, "eig") == had
    assert vals.shape == (4, 2) and torch.all(vals[:, 1] == 0)
    np.testing.assert_allclose(vals[:, 0].numpy(), np.linalg.eigvalsh(T.numpy()), atol=1e-12)
    # quadrature weights: squared first components sum to one, first moment = T[0, 0]
    w = vecs[0, :] ** 2
    assert float(w.sum()) == pytest.approx(1.0, abs=1e-12)
    assert float((w * vals[:, 0]).sum()) == pytest.approx(d[0], abs=1e-12)


def test_anchor_hvps_match_autograd(tiny):
    avail = A.available_anchors()
    if all(v is not None for v in avail.values()):
        pytest.skip("anchors not installed in this interpreter (bench/.anchors-venv has them)")
    v = torch.randn(
        tiny.num_params, generator=torch.Generator().manual_seed(1), dtype=torch.float64
    )
    ref = autograd_hvp(tiny, v)
    if avail["pyhessian"] is None:
        h, counter = A.pyhessian_setup(tiny)
        out = A.pyhessian_hvp(h, tiny, v)
        assert counter.count == 1
        assert torch.allclose(out, ref, rtol=1e-10, atol=1e-13)
    if avail["curvlinops"] is None:
        op, counter = A.curvlinops_setup(tiny)
        c0 = counter.count
        assert torch.allclose(op @ v, ref, rtol=1e-10, atol=1e-13)
        assert counter.count - c0 == 1
    if avail["eigenthings"] is None:
        op, counter = A.eigenthings_setup(tiny)
        assert torch.allclose(op.matvec(v), ref, rtol=1e-10, atol=1e-13)
        assert counter.count == 1


@pytest.mark.parametrize(("reached", "met"), [(False, True), (True, False)])
def test_power_iteration_goal_is_decided_by_the_5x_budget_run(reached, met):
    def row(tool, mv, **kw):
        return {"tool": tool, "status": "ok", "matvecs": mv, "max_residual": 0.5, **kw}

    t = {
        "task": "topk",
        "problem": {"name": "p"},
        "rows": [
            row("hessrmt", 100),
            row("pyhessian", 300, reached_target=False),  # its own rule: stops early, wrong
            row("pyhessian", 500, reached_target=reached, budget_of_5x=True),
        ],
    }
    (g,) = [g for g in check_goals({"tasks": [t]}) if "power iteration" in g["goal"]]
    assert g["met"] is met
    assert "500 vs 100" in g["measured"]


def _rmt_task(name: str, **extra):
    return {
        "task": "rmt",
        "problem": {"name": name},
        "settings": {"command": f"python {name}"},
        "status": "ok",
        "seconds": 1.0,
        "stdout": "out",
        "rows": [],
        **extra,
    }


def _meta(date: str, load: list[float]):
    machine = {
        "cpu": "x",
        "cores": 2,
        "torch_threads": 2,
        "platform": "p",
        "device": "cpu",
        "cuda_available": False,
        "load_average_start": load,
        "load_average_end": load,
    }
    return {
        "date_utc": date,
        "command": "test",
        "mode": "quick",
        "machine": machine,
        "versions": {"hessrmt": "0"},
        "anchors_note": "none",
    }


def test_merge_keeps_the_run_each_task_was_measured_in(tmp_path):
    """A task merged twice still names the run that measured it, not the run merged last."""
    import json

    import run as bench_run

    older = {"tasks": [_rmt_task("a.py")], "references": {}, "meta": _meta("D1", [0.1, 0, 0])}
    (tmp_path / "older.json").write_text(json.dumps(older))
    # the middle run measured b.py and merged a.py from D1
    middle = {"tasks": [_rmt_task("b.py")], "references": {}, "meta": _meta("D2", [0.2, 0, 0])}
    (tmp_path / "middle.json").write_text(json.dumps(middle))
    out1 = tmp_path / "o1"
    argv = ["--render", str(tmp_path / "middle.json"), "--merge", str(tmp_path / "older.json")]
    assert bench_run.main([*argv, "--no-docs", "--out-dir", str(out1)]) == 0
    (mid_merged,) = list(out1.glob("*.json"))
    newest = {"tasks": [_rmt_task("c.py")], "references": {}, "meta": _meta("D3", [0.3, 0, 0])}
    (tmp_path / "newest.json").write_text(json.dumps(newest))
    out2 = tmp_path / "o2"
    argv = ["--render", str(tmp_path / "newest.json"), "--merge", str(mid_merged)]
    assert bench_run.main([*argv, "--no-docs", "--out-dir", str(out2)]) == 0
    (final,) = list(out2.glob("*.json"))
    res = json.loads(final.read_text())
    origin = {t["problem"]["name"]: t.get("from_run") for t in res["tasks"]}
    assert origin == {"a.py": "D1", "b.py": "D2", "c.py": None}
    runs = res["meta"]["merged_from"]["runs"]
    assert runs["D1"] == {"tasks": ["rmt on a.py"], "load_average": [[0.1, 0, 0], [0.1, 0, 0]]}
    assert runs["D2"]["tasks"] == ["rmt on b.py"]
    text = render(res)
    assert "come from the earlier run of D1" in text and "come from the earlier run of D2" in text


@pytest.mark.slow
def test_arch_problems_build_and_hvp_task_runs():
    """The arch suite's problems (issue 18) at tiny sizes: shapes, and the HVP task's hessrmt
    product against plain autograd."""
    import run as bench_run

    for name, n_params in (("cifar-resnet20", 272474), ("digits-transformer", 18026)):
        p = build_problem(name, mode="quick", sizes=(1, 4))
        assert p.num_params == n_params and p.num_data == 4 and p.dtype == torch.float32
    assert set(bench_run.ARCH_PLAN["quick"]["hvp"]) == {
        "cifar-resnet20",
        "digits-transformer",
        "cifar-resnet18",
    }
    from hessbench.problems import resnet18_cifar

    assert sum(q.numel() for q in resnet18_cifar().parameters()) == 11173962
    from hessbench.problems import attention_kernels

    p = build_problem("digits-transformer", mode="quick", sizes=(2, 4))
    with attention_kernels(p):  # as bench/run.py runs every task on it
        res = task_hvp(p, CFG, {})
    (row,) = [r for r in res["rows"] if r["tool"] == "hessrmt"]
    assert row["status"] == "ok" and row["rel_err"] < 1e-5


def test_arch_docs_section_is_kept_and_replaced(tmp_path):
    import run as bench_run

    js = tmp_path / "r.json"
    js.write_text("{}")
    docs = tmp_path / "docs"
    bench_run.write_docs(docs, "# Title\n\n## A\nold default\n", js, "default")
    bench_run.write_docs(docs, "# T\n\n## B\narch one\n", js, "arch")
    bench_run.write_docs(docs, "# Title\n\n## A\nnew default\n", js, "default")
    text = (docs / "benchmarks.md").read_text()
    assert "new default" in text and "old default" not in text
    assert "### B\narch one" in text and text.count(bench_run.ARCH_HEADING.strip()) == 1
    bench_run.write_docs(docs, "# T\n\n## B\narch two\n", js, "arch")
    text = (docs / "benchmarks.md").read_text()
    assert "arch two" in text and "arch one" not in text and "new default" in text


def test_sizes_option_parses_and_refuses_bad_items():
    """``--sizes NAME=BxS`` overrides a problem's batches and batch size; bad items stop the run
    with a message naming the item."""
    import run as bench_run

    assert bench_run.parse_sizes("") == {}
    assert bench_run.parse_sizes("cifar-resnet20=2x32, digits-mlp=1x8") == {
        "cifar-resnet20": (2, 32),
        "digits-mlp": (1, 8),
    }
    for bad in ("cifar-resnet20=2", "=2x3", "a=0x8", "a=2xb"):
        with pytest.raises(SystemExit, match="--sizes"):
            bench_run.parse_sizes(bad)
    p = build_problem("tiny-mlp", mode="quick", sizes=(1, 4))
    assert p.describe()["num_batches"] == 1 and p.describe()["batch_size"] == 4
