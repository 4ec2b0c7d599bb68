"""Dense-or-Lanczos choice from the memory at hand."""

from __future__ import annotations

import pytest

from hessrmt.analysis import method
from hessrmt.analysis.method import choose_method, dense_parameter_limit


def test_limit_formula(monkeypatch: pytest.MonkeyPatch) -> None:
    # 4 copies of a float64 1000 x 1000 matrix use 32e6 bytes; with half the memory usable the
    # limit is exactly P = 1000 when 64e6 bytes are available.
    monkeypatch.setattr(method, "available_memory", lambda device="cpu": 64_000_000)
    assert dense_parameter_limit("float64") == (1000, 64_000_000)
    # float32 halves the bytes per entry: sqrt(2) times more parameters
    assert dense_parameter_limit("float32")[0] == 1414


def test_available_memory_is_positive() -> None:
    assert method.available_memory("cpu") > 0


def test_auto_switches_at_the_limit() -> None:
    assert choose_method("auto", 100, max_dense_params=100).method == "dense"
    lz = choose_method("auto", 101, max_dense_params=100)
    assert lz.method == "lanczos"
    assert "exceeds the dense limit" in lz.reason and "101" in lz.reason
    assert choose_method("dense", 10**9, max_dense_params=100).method == "dense"
    assert choose_method("lanczos", 10, max_dense_params=100).method == "lanczos"


def test_reason_states_memory(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(method, "available_memory", lambda device="cpu": 64_000_000)
    choice = choose_method("auto", 500)
    assert choice.method == "dense" and choice.limit == 1000
    assert "GiB available" in choice.reason and "P = 1000" in choice.reason
