"""SLQ at equal W1 against a long-Lanczos reference (bench/hessbench/slq_w1.py): the W1 between
quadrature measures, the free truncation of stored tridiagonals, the reference's resolution, the
equal-W1 comparison, and the task itself on the tiny MLP with hessrmt only."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "bench"))

from hessbench.problems import build_problem  # noqa: E402
from hessbench.report import check_goals, render_task  # noqa: E402
from hessbench.slq_w1 import (  # noqa: E402
    equal_w1,
    goals_slq_w1,
    reference_resolution,
    setting_point,
    task_slq_w1,
    time_to_target,
    truncated_rules,
    w1_between,
)
from hessbench.tasks import Config  # noqa: E402


def test_w1_between_normalises_each_measure_and_ignores_zero_weights():
    # two probes of (nodes, weights), each row summing to 1: masses 1/2 at 0 and at 1
    nodes = np.array([[0.0, 5.0], [1.0, 7.0]])
    weights = np.array([[1.0, 0.0], [1.0, 0.0]])
    assert w1_between(nodes, weights, [0.5], [1.0]) == pytest.approx(0.5)
    assert w1_between(nodes, weights, nodes, weights) == pytest.approx(0.0)
    assert w1_between([0.0], [3.0], [2.0], [0.1]) == pytest.approx(2.0)
    with pytest.raises(ValueError):
        w1_between([np.nan], [1.0], [0.0], [1.0])


def test_truncated_rules_equal_a_shorter_run_with_the_same_probes():
    from hessrmt.curvature import slq

    rng = np.random.default_rng(0)
    A = rng.standard_normal((60, 60))
    A = (A + A.T) / 2
    long = slq(A, 3, 40, rng=7, reorthogonalize=True)
    short = slq(A, 3, 12, rng=7, reorthogonalize=True)
    n, w = truncated_rules(long.alphas, long.betas, long.num_steps_used, 12)
    np.testing.assert_allclose(n[:, :12], short.nodes, atol=1e-9)
    np.testing.assert_allclose(w[:, :12], short.weights, atol=1e-9)
    # a reference whose halves are the same probes has zero halves-W1
    one = {k: getattr(long, k)[:1] for k in ("nodes", "weights", "alphas", "betas")}
    ref = {k: np.vstack([v, v]) for k, v in one.items()} | {"used": np.array([40, 40])}
    res = reference_resolution(ref)
    assert res["halves_w1"] == pytest.approx(0.0, abs=1e-12)
    assert res["half_steps_w1"] > 0


def _pt(p, m, cpu, w1):
    return {"probes": p, "steps": m, "cpu_s": cpu, "wall_s": cpu, "matvecs": p * m, "w1": w1}


def test_equal_w1_target_is_the_loosest_best_and_times_are_at_equal_or_better_w1():
    points = {
        "hessrmt": [_pt(1, 20, 1.0, 0.30), _pt(2, 40, 3.0, 0.10)],
        "pyhessian": [_pt(1, 20, 4.0, 0.50), _pt(2, 40, 12.0, 0.20)],
        "curvlinops": [_pt(1, 20, 2.0, 0.25), _pt(2, 40, 5.0, 0.15)],
    }
    eq = equal_w1(points, resolution=0.05)
    assert eq["target_w1"] == pytest.approx(0.20)  # pyhessian's best
    assert eq["resolved"] is True
    t = eq["tools"]
    assert t["hessrmt"]["setting"] == [2, 40]  # 0.30 > target: its 1x20 does not count
    assert t["curvlinops"]["setting"] == [2, 40]
    assert t["pyhessian"]["base_speedup"] == pytest.approx(4.0)
    assert t["curvlinops"]["base_speedup"] == pytest.approx(5.0 / 3.0)
    assert equal_w1(points, resolution=0.2)["resolved"] is False
    # a second hessrmt row (the Radau rule) gets its own speed-ups over every tool
    points["hessrmt-radau"] = [_pt(1, 20, 1.5, 0.18), _pt(2, 40, 3.0, 0.05)]
    eq2 = equal_w1(points, resolution=0.05)
    assert eq2["target_w1"] == pytest.approx(0.20)
    t2 = eq2["tools"]
    assert t2["hessrmt-radau"]["setting"] == [1, 20]  # 0.18 <= target at the cheaper setting
    assert t2["pyhessian"]["speedup_of"] == {"hessrmt": pytest.approx(4.0), "hessrmt-radau": 8.0}
    assert t2["pyhessian"]["base_speedup"] == pytest.approx(4.0)
    goals = goals_slq_w1({"problem": {"name": "x"}, "equal_w1": {"cpu": eq2}})
    by = {(g["goal"].split(" >=")[0], g["goal"].split("than ")[1].split()[0]): g for g in goals}
    assert by["SLQ", "pyhessian"]["met"] is True and "4.00x" in by["SLQ", "pyhessian"]["measured"]
    r = by["SLQ (Gauss-Radau rule at 0)", "pyhessian"]
    assert r["met"] is True and "8.00x" in r["measured"]
    assert by["SLQ (Gauss-Radau rule at 0)", "curvlinops"]["measured"].startswith("3.33x")
    assert time_to_target(points["pyhessian"], 0.1) is None
    # the fastest qualifying setting, not the first
    assert time_to_target([_pt(2, 40, 3.0, 0.1), _pt(1, 20, 1.0, 0.1)], 0.1)["cpu_s"] == 1.0


def test_task_slq_w1_on_the_tiny_mlp_caches_its_reference_and_renders(tmp_path):
    tiny = build_problem("tiny-mlp", mode="quick")
    cfg = Config(mode="quick", anchors=(), slq_ref=(4, 60), slq_settings=((1, 5), (2, 30)))
    t = task_slq_w1(tiny, cfg, {}, cache_dir=tmp_path)
    assert t["task"] == "slq-w1" and not t["reference"].get("cached")
    h = t["rows"][0]
    assert h["tool"] == "hessrmt" and h["status"] == "ok"
    w1s = [pt["w1"] for pt in h["points"]]
    assert w1s[1] < w1s[0]  # more probes and steps: closer to the reference
    radau = t["rows"][1]
    assert radau["tool"] == "hessrmt-radau" and radau["status"] == "ok"
    assert [pt["matvecs"] for pt in radau["points"]] == [pt["matvecs"] for pt in h["points"]]
    assert [r["status"] for r in t["rows"][2:]] == ["skipped"] * 3
    assert t["equal_w1"]["cpu"]["tools"]["hessrmt"]["setting"] == [2, 30]
    again = task_slq_w1(tiny, cfg, {}, cache_dir=tmp_path)
    assert again["reference"]["cached"]
    assert again["reference"]["halves_w1"] == pytest.approx(t["reference"]["halves_w1"])
    text = render_task(t)
    assert "W1 to reference" in text and "hessrmt speed-up" in text
    assert "hessrmt-radau speed-up" in text
    assert check_goals({"tasks": [t]}) == []  # no anchor rows: no SLQ goal is claimed


def test_setting_point_averages_w1_over_seeds_and_takes_median_times():
    pt = setting_point(1, 30, [(3.0, 3.1, 30, 0.2), (1.0, 1.2, 30, 0.4), (2.0, 2.0, 31, 0.3)])
    assert pt["w1"] == pytest.approx(0.3) and pt["w1_range"] == [0.2, 0.4]
    assert pt["w1_seeds"] == [0.2, 0.4, 0.3]
    assert pt["cpu_s"] == 2.0 and pt["wall_s"] == 2.0 and pt["matvecs"] == 30


def test_task_slq_w1_runs_every_seed_and_scores_by_the_mean(tmp_path):
    tiny = build_problem("tiny-mlp", mode="quick")
    cfg = Config(mode="quick", anchors=(), slq_ref=(4, 60), slq_settings=((1, 5),))
    cfg.slq_w1_seeds = 3
    t = task_slq_w1(tiny, cfg, {}, cache_dir=tmp_path)
    (pt,) = t["rows"][0]["points"]
    assert len(pt["w1_seeds"]) == 3 and len(set(pt["w1_seeds"])) == 3  # different probes
    assert pt["w1"] == pytest.approx(np.mean(pt["w1_seeds"]))
    assert t["settings"]["seeds"] == [0, 1, 2]
    assert "(n=3)" in render_task(t)
