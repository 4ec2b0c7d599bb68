"""Resuming ``hessrmt analyze`` never mixes dense and Lanczos checkpoints.

With ``--method auto`` the method follows ``--max-dense-params`` (or the memory available now),
which is not a numeric setting; the run folder fingerprints the *resolved* method, so a rerun
whose setting flips the method is refused like any run of other settings (one line, exit 2),
while a rerun that resolves to the same method resumes.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from hessrmt.analysis import pipeline as P
from hessrmt.analysis.config import AnalysisConfig
from hessrmt.cli.main import main
from hessrmt.runfolder.settings import fingerprint


class Boom(RuntimeError):
    pass


def _args(out: Path, max_dense: int) -> list[str]:
    return [
        "analyze", "--model", "logreg", "--data", "wine", "--epochs", "1",
        "--batch-hessians", "1", "--batch-size", "16", "--slq-probes", "2", "--slq-steps", "8",
        "--lanczos-k", "3", "--method", "auto", "--max-dense-params", str(max_dense),
        "--out", str(out), "--quiet",
    ]  # fmt: skip


def test_resolved_method_is_fingerprinted_for_auto_only() -> None:
    auto = AnalysisConfig(method="auto")
    assert fingerprint(P.run_settings(auto, "dense")) != fingerprint(
        P.run_settings(auto, "lanczos")
    )
    # max_dense_params itself stays out: a change that keeps the method keeps the fingerprint
    assert fingerprint(P.run_settings(auto.replace(max_dense_params=10), "dense")) == fingerprint(
        P.run_settings(auto.replace(max_dense_params=10**6), "dense")
    )
    # an explicit method is a numeric setting already: its fingerprint is unchanged
    dense = AnalysisConfig(method="dense")
    assert fingerprint(P.run_settings(dense, "dense")) == fingerprint(P.run_settings(dense))


def test_resume_that_would_switch_method_is_refused(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "run"
    partial = tmp_path / ".run.partial"

    def crash(*a: object, **k: object) -> None:
        raise Boom("simulated crash")

    # interrupted dense run (auto, P = 42 <= 1000): init and train are checkpointed
    with monkeypatch.context() as m:
        m.setattr(P, "step_trained_dense", crash)
        with pytest.raises(Boom):
            main(_args(out, 1000))
    assert {"init.json", "train.json"} <= {p.name for p in partial.iterdir()}
    capsys.readouterr()

    # the same folder with a limit that makes auto choose Lanczos: refused, nothing deleted
    assert main(_args(out, 10)) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "Traceback" not in err
    assert "other settings" in err and str(partial) in err
    assert (partial / "init.json").exists() and not out.exists()

    # another limit that keeps the method dense resumes and finishes
    calls: list[str] = []
    original = P.step_init
    monkeypatch.setattr(
        P, "step_init", lambda *a, **k: (calls.append("init"), original(*a, **k))[1]
    )
    assert main(_args(out, 500)) == 0
    assert calls == []  # loaded from the checkpoint, not recomputed
    import json

    assert json.loads((out / "summary.json").read_text())["method"] == "dense"
