"""hessrmt.runfolder: fingerprint, thread limits, marker, lock, resume, overwrite and cleanup."""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
import signal
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from hessrmt.errors import DataError, InputError
from hessrmt.results import Metadata, Result
from hessrmt.runfolder import (
    MARKER,
    RunFolder,
    atomic_directory,
    creation_modes,
    fingerprint,
    is_run_folder,
    limit_threads,
    partial_dir_for,
    read_marker,
)

SRC = str(Path(__file__).resolve().parents[1] / "src")


@dataclasses.dataclass(frozen=True)
class Settings:
    seed: int = 0
    width: int = 4
    name: str = "x"


@dataclasses.dataclass(frozen=True)
class Toy(Result):
    kind = "toy"
    values: np.ndarray
    note: str
    meta: Metadata = dataclasses.field(default_factory=Metadata)


def _compute(value: float):
    calls: list[int] = []

    def compute():
        calls.append(1)
        return {"x": np.arange(5.0) * value}, {"value": value, "nan": float("nan")}

    return compute, calls


def _siblings(tmp_path: Path) -> list[str]:
    return sorted(p.name for p in tmp_path.iterdir())


# -- fingerprint and threads -------------------------------------------------------------------


def test_fingerprint_is_sha256_of_canonical_json() -> None:
    expected = hashlib.sha256(b'{"name":"x","seed":0,"width":4}').hexdigest()
    assert fingerprint(Settings()) == expected
    assert fingerprint({"width": 4, "seed": 0, "name": "x"}) == expected  # order-free
    assert fingerprint({"width": np.int64(4), "seed": np.int32(0), "name": "x"}) == expected
    assert fingerprint(Settings(seed=1)) != expected
    with pytest.raises(InputError, match="not JSON-able"):
        fingerprint({"f": object()})


def test_limit_threads_sets_and_restores() -> None:
    import torch
    from threadpoolctl import threadpool_info

    before = torch.get_num_threads()
    blas_before = [i["num_threads"] for i in threadpool_info()]
    with limit_threads(1):
        assert torch.get_num_threads() == 1
        assert all(i["num_threads"] == 1 for i in threadpool_info())
    assert torch.get_num_threads() == before
    assert [i["num_threads"] for i in threadpool_info()] == blas_before
    with limit_threads(None):
        assert torch.get_num_threads() == before
    for bad in (0, -2, 1.5, True):
        with pytest.raises(InputError, match="--threads"):
            with limit_threads(bad):  # type: ignore[arg-type]
                pass


# -- a run from start to end ------------------------------------------------------------------


def test_fresh_run_writes_a_marked_folder_and_leaves_nothing_else(tmp_path: Path) -> None:
    out = tmp_path / "run"
    compute, calls = _compute(2.0)
    messages: list[str] = []
    with RunFolder(out, kind="test", settings=Settings(), log=messages.append) as run:
        arrays, info = run.step("a", compute)
        np.testing.assert_array_equal(arrays["x"], np.arange(5.0) * 2)
        assert info == {"value": 2.0, "nan": None}  # what was stored, also on a fresh run
        assert not out.exists()  # nothing at out before finalize
        with run.finalize() as tmp:
            (tmp / "summary.json").write_text("{}")
        assert run.computed_steps == ["a"] and run.resumed_steps == []
    assert calls == [1]
    assert _siblings(tmp_path) == ["run"]  # no checkpoints, temporaries or lock left
    assert sorted(p.name for p in out.iterdir()) == sorted([MARKER, "summary.json"])
    marker = read_marker(out)
    assert marker["state"] == "complete" and marker["kind"] == "test"
    assert marker["fingerprint"] == fingerprint(Settings())
    assert is_run_folder(out)


