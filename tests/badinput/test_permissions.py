"""Unreadable and unwritable paths give one line and exit status 2, also when the tests run as
root (CI does): the commands run in a child process whose capability bounding set lacks
``CAP_DAC_OVERRIDE`` and ``CAP_DAC_READ_SEARCH``, so file permissions bind root as they bind any
user (an ordinary user runs the child unchanged). The first case checks that the permissions
really bind, so the test cannot pass vacuously.
"""

from __future__ import annotations

import ctypes
import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest

SRC = str(Path(__file__).resolve().parents[2] / "src")
PR_CAPBSET_DROP = 24
CAP_DAC_OVERRIDE, CAP_DAC_READ_SEARCH = 1, 2

#: Runs each command through ``hessrmt.cli.main.main`` in one child process and prints, per
#: case, the exit status and what went to stdout and stderr (an escaping exception counts as a
#: traceback).
CHILD = textwrap.dedent(
    """
    import contextlib, io, json, sys, traceback
    from hessrmt.cli.main import main

    cases = json.loads(sys.argv[1])
    try:
        open("unreadable.npy", "rb").close()
        binds = False
    except PermissionError:
        binds = True
    results = {"permissions_bind": binds}
    for name, argv in cases.items():
        out, err = io.StringIO(), io.StringIO()
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            try:
                code = main(argv)
            except SystemExit as exc:
                code = exc.code if isinstance(exc.code, int) else 1
            except BaseException:
                traceback.print_exc()
                code = "traceback"
        results[name] = [code, out.getvalue(), err.getvalue()]
    print(json.dumps(results))
    """
)

A = ["analyze", "--quiet", "--epochs", "0", "--batch-hessians", "0"]
CASES = {
    # (argv, fragment of the one error line)
    "stats-unreadable-file": (["stats", "--json", "unreadable.npy"], "Permission denied"),
    "stats-file-in-closed-folder": (["stats", "--json", "closed/spectrum.npy"], "closed"),
    "fit-unreadable-file": (["fit", "--json", "unreadable.npy"], "Permission denied"),
    "analyze-out-unwritable": ([*A, "--out", "locked/run"], "not writable"),
    "analyze-out-under-unwritable": ([*A, "--out", "locked/sub/run"], "locked"),
    "analyze-data-root-closed": ([*A, "--data", "mnist", "--data-root", "closed"], "closed"),
    "reproduce-out-unwritable": (
        ["reproduce", "spin-glass", "--quick", "--out", "locked/run"],
        "not writable",
    ),
    "theory-plot-unwritable": (
        [
            "theory",
            "pennington-bahri",
            "--phi",
            "0.5",
            "--eps",
            "0.1",
            "--plot",
            "locked/density.png",
        ],
        "locked",
    ),
}


def _drop_dac_capabilities() -> None:  # runs in the child between fork and exec
    libc = ctypes.CDLL(None, use_errno=True)
    for cap in (CAP_DAC_OVERRIDE, CAP_DAC_READ_SEARCH):
        if libc.prctl(PR_CAPBSET_DROP, cap, 0, 0, 0) != 0:
            raise OSError(ctypes.get_errno(), "prctl(PR_CAPBSET_DROP) failed")


@pytest.fixture
def folder(tmp_path: Path):  # type: ignore[no-untyped-def]
    np.save(tmp_path / "unreadable.npy", np.arange(50.0))
    (tmp_path / "closed").mkdir()
    np.save(tmp_path / "closed" / "spectrum.npy", np.arange(50.0))
    (tmp_path / "locked").mkdir()
    (tmp_path / "unreadable.npy").chmod(0)
    (tmp_path / "closed").chmod(0)
    (tmp_path / "locked").chmod(0o500)
    try:
        yield tmp_path
    finally:
        for name in ("closed", "locked", "unreadable.npy"):
            (tmp_path / name).chmod(0o700)


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="capabilities are Linux's")
def test_permission_cases_give_one_line_also_as_root(folder: Path) -> None:
    before = sorted(str(p.relative_to(folder)) for p in folder.rglob("*"))
    env = dict(os.environ, PYTHONPATH=SRC)
    env.pop("HESSRMT_DEBUG", None)
    proc = subprocess.run(
        [sys.executable, "-c", CHILD, json.dumps({k: v[0] for k, v in CASES.items()})],
        cwd=folder,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
        preexec_fn=_drop_dac_capabilities if os.geteuid() == 0 else None,
    )
    assert proc.returncode == 0, proc.stderr
    results = json.loads(proc.stdout.splitlines()[-1])
    assert results.pop("permissions_bind") is True  # else every case below would be vacuous
    wrong = [
        f"{name}: exit {code}, stdout {out!r}, stderr:\n{err}"
        for name, (code, out, err) in results.items()
        if not (
            code == 2
            and out == ""
            and len(err.splitlines()) == 1
            and "Traceback" not in err
            and CASES[name][1] in err
        )
    ]
    assert not wrong, "\n".join(wrong)
    after = sorted(str(p.relative_to(folder)) for p in folder.rglob("*"))
    assert after == before  # nothing left behind (no lock, partial or temporary)
