"""Per-step settings of ``hessrmt analyze``: an ``--overwrite`` run that changes only settings a
step does not read reuses that step's checkpoint, and gives byte-identical outputs to an
uninterrupted run with the new settings (the oracle that the step really does not read them)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from hessrmt.analysis import pipeline as P
from hessrmt.analysis.config import AnalysisConfig, unread_settings
from hessrmt.runfolder import RunFolder
from tests.analysis.tiny import TINY, output_bytes

DENSE = dict(TINY, n_samples=60, batch_size=8, family_boot=0)
LANCZOS = dict(DENSE, method="lanczos", lanczos_k=3, subblocks="random", subblock_size=10)


class Boom(RuntimeError):
    pass


def _run(monkeypatch: pytest.MonkeyPatch, settings: dict, out: Path, **kw: Any) -> RunFolder:
    """analyze(settings) into ``out``; returns its run folder (computed / resumed steps)."""
    made: list[RunFolder] = []

    class Spy(RunFolder):
        def __init__(self, *a: Any, **k: Any) -> None:
            super().__init__(*a, **k)
            made.append(self)

    with monkeypatch.context() as m:
        m.setattr(P, "RunFolder", Spy)
        P.analyze(AnalysisConfig(**settings), out=str(out), **kw)
    return made[0]


def _interrupted(monkeypatch: pytest.MonkeyPatch, settings: dict, out: Path) -> None:
    """Every step checkpointed, then a crash while writing the run folder."""

    def crash(*a: Any, **k: Any) -> None:
        raise Boom("simulated crash")

    with monkeypatch.context() as m:
        m.setattr(P, "_write_outputs", crash)
        with pytest.raises(Boom):
            P.analyze(AnalysisConfig(**settings), out=str(out))


CASES = [
    ("dense", {"slq_steps": 10}, {"slq"}),
    ("dense", {"slq_quadrature": "radau"}, {"slq"}),
    ("dense", {"batch_hessians": 3}, {"batch_002", "batch_noise"}),
    ("dense", {"batch_size": 10}, {"batch_000", "batch_001", "batch_noise"}),
    ("dense", {"family_boot": 3, "zero_rtol": 1e-6}, set()),
    ("dense", {"seed": 1}, "all"),
    ("lanczos", {"lanczos_k": 4}, {"init", "trained", "batch_000", "batch_001", "ggn",
                                   "residual"}),
    ("lanczos", {"subblock_size": 12, "subblock_count": 2},
     {"subblock_000", "subblock_001"}),
]  # fmt: skip


@pytest.mark.slow
@pytest.mark.parametrize(("base", "change", "computed"), CASES, ids=[str(c[1]) for c in CASES])
def test_overwrite_reuses_the_steps_whose_own_settings_are_unchanged(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    base: str,
    change: dict,
    computed: set[str] | str,
) -> None:
    old = DENSE if base == "dense" else LANCZOS
    new = {**old, **change}
    reference = _run(monkeypatch, new, tmp_path / "reference")
    assert reference.resumed_steps == []
    out = tmp_path / "run"
    _interrupted(monkeypatch, old, out)
    run = _run(monkeypatch, new, out, overwrite=True)
    if computed == "all":
        assert run.resumed_steps == []
    else:
        assert set(run.computed_steps) == computed
        assert run.resumed_steps  # the rest was reused
    assert set(run.computed_steps) | set(run.resumed_steps) == set(reference.computed_steps)
    # the oracle: outputs byte-identical to an uninterrupted run with the new settings
    assert output_bytes(out) == output_bytes(tmp_path / "reference")


def test_unchanged_settings_still_resume_everything_and_refuse_without_overwrite(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from hessrmt.errors import InputError

    out = tmp_path / "run"
    _interrupted(monkeypatch, DENSE, out)
    with pytest.raises(InputError, match="other settings"):
        _run(monkeypatch, {**DENSE, "slq_steps": 10}, out)
    run = _run(monkeypatch, DENSE, out)
    assert run.computed_steps == [] and "slq" in run.resumed_steps


def test_unread_settings_name_real_numeric_fields() -> None:
    # every field (slq_quadrature is left out at its default, "gauss": config.py's _ADDED_LATER)
    fields = set(AnalysisConfig(slq_quadrature="radau").numeric_settings())
    steps = ["init", "train", "trained", "batch_000", "batch_noise", "ggn", "residual", "slq",
             "subblock_000"]  # fmt: skip
    for step in steps:
        assert unread_settings(step) <= fields, step
    # what defines the trained model is read by every step
    for name in ("model", "data", "seed", "epochs", "dtype", "method", "n_samples", "loss"):
        assert all(name not in unread_settings(s) for s in steps), name
    # each step reads its own options
    assert not {"slq_probes", "slq_steps", "slq_quadrature"} & unread_settings("slq")
    assert "subblock_size" not in unread_settings("subblock_003")
    assert "batch_hessians" not in unread_settings("batch_noise")
    assert "batch_size" not in unread_settings("batch_001")
    assert "lanczos_k" not in unread_settings("trained")
    assert "batch_hessians" in unread_settings("batch_001")  # batch i is a prefix batch
    assert unread_settings("a_new_step") == frozenset()  # unknown steps read everything