def test_interrupted_run_resumes_with_identical_bytes(tmp_path: Path) -> None:
    out = tmp_path / "run"
    rng = np.random.default_rng(0)
    first = {"x": rng.standard_normal(7)}
    with pytest.raises(KeyboardInterrupt):
        with RunFolder(out, kind="test", settings=Settings()) as run:
            run.step("a", lambda: (first, {"k": 1}))
            raise KeyboardInterrupt
    assert (partial_dir_for(out) / "a.npz").exists()
    assert not out.exists()
    stored = (partial_dir_for(out) / "a.npz").read_bytes()

    messages: list[str] = []
    with RunFolder(out, kind="test", settings=Settings(), log=messages.append) as run:
        arrays, info = run.step("a", lambda: pytest.fail("step a must be resumed"))
        run.step("b", lambda: ({"y": np.ones(2)}, {}))
        assert run.resumed_steps == ["a"] and run.computed_steps == ["b"]
        assert any("resuming" in m for m in messages)
        with run.finalize() as tmp:
            from hessrmt.io import atomic_save_npz

            atomic_save_npz(tmp / "a.npz", arrays)
    assert info == {"k": 1}
    assert (out / "a.npz").read_bytes() == stored  # same bytes as the uninterrupted step


def test_result_steps_round_trip_and_resume(tmp_path: Path) -> None:
    out = tmp_path / "run"
    toy = Toy(np.linspace(0, 1, 4), "n", Metadata.create(seed=3))
    with pytest.raises(RuntimeError):
        with RunFolder(out, kind="test", settings={"s": 1}) as run:
            got = run.result("toy", Toy, lambda: toy)
            np.testing.assert_array_equal(got.values, toy.values)
            raise RuntimeError("killed")
    with RunFolder(out, kind="test", settings={"s": 1}) as run:
        again = run.result("toy", Toy, lambda: pytest.fail("must resume"))
        assert run.resumed_steps == ["toy"]
        with pytest.raises(TypeError, match="not Toy"):
            run.result("other", Toy, lambda: 3)
    assert again.note == "n" and again.meta.seed == 3
    np.testing.assert_array_equal(again.values, toy.values)


def test_damaged_checkpoint_is_recomputed(tmp_path: Path) -> None:
    out = tmp_path / "run"
    with pytest.raises(RuntimeError):
        with RunFolder(out, kind="test", settings={}) as run:
            run.step("a", lambda: ({"x": np.ones(3)}, {}))
            raise RuntimeError
    (partial_dir_for(out) / "a.npz").write_bytes(b"truncated")
    compute, calls = _compute(1.0)
    with RunFolder(out, kind="test", settings={}) as run:
        run.step("a", compute)
        assert run.computed_steps == ["a"]
    assert calls == [1]


def test_early_error_leaves_nothing_behind(tmp_path: Path) -> None:
    out = tmp_path / "new" / "deeper" / "run"
    with pytest.raises(ValueError):
        with RunFolder(out, kind="test", settings={}):
            raise ValueError("bad data")
    assert _siblings(tmp_path) == []  # not even the parent folders it created


