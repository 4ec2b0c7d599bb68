"""Every docstring example in ``src/hessrmt`` runs (doctest), in CI with the rest of the suite.

Modules are found by scanning the sources for ``>>>`` (no import at collection time); each one
with examples is imported and its doctests run with ELLIPSIS and NORMALIZE_WHITESPACE.
"""

from __future__ import annotations

import doctest
import importlib
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[1] / "src"


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(SRC).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


MODULES = sorted(
    _module_name(p) for p in (SRC / "hessrmt").rglob("*.py") if ">>> " in p.read_text()
)


def test_public_krylov_api_has_examples() -> None:
    """The wiring cannot silently test nothing: these modules carry examples."""
    finder = doctest.DocTestFinder()
    for name in (
        "hessrmt.curvature",
        "hessrmt.curvature.adapters",
        "hessrmt.curvature.krylov.eigensolver",
        "hessrmt.curvature.krylov.stochastic_quadrature",
        "hessrmt.curvature.krylov.traces",
    ):
        assert name in MODULES, name
        tests = finder.find(importlib.import_module(name))
        assert sum(len(t.examples) for t in tests) >= 2, name


@pytest.mark.usefixtures("one_thread")
@pytest.mark.parametrize("name", MODULES)
def test_docstring_examples_run(name: str) -> None:
    module = importlib.import_module(name)
    flags = doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE
    result = doctest.testmod(module, optionflags=flags, report=True)
    if result.attempted == 0:  # ">>> " in a string that is not a docstring
        pytest.skip(f"{name}: '>>> ' in its source but no docstring examples")
    assert result.failed == 0, f"{name}: {result.failed} of {result.attempted} examples failed"
