"""Self-contained HTML reports: one file, figures embedded as PNG data URIs, no external assets.

Usage::

    from hessrmt.report.html import Section, Table, write_report
    sections = [Section("Spectrum", html="<p>...</p>",
                        figures=[("Eigenvalue histogram", fig)],
                        tables=[Table("Verdicts", ["spectrum", "<r~>"], [["trained", 0.53]])])]
    write_report("run/report.html", "hessrmt analyze", sections, meta={"seed": 0})

A figure is a matplotlib ``Figure``, a path to a PNG file, or PNG bytes. ``meta`` (settings,
conventions, versions) is rendered as a nested table at the end of the report.
"""

from __future__ import annotations

import base64
import datetime as _dt
import html
import io
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from hessrmt.io import atomic_write_text, to_jsonable

FigureLike = Any  # matplotlib Figure | str | Path | bytes

_CSS = """
body{font-family:system-ui,-apple-system,Segoe UI,Roboto,sans-serif;margin:0;color:#1d232a;
background:#fafbfc}
main{max-width:1100px;margin:0 auto;padding:24px 32px 64px}
h1{font-size:1.7rem;margin:0 0 4px}h2{font-size:1.3rem;margin:36px 0 8px;border-bottom:1px solid
#d8dee4;padding-bottom:4px}.sub{color:#57606a;margin:0 0 16px}
figure{margin:16px 0;background:#fff;border:1px solid #d8dee4;border-radius:6px;padding:8px}
figure img{max-width:100%;height:auto;display:block;margin:0 auto}
figcaption{color:#57606a;font-size:.9rem;margin-top:6px}
table{border-collapse:collapse;margin:12px 0;font-size:.9rem;background:#fff}
th,td{border:1px solid #d8dee4;padding:4px 8px;text-align:left;vertical-align:top}
th{background:#f0f3f6}caption{text-align:left;font-weight:600;padding:4px 0}
td.num{text-align:right;font-variant-numeric:tabular-nums}
.verdict-GOE{color:#1a7f37;font-weight:600}.verdict-Poisson{color:#cf222e;font-weight:600}
.verdict-intermediate{color:#9a6700;font-weight:600}
.verdict-inconclusive{color:#57606a;font-weight:600}
pre{background:#f6f8fa;padding:8px;overflow:auto;font-size:.85rem}
"""


@dataclass(frozen=True)
class Table:
    """A table: caption, header cells and rows (cells are str, numbers or None)."""

    caption: str
    header: Sequence[str]
    rows: Sequence[Sequence[Any]]


@dataclass(frozen=True)
class Section:
    """A report section: trusted HTML text, then figures, then tables."""

    title: str
    html: str = ""
    figures: Sequence[tuple[str, FigureLike]] = field(default_factory=list)
    tables: Sequence[Table] = field(default_factory=list)


def figure_to_png(fig: FigureLike, *, dpi: int = 110) -> bytes:
    """PNG bytes of a matplotlib figure, a PNG file path, or PNG bytes."""
    if isinstance(fig, (bytes, bytearray)):
        return bytes(fig)
    if isinstance(fig, (str, Path)):
        return Path(fig).read_bytes()
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=dpi, bbox_inches="tight")
    return buf.getvalue()


def figure_to_data_uri(fig: FigureLike, *, dpi: int = 110) -> str:
    """``data:image/png;base64,...`` URI of a figure (see :func:`figure_to_png`)."""
    return "data:image/png;base64," + base64.b64encode(figure_to_png(fig, dpi=dpi)).decode()


def format_cell(value: Any) -> tuple[str, bool]:
    """Text of a table cell and whether it is numeric (floats with 4 significant digits)."""
    if value is None:
        return "&ndash;", False
    if isinstance(value, bool):
        return html.escape(str(value)), False
    if isinstance(value, int):
        return f"{value:,}", True
    if isinstance(value, float):
        if value != value:  # NaN
            return "&ndash;", False
        if value != 0 and (abs(value) >= 1e5 or abs(value) < 1e-3):
            return f"{value:.4g}", True
        return f"{value:.4f}", True
    text = html.escape(str(value))
    if text in ("GOE", "GUE", "GSE", "Poisson", "intermediate", "inconclusive"):
        return f'<span class="verdict-{text}">{text}</span>', False
    return text, False