def test_default_out_is_under_runs(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    with RunFolder(None, kind="my-kind", settings={}) as run:
        with run.finalize():
            pass
    (made,) = (tmp_path / "runs").iterdir()
    assert made.name.startswith("my-kind-") and made.name.endswith("Z")
    assert run.out == made


# -- refusals ------------------------------------------------------------------------------------


def test_other_settings_are_refused_then_discarded_with_overwrite(tmp_path: Path) -> None:
    out = tmp_path / "run"
    with pytest.raises(RuntimeError):
        with RunFolder(out, kind="test", settings=Settings(seed=1)) as run:
            run.step("a", lambda: ({"x": np.ones(1)}, {}))
            raise RuntimeError
    with pytest.raises(InputError, match=r"other settings.*--overwrite") as err:
        with RunFolder(out, kind="test", settings=Settings(seed=2)):
            pass
    assert "\n" not in str(err.value)
    assert (partial_dir_for(out) / "a.npz").exists()  # refused: nothing deleted
    messages: list[str] = []
    compute, calls = _compute(1.0)
    with RunFolder(
        out, kind="test", settings=Settings(seed=2), overwrite=True, log=messages.append
    ) as run:
        run.step("a", compute)
    assert calls == [1]
    assert any("discarded" in m for m in messages)


def _keyed(settings: Settings, out: Path, **kw: Any) -> RunFolder:
    """A run folder whose step ``a`` and result ``ra`` read only ``seed`` (every other step and
    result reads everything)."""
    return RunFolder(
        out,
        kind="test",
        settings=settings,
        step_settings=lambda name: {"seed": settings.seed} if name in ("a", "ra") else None,
        **kw,
    )


def test_steps_keyed_by_their_own_settings_survive_overwrite(tmp_path: Path) -> None:
    out = tmp_path / "run"
    toy = Toy(np.ones(2), "n", Metadata.create(seed=1))
    with pytest.raises(RuntimeError):
        with _keyed(Settings(width=4), out=out) as run:
            run.step("a", lambda: ({"x": np.arange(3.0)}, {"k": 1}))
            run.step("b", lambda: ({"y": np.ones(2)}, {}))
            run.result("toy", Toy, lambda: toy)
            run.result("ra", Toy, lambda: toy)
            raise RuntimeError
    with pytest.raises(InputError, match="other settings"):  # still refused without overwrite
        with _keyed(Settings(width=5), out=out):
            pass
    messages: list[str] = []
    a, a_calls = _compute(2.0)
    b, b_calls = _compute(3.0)
    with pytest.raises(RuntimeError):
        with _keyed(Settings(width=5), out=out, overwrite=True, log=messages.append) as run:
            arrays, info = run.step("a", a)  # reads only the seed: reused
            run.step("b", b)  # reads the width: recomputed
            got = run.result("toy", Toy, lambda: Toy(np.zeros(2), "new"))  # reads the width
            kept = run.result("ra", Toy, lambda: pytest.fail("result ra must be reused"))
            assert run.resumed_steps == ["a", "ra"] and run.computed_steps == ["b", "toy"]
            assert sorted(run.store.completed()) == ["a", "b", "ra", "toy"]
            raise RuntimeError
    assert a_calls == [] and b_calls == [1] and got.note == "new" and kept.note == "n"
    np.testing.assert_array_equal(arrays["x"], np.arange(3.0))
    assert info == {"k": 1}
    assert any("except 2 step(s)" in m and m.endswith(": a, ra") for m in messages)
    # the seed, which step a reads, changes: nothing survives
    with _keyed(Settings(seed=7, width=5), out=out, overwrite=True, log=messages.append) as run:
        run.step("a", a)
        run.result("ra", Toy, lambda: Toy(np.zeros(1), "seed 7"))
        assert run.computed_steps == ["a", "ra"]
    assert a_calls == [1]


def test_same_settings_resume_steps_saved_without_a_key(tmp_path: Path) -> None:
    out = tmp_path / "run"
    with pytest.raises(RuntimeError):
        with RunFolder(out, kind="test", settings=Settings()) as run:  # no step_settings
            run.step("a", lambda: ({"x": np.ones(3)}, {}))
            raise RuntimeError
    doc = json.loads((partial_dir_for(out) / "a.json").read_text())
    assert "key" not in doc
    with _keyed(Settings(), out=out) as run:  # same settings: valid by the run's fingerprint
        run.step("a", lambda: pytest.fail("must resume"))
        assert run.has("a") and not run.has("b")
    # a keyed step, adopted by a run WITHOUT per-step settings, is discarded with the rest
    with pytest.raises(RuntimeError):
        with _keyed(Settings(), out=out) as run:
            run.step("k", lambda: ({"x": np.ones(1)}, {}))
            raise RuntimeError
    compute, calls = _compute(1.0)
    with RunFolder(out, kind="test", settings=Settings(width=9), overwrite=True) as run:
        run.step("a", compute)
        assert not run.has("k")
    assert calls == [1]


def test_a_damaged_keyed_step_is_recomputed(tmp_path: Path) -> None:
    out = tmp_path / "run"
    with pytest.raises(RuntimeError):
        with _keyed(Settings(), out=out) as run:
            run.step("a", lambda: ({"x": np.ones(3)}, {}))
            raise RuntimeError
    (partial_dir_for(out) / "a.npz").write_bytes(b"truncated")
    compute, calls = _compute(1.0)
    with _keyed(Settings(width=8), out=out, overwrite=True) as run:
        run.step("a", compute)
    assert calls == [1]


def test_finished_folder_is_refused_and_replaced_only_on_success(tmp_path: Path) -> None:
    out = tmp_path / "run"
    with RunFolder(out, kind="test", settings={}) as run:
        with run.finalize() as tmp:
            (tmp / "old.txt").write_text("old")
    with pytest.raises(InputError, match=r"already exists.*--overwrite"):
        with RunFolder(out, kind="test", settings={}):
            pass
    with pytest.raises(RuntimeError):  # a failing overwrite keeps the old folder
        with RunFolder(out, kind="test", settings={}, overwrite=True) as run:
            with run.finalize() as tmp:
                (tmp / "new.txt").write_text("new")
                raise RuntimeError
    assert (out / "old.txt").read_text() == "old"
    assert _siblings(tmp_path) == ["run"]
    with RunFolder(out, kind="test", settings={}, overwrite=True) as run:
        with run.finalize() as tmp:
            (tmp / "new.txt").write_text("new")
    assert sorted(p.name for p in out.iterdir()) == sorted([MARKER, "new.txt"])
    assert _siblings(tmp_path) == ["run"]


def test_overwrite_never_deletes_a_folder_hessrmt_did_not_make(tmp_path: Path) -> None:
    out = tmp_path / "thesis"
    (out / "sub").mkdir(parents=True)
    (out / "thesis.tex").write_text("chapter 1")
    (out / "sub" / "data.csv").write_text("1,2")
    for overwrite in (False, True):
        with pytest.raises(InputError, match=r"did not create.*never deletes"):
            with RunFolder(out, kind="test", settings={}, overwrite=overwrite):
                pytest.fail("must be refused")
    assert (out / "thesis.tex").read_text() == "chapter 1"
    assert (out / "sub" / "data.csv").read_text() == "1,2"
    assert _siblings(tmp_path) == ["thesis"]
    with pytest.raises(DataError, match="did not create"):
        with atomic_directory(out, overwrite=True):
            pass
    assert (out / "thesis.tex").exists()


def test_unmarked_checkpoint_folder_is_refused(tmp_path: Path) -> None:
    (tmp_path / ".run.partial").mkdir()
    (tmp_path / ".run.partial" / "mine.txt").write_text("x")
    with pytest.raises(InputError, match="did not create"):
        with RunFolder(tmp_path / "run", kind="test", settings={}, overwrite=True):
            pass
    assert (tmp_path / ".run.partial" / "mine.txt").exists()


@pytest.mark.parametrize("what", ["file", "cwd", "parent-is-file", "root"])
def test_bad_out_paths(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, what: str) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "f").write_text("x")
    (tmp_path / "keep").write_text("x")
    out = {"file": "f", "cwd": ".", "parent-is-file": "f/run", "root": "/"}[what]
    with pytest.raises(InputError) as err:
        with RunFolder(out, kind="test", settings={}):
            pass
    assert "\n" not in str(err.value)
    assert _siblings(tmp_path) == ["f", "keep"]


