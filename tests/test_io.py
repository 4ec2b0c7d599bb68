"""Atomic writes leave either the old file or the complete new one."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest

from hessrmt.errors import DataError
from hessrmt.io import atomic_directory, atomic_save_npz, atomic_write_json, to_jsonable
from hessrmt.runfolder import MARKER


def test_json_converts_numpy_and_nan(tmp_path):
    p = atomic_write_json(
        tmp_path / "a.json",
        {"x": np.float32(1.5), "n": np.int64(3), "nan": math.nan, "arr": np.arange(3)},
    )
    assert json.loads(p.read_text()) == {"x": 1.5, "n": 3, "nan": None, "arr": [0, 1, 2]}
    assert to_jsonable((np.bool_(True), float("inf"))) == [True, None]


def test_failed_write_keeps_old_file(tmp_path):
    p = tmp_path / "a.json"
    atomic_write_json(p, {"v": 1})
    with pytest.raises(TypeError):
        atomic_write_json(p, {"v": object()})
    assert json.loads(p.read_text()) == {"v": 1}
    assert [f.name for f in tmp_path.iterdir()] == ["a.json"]  # no temporary left behind


def test_npz(tmp_path):
    p = atomic_save_npz(tmp_path / "a.npz", {"x": np.arange(4)})
    with np.load(p) as z:
        np.testing.assert_array_equal(z["x"], np.arange(4))


def test_atomic_directory_success_and_failure(tmp_path):
    target = tmp_path / "run"
    with pytest.raises(RuntimeError):
        with atomic_directory(target) as tmp:
            (tmp / "half.txt").write_text("x")
            raise RuntimeError("interrupted")
    assert not target.exists() and list(tmp_path.iterdir()) == []
    with atomic_directory(target) as tmp:
        (tmp / "done.txt").write_text("ok")
    assert (target / "done.txt").read_text() == "ok"
    with pytest.raises(DataError, match="already exists"):
        with atomic_directory(target):
            pass
    with atomic_directory(target, overwrite=True) as tmp:
        (tmp / "new.txt").write_text("new")
    # the old content is gone; the folder carries hessrmt's marker (hessrmt.runfolder.MARKER)
    assert sorted(f.name for f in target.iterdir()) == sorted([MARKER, "new.txt"])


def test_failed_npz_write_keeps_old_file(tmp_path, monkeypatch):
    p = atomic_save_npz(tmp_path / "a.npz", {"x": np.arange(3)})

    def disk_full(fd):
        raise OSError(28, "No space left on device")

    # the failure happens after the temporary file was written, before the rename
    monkeypatch.setattr("hessrmt.io.os.fsync", disk_full)
    with pytest.raises(OSError, match="No space"):
        atomic_save_npz(p, {"x": np.arange(10)})
    monkeypatch.undo()
    with np.load(p) as z:
        np.testing.assert_array_equal(z["x"], np.arange(3))
    assert [f.name for f in tmp_path.iterdir()] == ["a.npz"]  # temporary file removed


def test_to_jsonable_nested_and_round_trip(tmp_path):
    from pathlib import Path

    obj = {
        1: (np.float64(0.5), [np.int32(2), np.array([[1.5, -np.inf]])]),
        "p": Path("x/y"),
        "b": [np.bool_(False), None],
    }
    expected = {"1": [0.5, [2, [[1.5, None]]]], "p": "x/y", "b": [False, None]}
    assert to_jsonable(obj) == expected
    p = atomic_write_json(tmp_path / "n.json", obj)
    assert json.loads(p.read_text()) == expected
    assert "NaN" not in p.read_text() and "Infinity" not in p.read_text()


def test_unwritable_directory_is_a_data_error(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("x")
    with pytest.raises(DataError, match="cannot create directory"):
        atomic_write_json(blocker / "sub" / "a.json", {})
