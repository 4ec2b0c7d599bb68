"""`pip install hessrmt` is the RMT layer alone: no torch, matplotlib or scikit-learn needed.

Each check runs in a fresh interpreter whose import system refuses those packages (as on a
machine where they are not installed), so an import anywhere on the path fails the test.
"""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[1] / "src"
EXAMPLE = SRC / "hessrmt" / "data" / "examples" / "example_spectra.npz"

BLOCK = textwrap.dedent(
    """
    import importlib.abc, sys
    BLOCKED = ("torch", "matplotlib", "sklearn")

    class Block(importlib.abc.MetaPathFinder):
        def find_spec(self, name, path=None, target=None):
            if name.split(".")[0] in BLOCKED:
                raise ModuleNotFoundError(f"No module named {name!r} (blocked)", name=name)
            return None

    sys.meta_path.insert(0, Block())
    for mod in BLOCKED:
        try:
            __import__(mod)
        except ModuleNotFoundError:
            pass
        else:
            raise SystemExit(f"the blocker let {mod} through")
    """
)


def _run(body: str) -> subprocess.CompletedProcess[str]:
    code = BLOCK + textwrap.dedent(body) + "\nassert not any(m in sys.modules for m in BLOCKED)\n"
    return subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        timeout=120,
        env={"PYTHONPATH": str(SRC), "PATH": "/usr/bin:/bin"},
    )


def test_blocker_blocks() -> None:
    res = _run("import torch")
    assert res.returncode != 0 and "blocked" in res.stderr


@pytest.mark.slow
def test_rmt_layer_imports_without_torch_matplotlib_sklearn() -> None:
    res = _run(
        """
        import hessrmt, hessrmt.rmt, hessrmt.errors, hessrmt.rng, hessrmt.io, hessrmt.results
        for name in hessrmt.rmt.__all__:  # every lazy export, so every rmt module
            getattr(hessrmt.rmt, name)
        import numpy as np
        s = hessrmt.rmt.summarize_spectrum(hessrmt.rmt.goe(200, rng=0)[0], rng=0)
        print(s.to_summary_dict()["verdict"])
        """
    )
    assert res.returncode == 0, res.stderr


@pytest.mark.slow
def test_stats_command_without_torch_matplotlib_sklearn() -> None:
    res = _run(
        f"""
        from hessrmt.cli.main import main
        rc = main(["stats", {str(EXAMPLE)!r}, "--key", "hessian_like", "--json"])
        assert rc == 0, rc
        try:
            main(["--help"])  # every command's parser loads without the extras
        except SystemExit as exc:
            assert exc.code == 0, exc.code
        """
    )
    assert res.returncode == 0, res.stderr
    assert '"verdict"' in res.stdout


def test_commands_needing_an_extra_say_which_in_one_line() -> None:
    res = _run(
        """
        from hessrmt.cli.main import main
        raise SystemExit(main(["analyze", "--epochs", "1"]))
        """
    )
    assert res.returncode == 2, res.stderr
    lines = res.stderr.strip().splitlines()
    assert len(lines) == 1 and "pip install 'hessrmt[" in lines[0], res.stderr
