"""Tiny spectra (issue 19): the counts printed equal the levels used, and a statistic skipped
for too few levels says how many there are, where the rest went, and what to do."""

from __future__ import annotations

import json

import numpy as np
import pytest

from hessrmt.errors import InputError
from hessrmt.rmt.summary import summarize_spectrum


def _goe_levels(n: int, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    a = rng.normal(size=(n, n))
    return np.linalg.eigvalsh((a + a.T) / 2)


def _positive_case() -> tuple[np.ndarray, np.ndarray]:
    """37 exact zeros, 23 GOE levels moved to [~13, ~27], two far outliers."""
    bulk = _goe_levels(23, 0) + 20
    return np.concatenate([np.zeros(37), bulk, [150.0, 180.0]]), bulk


def _mean_ratio(levels: np.ndarray) -> float:
    s = np.diff(np.sort(levels))
    return float(np.mean(np.minimum(s[:-1], s[1:]) / np.maximum(s[:-1], s[1:])))


def test_counts_are_the_levels_used_and_the_verdict_says_why() -> None:
    eigs, bulk = _positive_case()
    s = summarize_spectrum(eigs, n_null=20, n_boot=0)
    d = s.to_summary_dict()
    ex = d["excluded"]
    assert (ex["zeros"], ex["outliers"], ex["degenerate_merged"]) == (37, 2, 0)
    assert ex["bulk_levels"] == 23 and ex["segments"] == [[23]]
    cut = int(0.1 * 23)  # the central 80%: 2 levels dropped at each end
    assert ex["used_levels"] == 23 - 2 * cut == 19 and ex["outside_selection"] == 4
    assert d["n_eigenvalues"] == 37 + 2 + 23
    # the printed <r~> is that of exactly those 19 levels (17 ratios)
    assert s.n_ratios == 17
    assert d["mean_ratio"] == pytest.approx(_mean_ratio(np.sort(bulk)[cut:-cut]), rel=1e-12)
    why = d["verdict_tests"]["skipped"]
    assert d["verdict"] == "inconclusive"
    assert "needs at least 40 bulk levels, this input has 19" in why
    assert "of its 62 eigenvalues, 37 zeros and 2 outliers are removed" in why
    assert "its 23 bulk levels form segments of 23 levels" in why
    assert "more spectra" in why and "--zero-rtol" in why and "\n" not in why


def test_too_few_for_any_statistic_names_the_segments() -> None:
    bulk = _goe_levels(23, 0)  # both signs: the bulk is cut at the zero cluster
    eigs = np.concatenate([np.zeros(37), bulk, [50.0, 80.0]])
    n_neg, n_pos = int((bulk < 0).sum()), int((bulk > 0).sum())
    assert max(n_neg, n_pos) < 20
    with pytest.raises(InputError) as err:
        summarize_spectrum(eigs, n_null=20, n_boot=0)
    msg = str(err.value)
    assert "need at least 10 bulk levels, this input has 0" in msg
    assert f"segments of {n_neg} and {n_pos} levels" in msg
    assert "cut at the zero cluster" in msg and "under 20 levels are not used" in msg
    assert "37 zeros and 2 outliers" in msg


def test_merged_degeneracies_are_counted() -> None:
    distinct = _goe_levels(60, 1)[:20]
    eigs = np.repeat(distinct, 3)  # every level three times
    d = summarize_spectrum(eigs, n_null=20, n_boot=0).to_summary_dict()
    ex = d["excluded"]
    assert ex["degenerate_merged"] == 40 and ex["bulk_levels"] == 20
    assert ex["used_levels"] == 16
    why = d["verdict_tests"]["skipped"]
    assert "this input has 16" in why and "40 merged near-degenerate levels" in why


def test_caller_advice_replaces_the_default() -> None:
    eigs, _ = _positive_case()
    d = summarize_spectrum(eigs, n_null=20, n_boot=0, advice="pass more --batch-hessians")
    why = d.to_summary_dict()["verdict_tests"]["skipped"]
    assert "pass more --batch-hessians" in why and "2-D array" not in why


def test_stats_prints_the_counts(tmp_path, capsys) -> None:  # type: ignore[no-untyped-def]
    from hessrmt.cli.main import main

    eigs, _ = _positive_case()
    np.save(tmp_path / "e.npy", eigs)
    assert main(["stats", str(tmp_path / "e.npy"), "--n-null", "20"]) == 0
    out = capsys.readouterr().out
    assert "levels used     19 of 23 bulk levels (segments of 23;" in out
    assert "37 zeros, 2 outliers, 0 merged" in out
    assert "this input has 19" in out
    assert main(["stats", "--json", str(tmp_path / "e.npy"), "--n-null", "20"]) == 0
    assert json.loads(capsys.readouterr().out)["excluded"]["used_levels"] == 19


def test_analyze_table_says_why_and_what_to_do() -> None:
    from hessrmt.analysis.statistics import too_few_levels_advice
    from hessrmt.cli.analyze import format_table

    summary = {
        "spectra": ["trained", "batch"],
        "trained": {"verdict": "GOE", "verdict_tests": {}},
        "batch": {"verdict": "inconclusive", "verdict_tests": {"skipped": "too few: do X"}},
    }
    lines = format_table(summary).splitlines()
    assert lines[-1] == "batch: too few: do X" and not any(x.startswith("trained:") for x in lines)
    assert "--batch-hessians" in too_few_levels_advice("batch", 42, 2)
    assert "P = 42" in too_few_levels_advice("trained", 42, 2)
