"""Fault injection for every reproduction: ``kill -9`` after each checkpointed step and while
the run folder is being finalised, through the one generic hook in :mod:`hessrmt.runfolder`
(``HESSRMT_FAULT_KILL``). Each killed process leaves no run folder; the last rerun resumes every
step, removes the killed run's temporary folder, and gives arrays (and every number of
``summary.json`` but the timings) byte-identical to an uninterrupted run."""

from __future__ import annotations

import io
import json
import multiprocessing
import signal
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from . import faultkill_runs

#: summary keys that hold wall-clock times, paths or what was resumed: not numbers of the result
VOLATILE = (
    "second", "duration", "timing", "resumed", "computed", "elapsed", "out", "estimate", "created",
)  # fmt: skip
MAX_KILLS = 12


def _numbers(obj: Any) -> Any:
    if isinstance(obj, dict):
        return {
            k: _numbers(v)
            for k, v in obj.items()
            if not any(word in k.lower() for word in VOLATILE)
        }
    if isinstance(obj, list):
        return [_numbers(v) for v in obj]
    return obj


def _arrays(run: Path) -> dict[str, Any]:
    """Every array in the run folder (dtype, shape and bytes) and the summary's numbers."""
    got: dict[str, Any] = {}
    for path in sorted(run.rglob("*.npz")):
        with np.load(path, allow_pickle=False) as z:
            for key in z.files:
                a = z[key]
                got[f"{path.relative_to(run)}/{key}"] = (a.dtype.str, a.shape, a.tobytes())
    for path in sorted(run.rglob("*.pt")):
        import torch

        state = torch.load(io.BytesIO(path.read_bytes()), weights_only=True)
        for key, value in state.items():
            got[f"{path.relative_to(run)}/{key}"] = value.numpy().tobytes()
    summary = json.loads((run / "summary.json").read_text(encoding="utf-8"))
    got["summary.json"] = json.dumps(_numbers(summary), sort_keys=True)
    return got


@pytest.fixture(scope="module")
def forkserver() -> Any:
    """A fork server that has imported torch and every pipeline (a fresh process per kill)."""
    ctx = multiprocessing.get_context("forkserver")
    ctx.set_forkserver_preload(faultkill_runs.preload())
    return ctx


def _killed_run(ctx: Any, name: str, out: Path, point: str) -> int | None:
    proc = ctx.Process(target=faultkill_runs.killed_child, args=(name, str(out), point))
    proc.start()
    proc.join(600)
    if proc.is_alive():  # pragma: no cover - a hang
        proc.kill()
        proc.join()
    return proc.exitcode


def _steps(partial: Path) -> int:
    if not partial.is_dir():
        return 0
    names = [p for p in partial.glob("*.json") if not p.name.startswith(".hessrmt")]
    return len(names) + len(list((partial / "results").glob("*.json")))


@pytest.mark.slow
@pytest.mark.parametrize("name", sorted(faultkill_runs.RUNS))
def test_kill_9_at_every_step_then_resume_is_byte_identical(
    tmp_path: Path, forkserver: Any, name: str
) -> None:
    reference = tmp_path / "reference" / "run"
    faultkill_runs.run(name, reference)
    expected = _arrays(reference)

    parent = tmp_path / "killed"
    parent.mkdir()
    out = parent / "run"
    partial = parent / ".run.partial"
    done, finalize_killed = 0, False
    for _ in range(MAX_KILLS):
        # each process dies right after checkpointing its first computed step, or, once every
        # step is checkpointed, after writing the outputs and before renaming them into place
        exitcode = _killed_run(forkserver, name, out, "after-step:1,finalize")
        assert exitcode == -signal.SIGKILL  # the child's own output is on the captured stderr
        assert not out.exists()  # a killed run never leaves a (half-written) run folder
        temporaries = list(parent.glob(".run.tmp-*"))
        if temporaries:  # killed in finalize: every step was resumed
            finalize_killed = True
            assert _steps(partial) == done
            break
        assert _steps(partial) == done + 1  # exactly one more step checkpointed
        done += 1
    assert finalize_killed, f"more than {MAX_KILLS} steps: shrink the tiny settings"
    assert done >= 2  # at least two checkpointed steps were killed after
    faultkill_runs.run(name, out)  # resumes every step, removes the killed run's temporary
    assert _arrays(out) == expected
    assert sorted(p.name for p in parent.iterdir()) == ["run"]  # no temporary, partial, lock
