"""Fault injection: ``kill -9`` of ``analyze`` at every step (inside the computation, between a
checkpoint's two files, and while the run folder is being written); the rerun resumes and gives
arrays byte-identical to an uninterrupted run, and nothing else is left in the parent folder."""

from __future__ import annotations

import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from tests.analysis.tiny import TINY, output_bytes

SRC = str(Path(__file__).resolve().parents[2] / "src")

SCRIPT = textwrap.dedent(
    """
    import os, signal, sys
    sys.path.insert(0, {src!r})
    from hessrmt import runfolder
    from hessrmt.runfolder import store
    from hessrmt.analysis import pipeline

    target, mode, out = sys.argv[1], sys.argv[2], sys.argv[3]

    def die():
        os.kill(os.getpid(), signal.SIGKILL)

    if mode == "during":
        original = runfolder.RunFolder.step

        def step(self, name, compute):
            if name != target:
                return original(self, name, compute)
            return original(self, name, lambda: (compute(), die()))

        runfolder.RunFolder.step = step
    elif mode == "between-files":
        original = store.atomic_write_json

        def write_json(path, obj):
            if os.path.basename(str(path)) == target + ".json":
                die()
            return original(path, obj)

        store.atomic_write_json = write_json
    elif mode == "finalize":
        original = pipeline._write_outputs

        def write_outputs(*args, **kw):
            original(*args, **kw)
            die()

        pipeline._write_outputs = write_outputs
    pipeline.analyze(pipeline.AnalysisConfig(**{tiny!r}), out=out)
    print("finished without being killed")
    """
)


@pytest.fixture(scope="module")
def reference(tmp_path_factory: pytest.TempPathFactory) -> dict[str, bytes]:
    from hessrmt.analysis import AnalysisConfig, analyze

    out = tmp_path_factory.mktemp("reference") / "run"
    analyze(AnalysisConfig(**TINY), out=str(out))  # type: ignore[arg-type]
    return output_bytes(out)


KILLS = [
    ("init", "during"),
    ("train", "during"),
    ("trained", "during"),
    ("batch_000", "during"),
    ("batch_001", "during"),
    ("slq", "during"),
    ("trained", "between-files"),
    ("-", "finalize"),
]


@pytest.mark.slow
@pytest.mark.parametrize(("target", "mode"), KILLS, ids=[f"{t}-{m}" for t, m in KILLS])
def test_kill_9_then_resume_is_byte_identical(
    tmp_path: Path, reference: dict[str, bytes], target: str, mode: str
) -> None:
    from hessrmt.analysis import AnalysisConfig, analyze

    out = tmp_path / "run"
    script = SCRIPT.format(src=SRC, tiny=TINY)
    proc = subprocess.run(
        [sys.executable, "-c", script, target, mode, str(out)],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert proc.returncode == -signal.SIGKILL, proc.stdout + proc.stderr
    assert not out.exists()  # a killed run never leaves a (half-written) run folder
    res = analyze(AnalysisConfig(**TINY), out=str(out))  # type: ignore[arg-type]
    assert output_bytes(out) == reference
    assert res.summary["n_params"] == 42
    assert sorted(p.name for p in tmp_path.iterdir()) == ["run"]  # temporaries cleaned up
