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
    assert not np.array_equal(d.X_train[:50], other.X_train[:50])  # the seed matters
    assert d.X_test.shape[0] == round(0.2 * (d.X_train.shape[0] + d.X_test.shape[0]))


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
    # values: every (image, label) pair of the files, as pixels / 255, exactly once
    sizes = (("train", 30), ("t10k", 10))
    raw_x = np.concatenate(
        [_read_gz(raw / f"{p}-images-idx3-ubyte.gz", (n, 28, 28)) for p, n in sizes]
    )
    raw_y = np.concatenate([_read_gz(raw / f"{p}-labels-idx1-ubyte.gz", (n,)) for p, n in sizes])
    _assert_same_pairs(
        np.concatenate([d.X_train, d.X_test]) * 255,
        np.concatenate([d.y_train, d.y_test]),
        raw_x[:, None].astype(np.float64),
        raw_y,
    )


def _read_gz(path, shape):
    """Independent IDX reader for the files written above (fixed header length)."""
    with gzip.open(path, "rb") as fh:
        data = fh.read()
    return np.frombuffer(data[4 + 4 * len(shape) :], dtype=np.uint8).reshape(shape)


def _assert_same_pairs(x, y, x_ref, y_ref):
    """(x, y) is a permutation of (x_ref, y_ref): rows and labels together, none lost or doubled."""
    assert x.shape == x_ref.shape
    flat = np.column_stack([x.reshape(len(x), -1), y])
    flat_ref = np.column_stack([x_ref.reshape(len(x_ref), -1), y_ref])
    key = lambda a: a[np.lexsort(a.T[::-1])]  # noqa: E731 - sort rows lexicographically
    np.testing.assert_allclose(key(flat), key(flat_ref), rtol=0, atol=1e-9)


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
    # values: channel-major rows of 3072 bytes (R, G, B planes) as pixels / 255, labels kept
    raw_x, raw_y = [], []
    for name in [f"data_batch_{i}" for i in range(1, 6)] + ["test_batch"]:
        with open(base / name, "rb") as fh:
            batch = pickle.load(fh)
        raw_x.append(batch[b"data"].reshape(-1, 3, 32, 32))
        raw_y += batch[b"labels"]
    _assert_same_pairs(
        np.concatenate([d.X_train, d.X_test]) * 255,
        np.concatenate([d.y_train, d.y_test]),
        np.concatenate(raw_x).astype(np.float64),
        np.array(raw_y),
    )
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


def test_digits_values_are_sklearn_pixels_over_16():
    from sklearn.datasets import load_digits

    b = load_digits()
    d = load_dataset("digits", seed=5)
    _assert_same_pairs(
        np.concatenate([d.X_train, d.X_test]) * 16,
        np.concatenate([d.y_train, d.y_test]),
        b.data.reshape(-1, 1, 8, 8),
        b.target,
    )
    assert d.n_classes == 10 and d.seed == 5


def test_standardisation_uses_train_statistics_only():
    w = load_dataset("wine", seed=4)
    # the test split is transformed with the train mean/std: its mean is not exactly zero
    assert np.abs(w.X_test.mean(axis=0)).max() > 1e-3
    from sklearn.datasets import load_wine

    raw = load_wine().data
    # affine per column: standardised train + test columns are an affine image of the raw ones
    both = np.concatenate([w.X_train, w.X_test])
    for j in (0, 5, 12):
        slope, icpt = np.polyfit(np.sort(raw[:, j]), np.sort(both[:, j]), 1)
        fitted = slope * np.sort(raw[:, j]) + icpt
        np.testing.assert_allclose(np.sort(both[:, j]), fitted, atol=1e-9)
        assert slope > 0


@pytest.mark.parametrize(
    ("kwargs", "fragment"),
    [({"test_fraction": 1.0}, "test_fraction"), ({"n_samples": 1}, "n_samples")],
)
def test_bad_split_arguments(kwargs, fragment):
    with pytest.raises(InputError, match=fragment):
        load_dataset("iris", **kwargs)
