"""Inputs issue 19 found mishandled that now get the right answer (not a refusal): files named
with the other extension load by content, and tiny scales are analysed like unit ones."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from hessrmt.cli.main import main


def _stats(path: Path, capsys: pytest.CaptureFixture[str], *extra: str) -> dict:
    code = main(["stats", str(path), "--json", "--n-null", "0", *extra])
    out, err = capsys.readouterr()
    assert code == 0, err
    return json.loads(out)


@pytest.fixture(scope="module")
def goe() -> np.ndarray:
    rng = np.random.default_rng(0)
    a = rng.standard_normal((200, 200))
    return np.linalg.eigvalsh((a + a.T) / 2)


def test_npz_named_npy_and_npy_named_npz_load_by_content(tmp_path, capsys, goe) -> None:  # type: ignore[no-untyped-def]
    np.save(tmp_path / "e.npy", goe)
    np.savez(tmp_path / "e.npz", a=goe)
    shutil.copy(tmp_path / "e.npz", tmp_path / "really-npz.npy")
    shutil.copy(tmp_path / "e.npy", tmp_path / "really-npy.npz")
    ref = _stats(tmp_path / "e.npy", capsys)
    assert _stats(tmp_path / "really-npz.npy", capsys) == ref
    assert _stats(tmp_path / "really-npz.npy", capsys, "--key", "a") == ref
    assert _stats(tmp_path / "really-npy.npz", capsys) == ref


def test_tiny_scales_are_not_all_equal(tmp_path, capsys, goe) -> None:  # type: ignore[no-untyped-def]
    """Ratios and KS statistics are scale-free: 1e-200 x a GOE spectrum gives the unit answer."""
    np.save(tmp_path / "unit.npy", goe)
    np.save(tmp_path / "tiny.npy", goe * 1e-200)
    unit, tiny = _stats(tmp_path / "unit.npy", capsys), _stats(tmp_path / "tiny.npy", capsys)
    assert tiny["verdict"] == unit["verdict"] and tiny["n_eigenvalues"] == unit["n_eigenvalues"]
    assert tiny["mean_ratio"] == pytest.approx(unit["mean_ratio"], rel=1e-9)
    assert tiny["ks_goe"]["statistic"] == pytest.approx(unit["ks_goe"]["statistic"], rel=1e-9)
    assert tiny["bulk_edges"][1] == pytest.approx(unit["bulk_edges"][1] * 1e-200, rel=1e-9)
