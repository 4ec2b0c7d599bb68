"""Per-class verdict rows of the applicability report (issue 11 §1).

Each variant's ``tests`` (``summarize_spectrum(...).to_summary_dict()``) carries
``verdict_tests``: for every class c in {Poisson, GOE, GUE, GSE} the calibrated verdict's
p-values per statistic after Holm's correction within the class
(:mod:`hessrmt.rmt.verdict`). :func:`verdict_rows` turns them into one table row per
(model, variant, class): the Holm-adjusted p-value of each statistic, whether the class is
consistent (no adjusted p-value below alpha) and which statistics reject it. Nothing is fixed
text: every cell comes from the run's ``summary.json``.
"""

from __future__ import annotations

from typing import Any

from hessrmt.rmt.verdict import CLASSES, STATISTICS

#: Column labels of the statistics, in :data:`hessrmt.rmt.verdict.STATISTICS` order.
STATISTIC_LABELS = {
    "mean_ratio": "<r~>",
    "ratio_distribution": "r~ histogram",
    "spacing_distribution": "spacing histogram",
    "number_variance": "Σ²(L)",
    "delta3": "Δ3(L)",
}

HEADER = [
    "model",
    "variant",
    "verdict",
    "class",
    *[f"Holm p: {STATISTIC_LABELS[s]}" for s in STATISTICS],
    "consistent",
    "rejected by",
]


def _p(x: Any) -> str:
    """A p-value cell: 'n/c' where the statistic was not computable (None in JSON)."""
    if x is None:
        return "n/c"
    x = float(x)
    return f"{x:.2g}" if x < 0.01 else f"{x:.3f}"


def verdict_rows(summary: dict[str, Any]) -> list[list[Any]]:
    """One row per model, variant and class with the Holm-adjusted p-values of the verdict's
    five statistics (variants without ``verdict_tests`` are skipped)."""
    rows: list[list[Any]] = []
    for key, m in (summary.get("models") or {}).items():
        for vk, v in (m.get("variants") or {}).items():
            t = (v.get("tests") or {}).get("verdict_tests") or {}
            per_class = t.get("tests") or {}
            alpha = float(t.get("alpha", 0.01))
            for c in CLASSES:
                ct = per_class.get(c)
                if not ct:
                    continue
                adj = ct.get("holm_adjusted") or {}
                rejected = [
                    STATISTIC_LABELS[s]
                    for s in STATISTICS
                    if adj.get(s) is not None and float(adj[s]) < alpha
                ]
                rows.append(
                    [
                        key,
                        vk,
                        t.get("verdict", "n/a"),
                        c,
                        *[_p(adj.get(s)) for s in STATISTICS],
                        "yes" if ct.get("consistent") else "no",
                        ", ".join(rejected) or "–",
                    ]
                )
    return rows


def verdict_caption(summary: dict[str, Any]) -> str:
    """The table's caption, with the level and the null replicates read from the run."""
    for m in (summary.get("models") or {}).values():
        for v in (m.get("variants") or {}).values():
            t = (v.get("tests") or {}).get("verdict_tests") or {}
            if t.get("tests"):
                return (
                    "Calibrated verdict per class: Holm-adjusted p-values of each statistic "
                    f"(family-wise level {float(t.get('alpha', 0.01)):g}, {t.get('n_null')} "
                    "simulated null replicates per class; n/c = not computable)"
                )
    return "Calibrated verdict per class (no variant has verdict tests)"
