"""HTML reports: self-contained, escaped, figures embedded as valid PNGs."""

from __future__ import annotations

import base64
import re

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt

from hessrmt.report.html import Section, Table, figure_to_data_uri, render_report, write_report

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def test_report_is_self_contained_and_escaped(tmp_path):
    fig, ax = plt.subplots()
    ax.plot([0, 1], [1, 0])
    png = tmp_path / "f.png"
    fig.savefig(png)
    sections = [
        Section(
            "Spectrum <1>",
            "<p>text</p>",
            figures=[("a & b", fig), ("file", png)],
            tables=[Table("t", ["x", "y"], [["GOE", 0.53071], [3, None]])],
        )
    ]
    path = write_report(
        tmp_path / "r.html", "Title <x>", sections, meta={"seed": 1, "versions": {"a": "1"}}
    )
    text = path.read_text()
    plt.close(fig)
    assert "Title &lt;x&gt;" in text and "Spectrum &lt;1&gt;" in text and "a &amp; b" in text
    assert "<p>text</p>" in text
    uris = re.findall(r'src="data:image/png;base64,([^"]+)"', text)
    assert len(uris) == 2
    assert all(base64.b64decode(u).startswith(PNG_MAGIC) for u in uris)
    assert "http://" not in text and "https://" not in text  # nothing external to fetch
    assert 'class="verdict-GOE"' in text and "0.5307" in text and "&ndash;" in text


def test_data_uri_from_bytes():
    uri = figure_to_data_uri(PNG_MAGIC + b"rest")
    assert uri.startswith("data:image/png;base64,")
    assert render_report("t", []).startswith("<!DOCTYPE html>")
