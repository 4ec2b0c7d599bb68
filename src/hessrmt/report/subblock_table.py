"""The per-layer (principal sub-block) section of the analysis report.

Built from ``summary.json['subblocks']`` (:mod:`hessrmt.analysis.subblocks`): one row per block
with its size (and the layer size it was drawn from), spectral edges, bulk edges, outliers,
<r~> with its 95 % interval, the statistics rejecting GOE / Poisson after Holm's correction and
the calibrated verdict. The paragraph above the table is computed from the same records.
"""

from __future__ import annotations

import html
from collections.abc import Mapping
from typing import Any


def _g(value: Any, digits: int = 4) -> str:
    return f"{value:.{digits}g}" if isinstance(value, (int, float)) else "-"


def subblock_rows(section: Mapping[str, Any]) -> list[list[Any]]:
    """Table rows, one per block."""
    rows = []
    for b in section.get("blocks") or []:
        iv = b.get("mean_ratio_interval")
        edges = b.get("bulk_edges")
        out = b.get("outliers") or {}
        rej = b.get("rejects") or {}
        rows.append(
            [
                b.get("name"),
                f"{b.get('size')} of {b.get('n_total')}"
                + (" (subsample)" if b.get("subsampled") else ""),
                f"[{_g(b.get('lambda_min'))}, {_g(b.get('lambda_max'))}]",
                f"[{_g(edges[0])}, {_g(edges[1])}]" if edges else "-",
                "-"
                if b.get("n_outliers") is None
                else f"{b['n_outliers']} ({len(out.get('low', []))} low, "
                f"{len(out.get('high', []))} high)",
                f"{b['mean_ratio']:.4f} [{iv[0]:.4f}, {iv[1]:.4f}]"
                if iv and isinstance(b.get("mean_ratio"), float)
                else "-",
                "; ".join(
                    f"{cls}: {', '.join(t.replace('_', ' ') for t in tests) or 'none'}"
                    for cls, tests in rej.items()
                )
                or "-",
                b.get("verdict") or f"not computed ({b.get('skipped', '')})",
            ]
        )
    return rows


def subblock_section(summary: Mapping[str, Any]) -> Any:
    """The report section (None where the run has no sub-blocks)."""
    from hessrmt.report.html import Section, Table

    section = summary.get("subblocks")
    if not isinstance(section, Mapping) or not section.get("blocks"):
        return None
    text = (
        f"<p>{html.escape(str(section.get('sentence', '')))}</p>"
        f"<p>Blocks: {html.escape(str(section.get('reason', '')))}. "
        f"{html.escape(str(section.get('conventions', '')))}.</p>"
    )
    header = [
        "block", "size", "[lambda_min, lambda_max]", "bulk edges", "outliers",
        "<r~> [95%]", "rejected by (Holm)", "verdict",
    ]  # fmt: skip
    table = Table(
        "Exact principal sub-blocks H[S, S] of the trained Hessian (per layer or random "
        "parameter subsets): edges, bulk, outliers, <r~> [95 % interval] and verdict "
        "(GOE <r~> = 0.5307, Poisson 0.3863)",
        header,
        subblock_rows(section),
    )
    return Section("Per-layer local statistics (principal sub-blocks)", html=text, tables=[table])
