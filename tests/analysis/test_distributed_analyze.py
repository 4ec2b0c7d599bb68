"""``hessrmt analyze`` across 2 gloo processes on CPU against the single-process run (issue 17).

One scenario, in order (process start-up dominates the time, so the steps share their runs):

1. the single-process run (in this process, through the command line's ``main``): the reference;
2. the same command in 2 processes started as torchrun starts them (RANK, WORLD_SIZE,
   MASTER_ADDR...), where rank 1 raises in the middle (in a batch Hessian): every rank exits
   with status 2 and ONE line within the collective timeout, no run folder appears, and the
   resumable checkpoint folder holds the steps finished before the failure;
3. ``python -m torch.distributed.run --nproc-per-node 2 -m hessrmt analyze`` on the same --out:
   rank 0 resumes the finished steps and broadcasts them, every rank computes the rest, and the
   run folder's ``spectrum.npz`` and ``slq.npz`` equal the single-process arrays to 1e-10
   (relative to each array's largest magnitude); summary.json records the set-up;
4. the same 2-process command on the finished folder: refused on rank 0, and every rank exits
   with status 2 and the same one line (no hang).

Uneven shards: 33 training samples (17 / 16 per rank) and batch-Hessian batches of 13 (7 / 6).
The model (tests/analysis/dist_model.py) has a nonzero residual H - H0 (tanh hidden layer).
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import torch

from hessrmt.cli.main import main

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(not torch.distributed.is_available(), reason="no torch.distributed"),
]

ROOT = Path(__file__).resolve().parents[2]
ARGS = [
    "analyze", "--model", "tests.analysis.dist_model:tiny_mlp", "--data", "wine",
    "--n-samples", "41", "--epochs", "2", "--batch-hessians", "2", "--batch-size", "13",
    "--slq-probes", "2", "--slq-steps", "8", "--quiet", "--collective-timeout", "20",
]  # fmt: skip
TIMEOUT = 20.0


def _env(**extra: str) -> dict[str, str]:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([str(ROOT / "src"), str(ROOT)])
    env["OMP_NUM_THREADS"] = "1"
    for k in ("RANK", "WORLD_SIZE", "LOCAL_RANK", "MASTER_ADDR", "MASTER_PORT", "HESSRMT_DEBUG"):
        env.pop(k, None)
    env.update(extra)
    return env


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _ranks(out: Path, world: int = 2, **extra: str) -> tuple[list[int], list[str], float]:
    """Start ``world`` processes of ``python -m hessrmt analyze`` as torchrun would (without
    its agent, which stops the others when one fails); return exit codes, stderrs, seconds."""
    port = str(_free_port())
    procs = []
    t0 = time.monotonic()
    for rank in range(world):
        env = _env(
            RANK=str(rank), LOCAL_RANK=str(rank), WORLD_SIZE=str(world),
            MASTER_ADDR="127.0.0.1", MASTER_PORT=port, **extra,
        )  # fmt: skip
        procs.append(
            subprocess.Popen(
                [sys.executable, "-m", "hessrmt", *ARGS, "--out", str(out)],
                cwd=ROOT,
                env=env,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                text=True,
            )
        )
    codes, errs = [], []
    try:
        for p in procs:
            _, err = p.communicate(timeout=240)
            codes.append(p.returncode)
            errs.append(err)
    finally:
        for p in procs:
            if p.poll() is None:
                p.kill()
    return codes, errs, time.monotonic() - t0


def _rel(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.max(np.abs(a - b)) / np.max(np.abs(b)))


def _arrays(folder: Path, name: str) -> dict[str, np.ndarray]:
    with np.load(folder / name) as z:
        return {k: z[k] for k in z.files}


def test_torchrun_analyze_equals_single_process_resumes_and_fails_cleanly(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(ROOT)  # the model is tests.analysis.dist_model
    single = tmp_path / "single"
    assert main([*ARGS, "--out", str(single)]) == 0
    capsys.readouterr()
    ref_summary = json.loads((single / "summary.json").read_text())
    assert ref_summary["distributed"] == {
        "world_size": 1,
        "backend": None,
        "samples_per_rank": [33],
    }
    ref = _arrays(single, "spectrum.npz")
    ref_slq = _arrays(single, "slq.npz")
    assert np.max(np.abs(ref["residual"])) > 1e-3 * np.max(np.abs(ref["trained"]))

    # 2. rank 1 raises in the first batch Hessian (its 6 of the batch's 13 samples)
    out = tmp_path / "multi"
    codes, errs, seconds = _ranks(out, HESSRMT_TEST_FAIL_RANK="1", HESSRMT_TEST_FAIL_BATCH="6")
    assert codes == [2, 2], (codes, errs)
    lines = [e.strip().splitlines() for e in errs]
    assert all(len(x) == 1 for x in lines), errs  # one line each, no traceback
    assert lines[1][0] == "hessrmt: error: injected failure on rank 1 (test)"
    assert lines[0][0].startswith("hessrmt: error: rank 0 of 2: ") and "another rank" in lines[0][0]
    assert seconds < 120 + TIMEOUT  # start-up of two processes on a loaded machine + timeout
    assert not out.exists()  # no run folder, not even a half-written one
    partial = tmp_path / ".multi.partial"
    assert {p.stem for p in partial.glob("*.json")} >= {"init", "train", "trained"}
    assert not (partial / "batch_000.json").exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == [".multi.partial", "single"]
    init_info = json.loads((partial / "init.json").read_text())["info"]

    # 3. torchrun resumes (rank 0 decides, broadcasts) and matches the single-process run
    run = subprocess.run(
        [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc-per-node", "2",
         "-m", "hessrmt", *ARGS, "--out", str(out)],
        cwd=ROOT, env=_env(), capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert run.returncode == 0, run.stderr[-3000:]
    assert run.stdout.count("run folder:") == 1  # rank 0 prints, the others do not
    got, got_slq = _arrays(out, "spectrum.npz"), _arrays(out, "slq.npz")
    assert sorted(got) == sorted(ref) and sorted(got_slq) == sorted(ref_slq)
    for k in ref:
        assert got[k].shape == ref[k].shape
        assert _rel(got[k], ref[k]) <= 1e-10, (k, _rel(got[k], ref[k]))
    for k in ref_slq:
        assert _rel(got_slq[k], ref_slq[k]) <= 1e-10, (k, _rel(got_slq[k], ref_slq[k]))
    summary = json.loads((out / "summary.json").read_text())
    assert summary["distributed"] == {
        "world_size": 2,
        "backend": "gloo",
        "samples_per_rank": [17, 16],
    }
    assert summary["steps"]["init"] == init_info  # resumed from the checkpoint, not recomputed
    assert summary["steps"]["batch"]["n_batches"] == 2
    assert sorted(p.name for p in tmp_path.iterdir()) == ["multi", "single"]  # one run folder

    # 4. a finished folder: refused on rank 0, the same one line on every rank
    codes, errs, _ = _ranks(out)
    assert codes == [2, 2], (codes, errs)
    assert errs[0] == errs[1], errs
    assert errs[0].count("\n") == 1 and "already exists; pass --overwrite" in errs[0]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["multi", "single"]
