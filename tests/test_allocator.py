"""glibc allocator tuning (hessrmt.allocator): the mallopt calls, their guards, the command's
start-up call and its opt-out. Speed is measured in bench/, not here."""

from __future__ import annotations

import sys

import pytest

from hessrmt import allocator


class SpyLibc:
    """A stand-in for glibc recording mallopt(param, value) and answering ``answer``."""

    def __init__(self, answer: int = 1) -> None:
        self.calls: list[tuple[int, int]] = []
        self.answer = answer

    def mallopt(self, param: int, value: int) -> int:
        self.calls.append((param, value))
        return self.answer

    def gnu_get_libc_version(self) -> bytes:
        return b"2.36"


def test_sets_the_mmap_and_trim_thresholds(monkeypatch) -> None:
    spy = SpyLibc()
    monkeypatch.setattr(allocator, "_libc", lambda: spy)
    out = allocator.tune_cpu_allocator()
    assert out["applied"] is True
    assert sorted(spy.calls) == sorted([(-3, 32 * 2**20), (-1, 2**30)])
    assert allocator.allocator_state()["mmap_threshold"] == 32 * 2**20
    refused = SpyLibc(answer=0)
    monkeypatch.setattr(allocator, "_libc", lambda: refused)
    assert allocator.tune_cpu_allocator()["applied"] is False


def test_without_glibc_it_does_nothing_and_says_why(monkeypatch) -> None:
    monkeypatch.setattr(allocator, "_libc", lambda: None)
    out = allocator.tune_cpu_allocator()
    assert out == {"applied": False, "reason": "not glibc: allocator left as it is"}


@pytest.mark.parametrize(("mmap", "trim"), [(0, 2**30), (64 * 2**20, 2**30), (2**20, 2**31)])
def test_bad_thresholds_are_refused(mmap: int, trim: int) -> None:
    with pytest.raises(ValueError, match="threshold"):
        allocator.tune_cpu_allocator(mmap, trim)


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="glibc only")
def test_real_glibc_accepts_the_settings() -> None:
    lib = allocator._libc()
    if lib is None:
        pytest.skip("not glibc")
    assert allocator.tune_cpu_allocator()["applied"] is True


def test_the_command_tunes_at_start_up_unless_told_not_to(monkeypatch, capsys) -> None:
    from hessrmt.cli.main import main

    spy = SpyLibc()
    monkeypatch.setattr(allocator, "_libc", lambda: spy)
    argv = ["theory", "pennington-bahri", "--phi", "0.25", "--eps", "0.1"]
    assert main(argv) == 0
    assert len(spy.calls) == 2
    monkeypatch.setenv(allocator.ENV, "default")
    spy.calls.clear()
    assert main(argv) == 0
    assert spy.calls == []
    capsys.readouterr()
