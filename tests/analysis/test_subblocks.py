"""Sub-block local statistics in analyze: mode rule, per-block records, agreement, report table,
and (slow) analyze above a low dense threshold with per-layer tables, resumed block by block."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from hessrmt.analysis.subblocks import (
    Z95,
    agreement_counts,
    block_record,
    resolve_mode,
    summary_sentence,
)
from hessrmt.errors import InputError

INFO = {"name": "L", "size": 0, "n_total": 0, "subsampled": False, "parameters": [], "how": "x"}


def goe_eigs(n: int, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    A = rng.standard_normal((n, n))
    return np.linalg.eigvalsh((A + A.T) / 2)


def test_mode_rule() -> None:
    assert resolve_mode("auto", "dense")[0] == "none"
    mode, why = resolve_mode("auto", "lanczos")
    assert mode == "layers" and "not computed densely" in why
    assert resolve_mode("random", "dense") == ("random", "random requested")
    with pytest.raises(InputError, match="--subblocks"):
        resolve_mode("all", "dense")


def test_block_record_goe_and_poisson() -> None:
    rec = block_record(goe_eigs(400, 0), {**INFO, "size": 400}, dtype="float64", seed=0)
    assert rec["verdict"] == "GOE"
    lo, hi = rec["mean_ratio_interval"]
    assert lo < 0.5307 < hi
    assert hi - lo == pytest.approx(2 * Z95 * rec["mean_ratio_se"])
    assert rec["rejects"]["Poisson"] and rec["rejects"]["GOE"] == []
    assert rec["n_outliers"] == 0 and rec["bulk_edges"][1] <= rec["lambda_max"]
    poi = np.sort(np.random.default_rng(1).uniform(0, 1, 400))
    rec = block_record(poi, {**INFO, "size": 400}, dtype="float64", seed=0)
    assert rec["verdict"] == "Poisson" and rec["rejects"]["GOE"]


def test_block_record_small_or_degenerate_block() -> None:
    rec = block_record(np.arange(5.0), {**INFO, "size": 5}, dtype="float64", seed=0)
    assert rec["verdict"] is None and "at least" in rec["skipped"]
    assert rec["lambda_max"] == 4.0 and rec["mean_ratio_interval"] is None
    rec = block_record(np.zeros(50), {**INFO, "size": 50}, dtype="float64", seed=0)
    assert rec["verdict"] is None and rec["skipped"]


def _rec(verdict: str | None, mr: float, se: float = 0.01) -> dict:
    return {
        "name": "b", "size": 100, "verdict": verdict, "mean_ratio": mr, "mean_ratio_se": se,
        "mean_ratio_interval": [mr - Z95 * se, mr + Z95 * se],
    }  # fmt: skip


def test_agreement_counts_and_sentence_follow_the_numbers() -> None:
    blocks = [_rec("GOE", 0.53), _rec("GOE", 0.50), _rec("Poisson", 0.39), _rec(None, 0.0)]
    full = {"verdict": "GOE", "mean_ratio": 0.531, "mean_ratio_se": 0.005}
    ag = agreement_counts(blocks, full)
    assert ag["n_with_statistics"] == 3 and ag["same_verdict"] == 2
    assert ag["ratio_interval_overlaps"] == 1 and ag["verdicts"] == {"GOE": 2, "Poisson": 1}
    section = {"mode": "layers", "blocks": blocks, "agreement": ag}
    text = summary_sentence(section)
    assert "4 principal sub-blocks" in text and "1 Poisson" in text and "2 GOE" in text
    assert "2 of 3 share the full spectrum's verdict (GOE)" in text
    ag2 = agreement_counts(blocks, {**full, "verdict": "Poisson", "mean_ratio": 0.39})
    text2 = summary_sentence({**section, "agreement": ag2})
    assert "1 of 3 share the full spectrum's verdict (Poisson)" in text2
    assert agreement_counts(blocks, None)["full_spectrum"] is None
    assert "No principal sub-blocks" in summary_sentence({"blocks": [], "reason": "none requested"})


def test_report_rows_and_cli_table() -> None:
    from hessrmt.cli.analyze import format_subblock_table
    from hessrmt.report.subblock_table import subblock_rows, subblock_section

    good = block_record(goe_eigs(200, 2), {**INFO, "size": 200, "n_total": 900,
                        "subsampled": True}, dtype="float64", seed=0)  # fmt: skip
    small = block_record(np.arange(4.0), {**INFO, "name": "bn", "size": 4}, dtype="float64", seed=0)
    section = {"mode": "layers", "reason": "r", "blocks": [good, small]}
    section["sentence"] = summary_sentence(section)
    rows = subblock_rows(section)
    assert rows[0][1] == "200 of 900 (subsample)" and rows[0][-1] == good["verdict"]
    assert rows[0][5].startswith(f"{good['mean_ratio']:.4f} [")
    assert rows[1][-1].startswith("not computed")
    assert subblock_section({"subblocks": section}) is not None
    assert subblock_section({}) is None
    text = format_subblock_table(section)
    assert "200" in text and "skipped" in text and section["sentence"] in text


@pytest.mark.slow
def test_analyze_above_dense_threshold_writes_per_layer_tables(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The zoo mlp on wine (P = 1,543) with the dense threshold set to 500: the Lanczos path
    (extremes, SLQ, batch extremes) and per-layer sub-blocks; an interruption inside the
    sub-block steps resumes block by block."""
    import hessrmt.analysis.subblocks as SB
    from hessrmt.analysis import AnalysisConfig, analyze

    cfg = AnalysisConfig(
        model="mlp", data="wine", n_samples=60, epochs=1, batch_hessians=1, batch_size=16,
        slq_probes=2, slq_steps=10, lanczos_k=3, lanczos_restarts=2, max_dense_params=500,
        subblock_size=60, progress=False, out=str(tmp_path / "run"),
    )  # fmt: skip
    original = SB.block_step
    calls: list[int] = []

    def crash_third(op, s):  # type: ignore[no-untyped-def]
        calls.append(1)
        if len(calls) == 3:
            raise RuntimeError("simulated crash")
        return original(op, s)

    with monkeypatch.context() as m:
        m.setattr(SB, "block_step", crash_third)
        with pytest.raises(RuntimeError, match="simulated"):
            analyze(cfg)
    partial = tmp_path / ".run.partial"
    assert {"subblock_000.json", "subblock_001.json"} <= {p.name for p in partial.iterdir()}
    res = analyze(cfg)
    s = json.loads((tmp_path / "run" / "summary.json").read_text())
    assert s["method"] == "lanczos" and "exceeds the dense limit" in s["method_reason"]
    sub = s["subblocks"]
    assert sub["mode"] == "layers" and "not computed densely" in sub["reason"]
    names = [b["name"] for b in sub["blocks"]]
    assert names == ["1", "3", "5"]  # Linear(13, 10), Linear(10, 100), Linear(100, 3)
    assert [(b["size"], b["n_total"]) for b in sub["blocks"]] == [(60, 140), (60, 1100), (60, 303)]
    assert all(b["subsampled"] and "seed 0" in b["how"] for b in sub["blocks"])
    done = [b for b in sub["blocks"] if b["verdict"] is not None]
    assert done and all(len(b["mean_ratio_interval"]) == 2 for b in done)
    assert res.spectra["batch"].shape == (1, 6)  # batch extremes by Lanczos
    assert s["memory"]["peak_rss_mib"] > 0 and s["memory"]["largest_subblock_mib"] > 0
    html = (tmp_path / "run" / "report.html").read_text()
    assert "Per-layer local statistics" in html and sub["sentence"] in html
    with np.load(tmp_path / "run" / "subblocks.npz") as z:
        assert z["000_1"].size == 60 and np.all(z["002_5_indices"] >= 1543 - 303)


def test_cli_options_reach_the_config(capsys: pytest.CaptureFixture[str]) -> None:
    from hessrmt.cli.analyze import config_from_args
    from hessrmt.cli.main import build_parser, main

    args = build_parser().parse_args(
        ["analyze", "--subblocks", "random", "--subblock-size", "300", "--subblock-count", "2",
         "--max-dense-params", "500", "--lanczos-restarts", "7"]
    )  # fmt: skip
    cfg = config_from_args(args)
    assert (cfg.subblocks, cfg.subblock_size, cfg.subblock_count) == ("random", 300, 2)
    assert cfg.max_dense_params == 500 and cfg.lanczos_restarts == 7
    assert cfg.fingerprint() != cfg.replace(subblock_size=301).fingerprint()
    assert main(["analyze", "--subblock-size", "0"]) == 2
    err = capsys.readouterr().err
    assert "subblock_size" in err and "Traceback" not in err
