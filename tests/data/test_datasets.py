"""Built-in data sets: shapes, seeded splits, standardisation, local-file loaders, errors."""

from __future__ import annotations

import gzip
import pickle

import numpy as np
import pytest

from hessrmt.data import DATASETS, load_dataset
from hessrmt.errors import DataError, InputError


@pytest.mark.parametrize(
    "name",
    ["digits", "iris", "wine", "breast-cancer", "synthetic", "synthetic-regression", "random"],
)
def test_builtin(name):
    d = load_dataset(name, seed=1)
    assert d.X_train.dtype == np.float64 and np.isfinite(d.X_train).all()
    assert d.X_train.shape[1:] == d.input_shape
    assert d.X_train.shape[0] + d.X_test.shape[0] > 100
    if d.task == "classification":
        assert d.y_train.dtype == np.int64 and d.y_train.max() < d.n_classes
    again = load_dataset(name, seed=1)
    np.testing.assert_array_equal(d.X_train, again.X_train)
    other = load_dataset(name, seed=2)
    assert not np.array_equal(d.y_train[:50], other.y_train[:50]) or d.task == "regression"


def test_standardised_tabular_and_digits_range():
    w = load_dataset("wine")
    np.testing.assert_allclose(w.X_train.mean(axis=0), 0, atol=1e-12)
    np.testing.assert_allclose(w.X_train.std(axis=0), 1, atol=1e-12)
    d = load_dataset("digits")
    assert d.input_shape == (1, 8, 8) and d.X_train.min() >= 0 and d.X_train.max() <= 1


def test_subset_and_split_sizes():
    d = load_dataset("digits", n_samples=100, test_fraction=0.25)
    assert d.X_train.shape[0] == 75 and d.X_test.shape[0] == 25


def _write_idx(path, arr):
    header = bytes([0, 0, 8, arr.ndim]) + b"".join(int(s).to_bytes(4, "big") for s in arr.shape)
    with gzip.open(path, "wb") as fh:
        fh.write(header + arr.astype(np.uint8).tobytes())


def test_mnist_from_local_idx(tmp_path, rng):
    raw = tmp_path / "MNIST" / "raw"
    raw.mkdir(parents=True)
    for prefix, n in (("train", 30), ("t10k", 10)):
        _write_idx(raw / f"{prefix}-images-idx3-ubyte.gz", rng.integers(0, 256, (n, 28, 28)))
        _write_idx(raw / f"{prefix}-labels-idx1-ubyte.gz", rng.integers(0, 10, n))
    d = load_dataset("mnist", root=tmp_path, test_fraction=0.5)
    assert d.input_shape == (1, 28, 28) and d.X_train.shape[0] == 20 and d.X_train.max() <= 1


def test_cifar_and_bike_from_local_files(tmp_path, rng):
    base = tmp_path / "cifar-10-batches-py"
    base.mkdir()
    for name in [f"data_batch_{i}" for i in range(1, 6)] + ["test_batch"]:
        with open(base / name, "wb") as fh:
            pickle.dump(
                {
                    b"data": rng.integers(0, 256, (4, 3072)).astype(np.uint8),
                    b"labels": list(rng.integers(0, 10, 4)),
                },
                fh,
            )
    d = load_dataset("cifar10", root=tmp_path)
    assert d.input_shape == (3, 32, 32) and d.X_train.shape[0] + d.X_test.shape[0] == 24
    header = "instant,dteday,season,hr,temp,casual,registered,cnt\n"
    rows = "".join(
        f"{i},2011-01-{i % 28 + 1:02d},1,{i % 24},0.{i % 9},1,2,{i + 1}\n" for i in range(40)
    )
    (tmp_path / "hour.csv").write_text(header + rows)
    b = load_dataset("bike", root=tmp_path)
    assert b.task == "regression" and b.input_shape == (4,)
    y = np.concatenate([b.y_train, b.y_test])
    assert np.isclose(y.mean(), 1.0)


def test_errors(tmp_path):
    with pytest.raises(InputError, match="unknown data set"):
        load_dataset("imagenet")
    with pytest.raises(DataError, match="data-root"):
        load_dataset("mnist")
    with pytest.raises(DataError, match="does not exist"):
        load_dataset("mnist", root=tmp_path / "nope")
    with pytest.raises(DataError, match="nothing is downloaded"):
        load_dataset("cifar10", root=tmp_path)
    assert set(DATASETS) >= {"digits", "mnist", "bike"}
