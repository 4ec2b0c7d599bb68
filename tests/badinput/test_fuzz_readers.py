"""Property-based fuzzing (hypothesis) of the file readers and of ``stats``' loading: for any
bytes, a reader returns a valid result or raises a one-line InputError/DataError; never another
exception, never code execution (hostile pickles would create a marker file)."""

from __future__ import annotations

import io
import pickle
import tempfile
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from hessrmt.errors import InputError
from hessrmt.validation import FORMATS, restricted_loads, sniff

FUZZ = settings(
    max_examples=120,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)


def _npy(a: np.ndarray) -> bytes:
    buf = io.BytesIO()
    np.save(buf, a)
    return buf.getvalue()


def _npz(**arrays: np.ndarray) -> bytes:
    buf = io.BytesIO()
    np.savez(buf, **arrays)
    return buf.getvalue()


GOOD = np.linspace(-2.0, 2.0, 40)
SEEDS = [
    _npy(GOOD),
    _npz(a=GOOD, b=GOOD[:20]),
    " ".join(map(str, GOOD)).encode(),
    ",".join(map(str, GOOD)).encode(),
    pickle.dumps({b"data": np.zeros((2, 3072), np.uint8), b"labels": [1, 2]}, protocol=2),
    bytes([0, 0, 8, 1, 0, 0, 0, 4, 1, 2, 3, 4]),  # an IDX vector of 4 bytes
]


@st.composite
def mutated(draw: st.DrawFn) -> bytes:
    """A valid file of one of the formats with a few bytes changed, cut or appended."""
    data = bytearray(draw(st.sampled_from(SEEDS)))
    for _ in range(draw(st.integers(0, 4))):
        if not data:
            break
        i = draw(st.integers(0, len(data) - 1))
        data[i] = draw(st.integers(0, 255))
    cut = draw(st.integers(0, len(data)))
    tail = draw(st.binary(max_size=16))
    return bytes(data[:cut]) + tail if draw(st.booleans()) else bytes(data) + tail


ANY_BYTES = st.one_of(st.binary(max_size=512), mutated())


def _file(data: bytes, name: str) -> Path:
    d = Path(tempfile.mkdtemp(prefix="hessrmt-fuzz-"))
    path = d / name
    path.write_bytes(data)
    return path


@FUZZ
@given(data=ANY_BYTES)
def test_sniff_names_a_format_for_any_bytes(data: bytes) -> None:
    assert sniff(_file(data, "x.bin")) in FORMATS


@FUZZ
@given(data=ANY_BYTES, name=st.sampled_from(["e.npy", "e.npz", "e.txt", "e"]))
# found by this test: a .npy header that numpy's literal parser cannot tokenize
@example(data=b"\x93NUMPY\x01\x00\x06\x00\x00\x00\x00'''", name="e.npy")
def test_load_spectrum_returns_finite_levels_or_one_line_error(data: bytes, name: str) -> None:
    from hessrmt.rmt.spectrum_io import load_spectrum

    try:
        arr = load_spectrum(_file(data, name))
    except InputError as exc:
        assert "\n" not in " ".join(str(exc).split()) and str(exc)
        return
    assert arr.dtype.kind == "f" and arr.ndim in (1, 2) and np.all(np.isfinite(arr))


@FUZZ
@given(data=ANY_BYTES)
def test_idx_reader(data: bytes) -> None:
    from hessrmt.data.datasets import _read_idx

    try:
        arr = _read_idx(_file(data, "x-idx1-ubyte"))
    except InputError:
        return
    assert arr.size == int(np.prod(arr.shape))


@FUZZ
@given(data=ANY_BYTES)
def test_restricted_unpickler_loads_only_plain_data(data: bytes) -> None:
    try:
        obj = restricted_loads(data, what="fuzz")
    except InputError:
        return

    def plain(o: object) -> bool:
        if isinstance(o, dict):
            return all(plain(k) and plain(v) for k, v in o.items())
        if isinstance(o, (list, tuple, set, frozenset)):
            return all(plain(v) for v in o)
        return isinstance(o, (str, bytes, bytearray, int, float, complex, bool, np.ndarray))
        # (None is handled below)

    assert obj is None or plain(obj) or isinstance(obj, np.generic | np.dtype)


@FUZZ
@given(data=ANY_BYTES)
def test_cifar_python_batch_reader(data: bytes) -> None:
    from hessrmt.data.datasets import _cifar_python

    try:
        X, y = _cifar_python([_file(data, "data_batch_1")])
    except InputError:
        return
    assert X.shape[1:] == (3, 32, 32) and y.min() >= 0 and y.max() <= 9


@FUZZ
@given(data=ANY_BYTES, name=st.sampled_from(["e.npy", "e.npz", "e.txt"]))
def test_stats_command_exits_0_or_2_with_one_line(
    data: bytes, name: str, capsys: pytest.CaptureFixture[str]
) -> None:
    from hessrmt.cli.main import main

    code = main(["stats", str(_file(data, name)), "--json", "--n-null", "0"])
    out, err = capsys.readouterr()
    assert code in (0, 2)
    assert "Traceback" not in err
    if code == 2:
        assert out == "" and len(err.splitlines()) == 1


def test_known_hostile_pickles_are_refused_before_running(tmp_path: Path) -> None:
    marker = tmp_path / "PWNED"

    class Hostile:
        def __reduce__(self):  # type: ignore[no-untyped-def]
            return (open, (str(marker), "w"))

    for proto in range(pickle.HIGHEST_PROTOCOL + 1):
        with pytest.raises(InputError, match="not a plain data pickle"):
            restricted_loads(pickle.dumps(Hostile(), protocol=proto), what="x")
        with pytest.raises(InputError, match="not a plain data pickle"):
            restricted_loads(pickle.dumps({"ok": [Hostile()]}, protocol=proto), what="x")
    assert not marker.exists()
    # what CIFAR-10 batches hold loads (arrays, byte keys, int lists), in every protocol
    batch = {b"data": np.arange(6, dtype=np.uint8).reshape(2, 3), b"labels": [1, 2]}
    for proto in range(2, pickle.HIGHEST_PROTOCOL + 1):
        got = restricted_loads(pickle.dumps(batch, protocol=proto), what="x")
        np.testing.assert_array_equal(got[b"data"], batch[b"data"])
        assert got[b"labels"] == [1, 2]