def test_empty_existing_folder_is_used(tmp_path: Path) -> None:
    (tmp_path / "run").mkdir()
    with RunFolder(tmp_path / "run", kind="test", settings={}) as run:
        with run.finalize() as tmp:
            (tmp / "a").write_text("a")
    assert (tmp_path / "run" / "a").exists()


# -- lock, orphans, permissions -----------------------------------------------------------------


def test_second_concurrent_run_is_refused(tmp_path: Path) -> None:
    out = tmp_path / "run"
    with RunFolder(out, kind="test", settings={}) as run:
        run.step("a", lambda: ({"x": np.ones(1)}, {}))
        with pytest.raises(InputError, match="another hessrmt run"):
            with RunFolder(out, kind="test", settings={}):
                pass
        assert run.store.has("a")  # the refused run touched nothing
        with run.finalize():
            pass
    assert _siblings(tmp_path) == ["run"]


def test_lock_of_a_killed_process_does_not_block(tmp_path: Path) -> None:
    out = tmp_path / "run"
    script = textwrap.dedent(
        f"""
        import sys, time
        sys.path.insert(0, {SRC!r})
        from hessrmt.runfolder import RunFolder
        with RunFolder({str(out)!r}, kind="test", settings={{}}) as run:
            print("locked", flush=True)
            time.sleep(60)
        """
    )
    proc = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, text=True)
    try:
        assert proc.stdout.readline().strip() == "locked"
        with pytest.raises(InputError, match="another hessrmt run"):
            with RunFolder(out, kind="test", settings={}):
                pass
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    with RunFolder(out, kind="test", settings={}) as run:  # the stale lock file is taken over
        with run.finalize():
            pass
    assert _siblings(tmp_path) == ["run"]