def render_table(table: Table) -> str:
    head = "".join(f"<th>{html.escape(str(h))}</th>" for h in table.header)
    body = []
    for row in table.rows:
        cells = []
        for value in row:
            text, numeric = format_cell(value)
            cells.append(f'<td class="num">{text}</td>' if numeric else f"<td>{text}</td>")
        body.append("<tr>" + "".join(cells) + "</tr>")
    return (
        f"<table><caption>{html.escape(table.caption)}</caption><thead><tr>{head}</tr>"
        f"</thead><tbody>{''.join(body)}</tbody></table>"
    )


def _render_meta(obj: Any) -> str:
    if isinstance(obj, Mapping):
        if not obj:
            return "&ndash;"
        rows = "".join(
            f"<tr><th>{html.escape(str(k))}</th><td>{_render_meta(v)}</td></tr>"
            for k, v in obj.items()
        )
        return f"<table>{rows}</table>"
    if isinstance(obj, (list, tuple)) and obj and all(isinstance(v, Mapping) for v in obj):
        return "".join(_render_meta(v) for v in obj)
    if isinstance(obj, (list, tuple)):
        return html.escape(json.dumps(to_jsonable(obj)))
    return format_cell(obj)[0]


def render_report(
    title: str,
    sections: Sequence[Section],
    *,
    meta: Mapping[str, Any] | None = None,
    subtitle: str = "",
) -> str:
    """The complete HTML document (a string)."""
    parts = [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8">',
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        f"<title>{html.escape(title)}</title><style>{_CSS}</style></head><body><main>",
        f"<h1>{html.escape(title)}</h1>",
    ]
    stamp = _dt.datetime.now(_dt.UTC).strftime("%Y-%m-%d %H:%M UTC")
    parts.append(
        f'<p class="sub">{html.escape(subtitle) + " &middot; " if subtitle else ""}'
        f"generated {stamp} by hessrmt</p>"
    )
    for i, sec in enumerate(sections):
        parts.append(f'<section id="s{i}"><h2>{html.escape(sec.title)}</h2>{sec.html}')
        for caption, fig in sec.figures:
            parts.append(
                f'<figure><img alt="{html.escape(caption, quote=True)}" '
                f'src="{figure_to_data_uri(fig)}"><figcaption>{html.escape(caption)}'
                "</figcaption></figure>"
            )
        parts.extend(render_table(t) for t in sec.tables)
        parts.append("</section>")
    if meta:
        parts.append('<section id="meta"><h2>Settings, conventions and versions</h2>')
        parts.append(_render_meta(to_jsonable(meta)))
        parts.append("</section>")
    parts.append("</main></body></html>")
    return "\n".join(parts)


def write_report(
    path: str | Path,
    title: str,
    sections: Sequence[Section],
    meta: Mapping[str, Any] | None = None,
    *,
    subtitle: str = "",
) -> Path:
    """Render and write the report to ``path`` atomically; returns the path.

    Matplotlib figures in ``sections`` are consumed: once rendered they are closed in pyplot
    (a long-lived process, or a test session, would otherwise keep every figure open)."""
    try:
        return atomic_write_text(path, render_report(title, sections, meta=meta, subtitle=subtitle))
    finally:
        _close_figures(sections)


def _close_figures(sections: Sequence[Section]) -> None:
    """Close the pyplot-managed figures of ``sections`` (no-op without pyplot loaded)."""
    import sys

    plt = sys.modules.get("matplotlib.pyplot")
    if plt is None:
        return
    for sec in sections:
        for _, fig in sec.figures:
            if not isinstance(fig, (bytes, bytearray, str, Path)):
                plt.close(fig)
