"""The analyze report in a real headless browser (Debian's chromium, installed by `make browser`).

Checks: the page loads without JavaScript errors or console messages, every <img> decodes
(naturalWidth > 0), and a screenshot is not blank. Skipped when chromium is absent, except under
CI (env CI set), where its absence fails the test.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest

from hessrmt.report.analysis_report import build_report
from tests.report.test_analysis_report import make_run

pytestmark = pytest.mark.browser

#: Captures errors (uncaught exceptions, failed resource loads, console.error) from page start.
PROBE_HEAD = """<script>
window.__errors = [];
window.addEventListener('error', function (e) {
  var t = e.target;
  window.__errors.push(e.message || ('failed to load ' + (t && (t.src || t.href))));
}, true);
(function () { var orig = console.error; console.error = function () {
  window.__errors.push(Array.prototype.join.call(arguments, ' ')); orig.apply(console, arguments);
}; })();
</script>"""
#: Writes what the test checks into the DOM, which --dump-dom prints.
PROBE_TAIL = """<script>
window.addEventListener('load', function () {
  var imgs = Array.prototype.slice.call(document.images);
  var out = {n_images: imgs.length,
             widths: imgs.map(function (i) { return i.naturalWidth; }),
             complete: imgs.map(function (i) { return i.complete; }),
             errors: window.__errors, title: document.title,
             tables: document.querySelectorAll('table').length};
  var pre = document.createElement('pre'); pre.id = 'hessrmt-probe';
  pre.textContent = JSON.stringify(out); document.body.appendChild(pre);
});
</script>"""


def chromium() -> str:
    path = shutil.which("chromium") or shutil.which("chromium-browser")
    if path is None:
        if os.environ.get("CI"):
            pytest.fail("chromium is not installed (run `make browser`); required under CI")
        pytest.skip("chromium not installed (run `make browser`)")
    return path


def run_chromium(args: list[str], profile: Path) -> subprocess.CompletedProcess[str]:
    cmd = [
        chromium(), "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
        "--no-first-run", "--disable-background-networking", "--disable-component-update",
        "--disable-sync", "--disable-dev-shm-usage", "--hide-scrollbars",
        f"--user-data-dir={profile}", *args,
    ]  # fmt: skip
    return subprocess.run(cmd, capture_output=True, text=True, timeout=120, check=False)


@pytest.fixture(scope="module")
def report(tmp_path_factory: pytest.TempPathFactory) -> Path:
    run = make_run(tmp_path_factory.mktemp("browser") / "run")
    return build_report(run)


def test_report_loads_and_every_figure_renders(report: Path, tmp_path: Path) -> None:
    html = report.read_text()
    probe = tmp_path / "probe.html"
    probe.write_text(
        html.replace("<head>", "<head>" + PROBE_HEAD, 1).replace("</body>", PROBE_TAIL + "</body>")
    )
    proc = run_chromium(
        ["--virtual-time-budget=10000", "--dump-dom", probe.as_uri()], tmp_path / "profile"
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    match = re.search(r'<pre id="hessrmt-probe">(.*?)</pre>', proc.stdout, re.S)
    assert match, "the probe script did not run: " + proc.stdout[-500:]
    result = json.loads(match.group(1).replace("&quot;", '"').replace("&amp;", "&"))
    assert result["errors"] == []
    expected = html.count("<img ")
    assert result["n_images"] == expected >= 5
    assert all(result["complete"]) and min(result["widths"]) > 0
    assert result["tables"] >= 3 and "hessrmt" in result["title"]


def test_report_has_no_console_output(report: Path, tmp_path: Path) -> None:
    proc = run_chromium(
        ["--enable-logging=stderr", "--v=0", "--virtual-time-budget=5000", "--dump-dom",
         report.as_uri()],
        tmp_path / "profile",
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert "Settings, conventions and versions" in proc.stdout
    console = [line for line in proc.stderr.splitlines() if "CONSOLE" in line]
    assert console == []


def test_screenshot_is_not_blank(report: Path, tmp_path: Path) -> None:
    from matplotlib.image import imread

    shot = tmp_path / "shot.png"
    proc = run_chromium(
        [f"--screenshot={shot}", "--window-size=1200,2400", "--virtual-time-budget=5000",
         report.as_uri()],
        tmp_path / "profile",
    )  # fmt: skip
    assert proc.returncode == 0 and shot.exists(), proc.stderr[-2000:]
    img = imread(shot)[..., :3]
    assert img.shape[0] >= 2000 and img.shape[1] >= 1100
    non_white = np.mean(img.min(axis=2) < 0.9)
    assert non_white > 0.05  # text, tables and figures cover a good part of the page
    assert img.std() > 0.05
    # colour from the figures (histogram fills), not only black text on white
    sat = img.max(axis=2) - img.min(axis=2)
    assert np.mean(sat > 0.2) > 0.005
