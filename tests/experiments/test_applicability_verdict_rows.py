"""The applicability report's per-class verdict rows come from the run's verdict tests."""

import copy

import numpy as np

from hessrmt.experiments.applicability.verdict_rows import HEADER, verdict_caption, verdict_rows
from hessrmt.rmt.ensembles import beta_hermite_eigenvalues
from hessrmt.rmt.summary import summarize_spectrum


def _summary() -> dict:
    rng = np.random.default_rng(4)
    goe = summarize_spectrum(beta_hermite_eigenvalues(400, 1, rng=rng), rng=0, n_boot=0)
    poi = summarize_spectrum(np.sort(rng.random(400)), rng=0, n_boot=0)
    return {
        "models": {
            "logreg": {
                "variants": {
                    "trained/hessian/batch/float64": {"tests": goe.to_summary_dict()},
                    "untrained/hessian/batch/float64": {"tests": poi.to_summary_dict()},
                    "broken/hessian/batch/float64": {"error": "no spectrum"},
                }
            }
        }
    }


def test_rows_carry_each_class_holm_p_values_and_follow_them() -> None:
    s = _summary()
    rows = verdict_rows(s)
    assert len(rows) == 8 and all(len(r) == len(HEADER) for r in rows)
    by = {(r[1].split("/")[0], r[3]): r for r in rows}
    goe_row = by[("trained", "GOE")]
    assert goe_row[2] == "GOE" and goe_row[-2] == "yes" and goe_row[-1] == "–"
    t = s["models"]["logreg"]["variants"]["trained/hessian/batch/float64"]["tests"]
    p = t["verdict_tests"]["tests"]["GOE"]["holm_adjusted"]["number_variance"]
    assert goe_row[4 + 3] == (f"{p:.2g}" if p < 0.01 else f"{p:.3f}")
    # Poisson data: GOE is rejected, and the row names the statistics that reject it
    poi_goe = by[("untrained", "GOE")]
    assert poi_goe[2] == "Poisson" and poi_goe[-2] == "no" and poi_goe[-1] != "–"
    assert by[("untrained", "Poisson")][-2] == "yes"
    # altered p-values change the rows (nothing is fixed text)
    s2 = copy.deepcopy(s)
    t2 = s2["models"]["logreg"]["variants"]["trained/hessian/batch/float64"]["tests"]
    t2["verdict_tests"]["tests"]["GOE"]["holm_adjusted"]["delta3"] = 0.001
    t2["verdict_tests"]["tests"]["GOE"]["holm_adjusted"]["spacing_distribution"] = None
    t2["verdict_tests"]["tests"]["GOE"]["consistent"] = False
    row = {(r[1].split("/")[0], r[3]): r for r in verdict_rows(s2)}[("trained", "GOE")]
    assert row[4 + 4] == "0.001" and row[4 + 2] == "n/c"
    assert row[-2] == "no" and row[-1] == "Δ3(L)"


def test_caption_reads_level_and_replicates_from_the_run() -> None:
    s = _summary()
    n = s["models"]["logreg"]["variants"]["trained/hessian/batch/float64"]["tests"]
    cap = verdict_caption(s)
    assert f"{n['verdict_tests']['n_null']} simulated null" in cap and "level 0.01" in cap
    assert verdict_rows({"models": {}}) == [] and "no variant" in verdict_caption({})
