"""bench/subblock_agreement.py: the comparison code runs (controls fast, the --quick study slow)."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "bench"))

import subblock_agreement as SA  # noqa: E402


def test_goe_control_agrees_and_renders() -> None:
    res = SA.study_control("goe", 600, sizes=(300,), count=1, seed=0)
    full = res["full"]
    block = res["random"]["300"]["blocks"][0]
    assert full["verdict"] == "GOE" and block["verdict"] == "GOE"
    assert block["size"] == 300 and block["lambda_max"] <= full["lambda_max"]  # interlacing
    ag = res["random"]["300"]["agreement"]
    assert ag["same_verdict"] == 1 and ag["ratio_interval_overlaps"] == 1
    md = SA.to_markdown([res])
    assert "### goe (P = 600)" in md and "| full spectrum | 600 |" in md
    assert "1 of 1 blocks share the full verdict (GOE)" in md


@pytest.mark.slow
def test_quick_study_runs(tmp_path: Path) -> None:
    assert SA.main(["--quick", "--out", str(tmp_path / "a")]) == 0
    results = json.loads((tmp_path / "a.json").read_text())
    assert [r["label"] for r in results] == ["mlp-tiny", "goe", "rotated-poisson"]
    mlp = results[0]
    assert mlp["product_vs_dense_max_abs_diff"] < 1e-12
    assert [b["name"] for b in mlp["layers"]] == ["1", "3", "5"]
    assert "### mlp-tiny" in (tmp_path / "a.md").read_text()
