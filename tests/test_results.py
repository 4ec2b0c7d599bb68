"""Result serialisation round trips, checksum guard and metadata."""

from __future__ import annotations

import json
from dataclasses import dataclass, field

import numpy as np
import pytest

from hessrmt.errors import DataError
from hessrmt.results import Metadata, Result


@dataclass(frozen=True)
class Inner:
    values: np.ndarray
    label: str


@dataclass(frozen=True)
class Example(Result):
    eigenvalues: np.ndarray
    tolerance: float
    inner: Inner
    optional: Inner | None = None
    counts: dict[str, int] = field(default_factory=dict)
    meta: Metadata = field(default_factory=Metadata)


def _example() -> Example:
    return Example(
        eigenvalues=np.linspace(-1, 1, 7),
        tolerance=1e-8,
        inner=Inner(values=np.arange(6).reshape(2, 3), label="x"),
        optional=None,
        counts={"a": 1},
        meta=Metadata.create(seed=3, dtype="float64", conventions={"goe": "radius 2"}),
    )


def test_round_trip(tmp_path):
    r = _example()
    js, npz = r.save(tmp_path / "res")
    assert js.name == "res.json" and npz.name == "res.npz"
    back = Example.load(tmp_path / "res")
    np.testing.assert_array_equal(back.eigenvalues, r.eigenvalues)
    np.testing.assert_array_equal(back.inner.values, r.inner.values)
    assert back.inner.label == "x" and back.optional is None
    assert back.tolerance == r.tolerance and back.counts == {"a": 1}
    assert back.meta == r.meta
    assert back.meta.seed == 3 and "numpy" in back.meta.versions


def test_json_has_no_arrays_inline(tmp_path):
    _example().save(tmp_path / "res")
    doc = json.loads((tmp_path / "res.json").read_text())
    assert doc["data"]["eigenvalues"] == {"__array__": "eigenvalues"}
    assert doc["data"]["inner"]["values"] == {"__array__": "inner.values"}


def test_stale_npz_is_detected(tmp_path):
    _example().save(tmp_path / "res")
    np.savez(tmp_path / "res.npz", eigenvalues=np.zeros(3))
    with pytest.raises(DataError, match="checksum"):
        Example.load(tmp_path / "res")


def test_wrong_class_and_missing_files(tmp_path):
    @dataclass(frozen=True)
    class Other(Result):
        x: float = 0.0

    _example().save(tmp_path / "res")
    with pytest.raises(DataError, match="holds a"):
        Other.load(tmp_path / "res")
    with pytest.raises(DataError, match="not found"):
        Example.load(tmp_path / "missing")


def test_numpy_scalars_and_tensors(tmp_path):
    import torch

    @dataclass(frozen=True)
    class Scalars(Result):
        x: float
        t: object

    r = Scalars(x=np.float64(2.5), t=torch.arange(3.0))
    r.save(tmp_path / "s")
    back = Scalars.load(tmp_path / "s")
    assert back.x == 2.5 and isinstance(back.x, float)
    np.testing.assert_array_equal(back.t, [0.0, 1.0, 2.0])


def test_result_is_frozen():
    r = _example()
    with pytest.raises(AttributeError):
        r.tolerance = 1.0  # type: ignore[misc]


@dataclass(frozen=True)
class Mixed(Result):
    pair: tuple[float, float]
    by_name: dict[str, np.ndarray]
    items: list[np.ndarray]
    flag: bool = False
    meta: Metadata = field(default_factory=Metadata)


def test_round_trip_of_tuples_dicts_and_lists_of_arrays(tmp_path):
    r = Mixed(
        pair=(0.25, -3.0),
        by_name={"a": np.arange(3.0), "b": np.eye(2)},
        items=[np.ones(2), np.zeros((1, 3))],
        flag=True,
    )
    r.save(tmp_path / "m")
    back = Mixed.load(tmp_path / "m")
    assert back.pair == (0.25, -3.0) and isinstance(back.pair, tuple)
    assert set(back.by_name) == {"a", "b"}
    np.testing.assert_array_equal(back.by_name["b"], np.eye(2))
    assert len(back.items) == 2
    np.testing.assert_array_equal(back.items[1], np.zeros((1, 3)))
    assert back.flag is True
    with np.load(tmp_path / "m.npz") as z:
        assert sorted(z.files) == ["by_name.a", "by_name.b", "items.0", "items.1"]


def test_save_accepts_a_suffixed_stem_and_overwrites_atomically(tmp_path):
    r = _example()
    r.save(tmp_path / "res.json")  # the suffix is dropped: res.json + res.npz
    assert sorted(p.name for p in tmp_path.iterdir()) == ["res.json", "res.npz"]
    other = Example(
        eigenvalues=np.zeros(2),
        tolerance=0.5,
        inner=Inner(values=np.ones(1), label="y"),
    )
    other.save(tmp_path / "res")
    back = Example.load(tmp_path / "res.npz")
    assert back.tolerance == 0.5 and back.inner.label == "y"
    np.testing.assert_array_equal(back.eigenvalues, np.zeros(2))


def test_non_finite_float_fields_survive_the_round_trip(tmp_path):
    @dataclass(frozen=True)
    class WithNaN(Result):
        threshold: float
        upper: float

    WithNaN(threshold=float("nan"), upper=float("inf")).save(tmp_path / "n")
    back = WithNaN.load(tmp_path / "n")
    assert isinstance(back.threshold, float) and np.isnan(back.threshold)
    assert back.upper == float("inf")
