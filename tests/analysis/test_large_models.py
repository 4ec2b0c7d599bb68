"""A model too large for the dense path (issue 19, ``--width 1000``): said up front, refused in
one line when the requested method cannot fit, Lanczos chosen by ``auto``. The memory at hand is
monkeypatched so that a tiny model stands for a huge one."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from hessrmt.analysis import method
from hessrmt.cli.main import main

#: logreg on wine has P = 42; with 64,000 bytes available the dense limit is
#: isqrt(0.5 * 64000 / 32) = 31 parameters
SMALL_MEMORY = 64_000
ARGS = [
    "analyze", "--model", "logreg", "--data", "wine", "--n-samples", "60", "--epochs", "1",
    "--batch-hessians", "0", "--slq-probes", "2", "--slq-steps", "8", "--lanczos-k", "3",
]  # fmt: skip


@pytest.fixture
def small_memory(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(method, "available_memory", lambda device="cpu": SMALL_MEMORY)


def test_dense_request_that_cannot_fit_is_one_line(
    small_memory: None, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "run"
    assert main([*ARGS, "--method", "dense", "--out", str(out)]) == 2
    captured = capsys.readouterr()
    lines = captured.err.strip().splitlines()
    assert captured.out == "" and len(lines) == 1, captured.err
    assert "P = 42" in lines[0] and "P = 31" in lines[0] and "--method lanczos" in lines[0]
    assert sorted(p.name for p in tmp_path.iterdir()) == []  # nothing left behind


def test_auto_says_the_plan_and_takes_lanczos(
    small_memory: None, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "run"
    assert main([*ARGS, "--out", str(out)]) == 0
    err = capsys.readouterr().err
    lines = [line for line in err.splitlines() if line.startswith("hessrmt analyze:")]
    # the plan comes before the first step, with the method, P and the products
    assert "P = 42" in lines[0] and "exceeds the dense limit" in lines[0]
    assert lines[1].startswith("hessrmt analyze: plan: Lanczos") and "step" not in lines[1]
    assert "no P x P matrix" in lines[1]
    import json

    summary = json.loads((out / "summary.json").read_text())
    assert summary["method"] == "lanczos" and summary["plan"] in lines[1]


def test_pennington_bahri_width_that_cannot_fit(
    small_memory: None, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from hessrmt.experiments.pennington_bahri.task import n_params_of

    out = tmp_path / "pb"
    assert main(["reproduce", "pennington-bahri", "--quick", "--width", "1000",
                 "--out", str(out)]) == 2  # fmt: skip
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "P = 2,000,000" in err[0]
    widest = int(re.search(r"--width (\d+) or less", err[0]).group(1))  # type: ignore[union-attr]
    budget = method.MEMORY_FRACTION * SMALL_MEMORY
    assert 4 * 8 * n_params_of(widest, widest, widest, False) ** 2 <= budget
    assert 4 * 8 * n_params_of(widest + 1, widest + 1, widest + 1, False) ** 2 > budget
    assert not tmp_path.joinpath("pb").exists() and list(tmp_path.iterdir()) == []
