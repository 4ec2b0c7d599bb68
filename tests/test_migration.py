"""docs/migration.md: every ``python`` block runs, top to bottom, in one namespace.

The anchors' calls (``text`` blocks) are not run: neither PyHessian nor curvlinops is installed
with hessrmt. The page states its claims as ``assert`` lines, so a wrong claim fails here.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

PAGE = Path(__file__).resolve().parents[1] / "docs" / "migration.md"
FENCE = re.compile(r"^```(\w*)\n(.*?)^```", re.DOTALL | re.MULTILINE)


def _blocks(kind: str) -> list[str]:
    return [body for lang, body in FENCE.findall(PAGE.read_text()) if lang == kind]


def test_page_pairs_the_anchor_calls_with_runnable_code() -> None:
    text = PAGE.read_text()
    for call in (
        ".eigenvalues(",
        ".trace(",
        ".density(",
        "HessianLinearOperator",
        "hutchinson_trace(H_cl",
        "LanczosApproximateSpectrum",
    ):
        assert call in text, call
    assert len(_blocks("python")) >= 10 and len(_blocks("text")) >= 8


@pytest.mark.usefixtures("one_thread")
def test_migration_examples_run() -> None:
    namespace: dict[str, object] = {"__name__": "migration"}
    for i, block in enumerate(_blocks("python")):
        try:
            exec(compile(block, f"{PAGE.name}[python block {i}]", "exec"), namespace)
        except Exception as exc:  # name the block that failed
            raise AssertionError(f"python block {i} of {PAGE} failed:\n{block}") from exc