def test_orphaned_temporaries_are_removed_only_when_marked(tmp_path: Path) -> None:
    marked = tmp_path / ".run.tmp-abc123"
    marked.mkdir()
    (marked / MARKER).write_text(json.dumps({"hessrmt": "0", "state": "writing"}))
    (marked / "half.npz").write_bytes(b"x")
    foreign = tmp_path / ".run.tmp-mine"
    foreign.mkdir()
    (foreign / "notes.txt").write_text("keep")
    other_run = tmp_path / ".other.tmp-abc123"
    other_run.mkdir()
    (other_run / MARKER).write_text(json.dumps({"hessrmt": "0", "state": "writing"}))
    messages: list[str] = []
    with RunFolder(tmp_path / "run", kind="test", settings={}, log=messages.append) as run:
        with run.finalize():
            pass
    assert not marked.exists()
    assert (foreign / "notes.txt").exists() and other_run.exists()
    assert any("interrupted run" in m for m in messages)


def test_permissions_follow_the_umask_without_toggling_it(tmp_path: Path) -> None:
    old = os.umask(0o027)
    try:
        assert creation_modes(tmp_path) == (0o640, 0o750)
        with RunFolder(tmp_path / "run", kind="test", settings={}) as run:
            with run.finalize() as tmp:
                (tmp / "sub").mkdir()
                from hessrmt.io import atomic_write_text

                atomic_write_text(tmp / "sub" / "a.txt", "a")  # created 0600 by mkstemp
        assert os.umask(0o027) == 0o027  # the umask was never changed
    finally:
        os.umask(old)
    out = tmp_path / "run"
    assert out.stat().st_mode & 0o777 == 0o750
    assert (out / "sub").stat().st_mode & 0o777 == 0o750
    assert (out / "sub" / "a.txt").stat().st_mode & 0o777 == 0o640
    assert _siblings(tmp_path) == ["run"]


def test_bad_step_names_are_refused(tmp_path: Path) -> None:
    with RunFolder(tmp_path / "run", kind="test", settings={}) as run:
        for bad in ("../x", "", "a/b", ".hidden"):
            with pytest.raises(InputError, match="step name"):
                run.step(bad, lambda: ({}, {}))
    with pytest.raises(InputError, match="run kind"):
        RunFolder(tmp_path / "x", kind="a b", settings={})
