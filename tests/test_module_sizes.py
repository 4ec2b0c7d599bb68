"""No module of ``src/hessrmt`` is over :data:`LIMIT` lines unless its docstring says why.

Convention (issue 12): a module longer than ``LIMIT`` lines holds one cohesive thing and its
module docstring has a paragraph starting ``Size:`` that says what that thing is. A ``Size:``
paragraph in a module that is no longer over the limit is stale and fails too, as does one that
quotes a wrong line count: "over [~]N lines" needs more than N lines, any other "[~]N lines"
a count within 10 % of the file's.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

SRC = Path(__file__).resolve().parents[1] / "src" / "hessrmt"
LIMIT = 500
_SIZE = re.compile(r"^Size:\s*(?P<why>\S.*?)(?:\n\s*\n|\Z)", re.MULTILINE | re.DOTALL)
_COUNT = re.compile(r"(?P<over>over\s+)?~?(?P<n>\d[\d,]*)\s+lines")


def size_problem(source: str, name: str = "<module>") -> str | None:
    """Why ``source`` breaks the convention (one line), or None when it keeps it."""
    n_lines = len(source.splitlines())
    doc = ast.get_docstring(ast.parse(source)) or ""
    match = _SIZE.search(doc)
    if n_lines > LIMIT and match is None:
        return f"{name}: {n_lines} lines > {LIMIT} and no 'Size:' paragraph saying why"
    if match is None:
        return None
    why = " ".join(match.group("why").split())
    if n_lines <= LIMIT:
        return f"{name}: {n_lines} lines <= {LIMIT} but a stale 'Size:' paragraph: {why!r}"
    if len(why) < 30:
        return f"{name}: the 'Size:' paragraph does not say why: {why!r}"
    for m in _COUNT.finditer(why):
        stated = int(m.group("n").replace(",", ""))
        if (n_lines <= stated) if m.group("over") else abs(stated - n_lines) > 0.1 * n_lines:
            return f"{name}: 'Size:' says {m.group(0)!r}, the file has {n_lines} lines"
    return None


def test_every_module_keeps_the_size_convention() -> None:
    modules = sorted(SRC.rglob("*.py"))
    assert len(modules) > 50  # the package is there
    problems = [
        p
        for path in modules
        if (p := size_problem(path.read_text(encoding="utf-8"), str(path.relative_to(SRC))))
    ]
    assert problems == []


def _module(doc: str, n_lines: int) -> str:
    body = f'"""{doc}"""\n'
    return body + "x = 1\n" * (n_lines - len(body.splitlines()))


def test_the_check_rejects_what_it_should() -> None:
    why = "Size: one cohesive thing, the solver and the continuation it needs."
    assert size_problem(_module("Short.\n", 120)) is None
    assert "no 'Size:'" in size_problem(_module("Long.\n", LIMIT + 1))  # type: ignore[operator]
    assert size_problem(_module(f"Long.\n\n{why}\n", LIMIT + 1)) is None
    assert "stale" in size_problem(_module(f"Short.\n\n{why}\n", LIMIT))  # type: ignore[operator]
    assert "does not say why" in size_problem(_module("Long.\n\nSize: big.\n", 600))  # type: ignore[operator]
    wrong = _module(f"Long.\n\n{why[:-1]}, about 510 lines.\n", 640)
    assert "says '510 lines'" in size_problem(wrong)  # type: ignore[operator]
    assert size_problem(_module(f"Long.\n\n{why[:-1]}, over ~500 lines.\n", 501)) is None
    under = _module(f"Long.\n\n{why[:-1]}, just over 600 lines.\n", 550)
    assert "says 'over 600 lines'" in size_problem(under)  # type: ignore[operator]
    right = _module(f"Long.\n\n{why[:-1]}, about 630 lines.\n", 640)
    assert size_problem(right) is None
