"""Checkpoint store: a step is complete or absent, and stale settings are never mixed in."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from hessrmt.analysis.checkpointing import StepStore, partial_dir_for


def test_partial_dir_is_a_hidden_sibling(tmp_path: Path) -> None:
    assert partial_dir_for(tmp_path / "run") == tmp_path / ".run.partial"


def test_run_computes_once_and_returns_stored_values(tmp_path: Path) -> None:
    calls = []

    def compute() -> tuple[dict, dict]:
        calls.append(1)
        return {"x": np.arange(4.0)}, {"note": "a", "value": 1.5}

    store = StepStore(tmp_path / "p", "fp1")
    a1, i1 = store.run("step", compute)
    store2 = StepStore(tmp_path / "p", "fp1")
    a2, i2 = store2.run("step", compute)
    assert len(calls) == 1
    np.testing.assert_array_equal(a1["x"], a2["x"])
    assert i1 == i2 == {"note": "a", "value": 1.5}
    assert store2.completed() == ["step"]
    assert not store2.discarded


def test_other_fingerprint_discards_the_store(tmp_path: Path) -> None:
    StepStore(tmp_path / "p", "fp1").save("step", {"x": np.ones(2)}, {})
    store = StepStore(tmp_path / "p", "fp2")
    assert store.discarded
    assert store.completed() == []
    assert not store.has("step")


def test_damaged_npz_is_not_a_completed_step(tmp_path: Path) -> None:
    store = StepStore(tmp_path / "p", "fp")
    store.save("step", {"x": np.ones(3)}, {"a": 1})
    assert store.has("step")
    (tmp_path / "p" / "step.npz").write_bytes(b"truncated")
    assert not store.has("step")
    # a step whose JSON marker is missing (interrupted between the two writes) is absent too
    store.save("other", {"x": np.ones(3)}, {})
    (tmp_path / "p" / "other.json").unlink()
    assert not store.has("other")


def test_remove(tmp_path: Path) -> None:
    store = StepStore(tmp_path / "p", "fp")
    store.save("s", {"x": np.zeros(1)}, {})
    store.remove()
    assert not (tmp_path / "p").exists()
