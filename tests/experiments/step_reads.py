"""Which settings each checkpointed step of a pipeline reads, found in its source (for the tests
that check a pipeline's declared per-step settings against the code)."""

from __future__ import annotations

import ast
import inspect
from types import ModuleType
from typing import Any


def step_reads(module: ModuleType, var: str, steps: set[str]) -> dict[str, set[str]]:
    """For every call in ``module`` that names a step of ``steps`` (a string argument) and
    computes it in a lambda: the ``<var>.<field>`` the lambda reads, itself or through the
    module's own functions it calls (followed by name). A call that hands ``var`` itself to a
    function of another module is reported as ``"<all: ...>"`` (its reads are unknown)."""
    tree = ast.parse(inspect.getsource(module))
    found: dict[str, set[str]] = {}
    for call in ast.walk(tree):
        if not isinstance(call, ast.Call):
            continue
        names = [a.value for a in call.args if isinstance(a, ast.Constant) and a.value in steps]
        lams = [a for a in call.args if isinstance(a, ast.Lambda)]
        if names and lams:
            found[names[0]] = _reads(tree, var, lams[0])
    return found


def function_reads(module: ModuleType, var: str, function: str) -> set[str]:
    """The ``<var>.<field>`` that ``module.<function>`` reads, as in :func:`step_reads`."""
    tree = ast.parse(inspect.getsource(module))
    (node,) = [n for n in tree.body if isinstance(n, ast.FunctionDef) and n.name == function]
    return _reads(tree, var, node)


def _reads(tree: ast.Module, var: str, start: ast.AST) -> set[str]:
    funcs = {n.name: n for n in tree.body if isinstance(n, ast.FunctionDef)}

    def reads(node: ast.AST, seen: set[str]) -> set[str]:
        out: set[str] = set()
        for n in ast.walk(node):
            if isinstance(n, ast.Attribute) and getattr(n.value, "id", None) == var:
                out.add(n.attr)
            if not isinstance(n, ast.Call):
                continue
            callee = n.func.id if isinstance(n.func, ast.Name) else ast.unparse(n.func)
            if callee in funcs:
                if callee not in seen:
                    seen.add(callee)
                    out |= reads(funcs[callee], seen)
            elif any(
                getattr(a, "id", None) == var for a in [*n.args, *(k.value for k in n.keywords)]
            ):
                out.add(f"<all: {var} passed to {callee}>")
        return out

    return reads(start, {getattr(start, "name", "")})


def assert_declared_settings_match(module: ModuleType, var: str) -> None:
    """``module.STEP_SETTINGS`` names exactly the fields each step reads (:func:`step_reads`)."""
    declared = module.STEP_SETTINGS
    reads = step_reads(module, var, set(declared))
    assert set(reads) == set(declared), "steps without a lambda found: check step_reads"
    for step, names in declared.items():
        assert reads[step] == set(names), (step, reads[step] ^ set(names))


def run_interrupted_at(monkeypatch: Any, module: ModuleType, attr: str, run: Any) -> None:
    """``run()`` with ``module.<attr>`` raising KeyboardInterrupt: a run interrupted at that
    step, its earlier steps checkpointed."""
    import pytest

    def interrupted(*args: Any, **kwargs: Any) -> None:
        raise KeyboardInterrupt

    with monkeypatch.context() as m:
        m.setattr(module, attr, interrupted)
        with pytest.raises(KeyboardInterrupt):
            run()
