"""The README's API tour runs as written (on a smaller data subset; the full ``analyze`` call at its
end is covered by the analysis tests)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

README = Path(__file__).resolve().parents[1] / "README.md"


@pytest.mark.slow
def test_readme_tour_runs():
    text = README.read_text()
    blocks = re.findall(r"```python\n(.*?)```", text, flags=re.S)
    assert blocks, "README has no python block"
    code = blocks[0]
    small = code.replace(
        'load_dataset("digits", seed=0)', 'load_dataset("digits", seed=0, n_samples=150)'
    )
    assert small != code, "the tour no longer loads digits as expected; update this test"
    lines = [ln for ln in small.splitlines() if "analyze" not in ln]
    namespace: dict[str, object] = {}
    exec(compile("\n".join(lines), str(README), "exec"), namespace)
    assert namespace["summary"].to_summary_dict()["n_eigenvalues"] == namespace["H"].shape[0]
