"""CIFAR-100 reader (hessrmt.data.cifar100) on fake folders written here in both formats: pixels
and labels read back exactly (fine by default, coarse on request), the binary version preferred,
the dispatch of load_dataset / `analyze --data cifar100`, the beyond-rmt data-root detection,
and damaged or missing files as one DataError (CLI: one line, exit 2)."""

from __future__ import annotations

import pickle
from pathlib import Path

import numpy as np
import pytest

from hessrmt.cli.main import main
from hessrmt.data.cifar100 import load_cifar100
from hessrmt.data.datasets import load_dataset
from hessrmt.errors import DataError, InputError


def _content(n: int, seed: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    data = rng.integers(0, 256, (n, 3072)).astype(np.uint8)
    return data, rng.integers(0, 100, n), rng.integers(0, 20, n)


def _write_python(root: Path, n: int = (12, 6), seed: int = 0) -> dict[str, tuple]:
    base = root / "cifar-100-python"
    base.mkdir(parents=True)
    out = {}
    for i, name in enumerate(("train", "test")):
        data, fine, coarse = _content(n[i], seed + i)
        d = {b"data": data, b"fine_labels": fine.tolist(), b"coarse_labels": coarse.tolist()}
        (base / name).write_bytes(pickle.dumps(d, protocol=2))
        out[name] = (data, fine, coarse)
    meta = {
        b"fine_label_names": [f"f{i}".encode() for i in range(100)],
        b"coarse_label_names": [f"c{i}".encode() for i in range(20)],
    }
    (base / "meta").write_bytes(pickle.dumps(meta, protocol=2))
    return out


def _write_binary(root: Path, n: int = (10, 5), seed: int = 5) -> dict[str, tuple]:
    base = root / "cifar-100-binary"
    base.mkdir(parents=True)
    out = {}
    for i, name in enumerate(("train.bin", "test.bin")):
        data, fine, coarse = _content(n[i], seed + i)
        rec = np.concatenate([coarse[:, None], fine[:, None], data], axis=1).astype(np.uint8)
        rec.tofile(base / name)
        out[name] = (data, fine, coarse)
    return out


def _expected(parts: dict[str, tuple], which: int) -> tuple[np.ndarray, np.ndarray]:
    x = np.concatenate([p[0] for p in parts.values()]).reshape(-1, 3, 32, 32) / 255.0
    return x, np.concatenate([p[which] for p in parts.values()])


def test_python_format_reads_back_exactly(tmp_path: Path) -> None:
    parts = _write_python(tmp_path)
    x, y = load_cifar100(tmp_path)
    ex, ey = _expected(parts, 1)
    np.testing.assert_array_equal(x, ex)
    np.testing.assert_array_equal(y, ey)
    assert x.shape == (18, 3, 32, 32) and y.dtype == np.int64
    _, yc = load_cifar100(tmp_path / "cifar-100-python", "coarse")  # the folder itself works too
    np.testing.assert_array_equal(yc, _expected(parts, 2)[1])


def test_binary_format_reads_back_exactly_and_is_preferred(tmp_path: Path) -> None:
    _write_python(tmp_path)
    parts = _write_binary(tmp_path)
    x, y = load_cifar100(tmp_path)
    ex, ey = _expected(parts, 1)
    np.testing.assert_array_equal(x, ex)
    np.testing.assert_array_equal(y, ey)
    np.testing.assert_array_equal(load_cifar100(tmp_path, "coarse")[1], _expected(parts, 2)[1])


def test_load_dataset_dispatch(tmp_path: Path) -> None:
    parts = _write_binary(tmp_path)
    d = load_dataset("cifar100", root=tmp_path, seed=1)
    assert (
        d.n_outputs == 100
        and d.input_shape == (3, 32, 32)
        and d.n_train + len(d.split("test")[1]) == sum(p[0].shape[0] for p in parts.values())
    )
    assert load_dataset("cifar100-coarse", root=tmp_path).n_outputs == 20
    labels = np.sort(np.concatenate([d.split("train")[1], d.split("test")[1]]))
    np.testing.assert_array_equal(labels, np.sort(_expected(parts, 1)[1]))


@pytest.mark.parametrize(
    ("damage", "match"),
    [
        ("missing", "CIFAR-100 not found"),
        ("bin-size", "3074"),
        ("bin-fine-range", "0..99"),
        ("py-keys", "fine_labels"),
        ("py-count", "labels"),
        ("py-hostile", "pickle"),
        ("meta", "label_names"),
    ],
)
def test_damaged_folders_are_one_data_error(tmp_path: Path, damage: str, match: str) -> None:
    if damage.startswith("bin"):
        _write_binary(tmp_path)
        f = tmp_path / "cifar-100-binary" / "test.bin"
        if damage == "bin-size":
            f.write_bytes(f.read_bytes()[:-1])
        else:
            raw = np.fromfile(f, dtype=np.uint8).reshape(-1, 3074)
            raw[0, 1] = 100
            raw.tofile(f)
    elif damage.startswith("py") or damage == "meta":
        _write_python(tmp_path)
        f = tmp_path / "cifar-100-python" / ("meta" if damage == "meta" else "train")
        if damage == "py-keys":
            f.write_bytes(pickle.dumps({b"data": np.zeros((1, 3072), np.uint8)}))
        elif damage == "py-count":
            d = {b"data": np.zeros((2, 3072), np.uint8), b"fine_labels": [1]}
            f.write_bytes(pickle.dumps({**d, b"coarse_labels": [1, 2]}))
        elif damage == "py-hostile":
            f.write_bytes(pickle.dumps(Path("x")))
        else:
            f.write_bytes(pickle.dumps({b"fine_label_names": [b"a"]}))
    with pytest.raises(DataError, match=match):
        load_cifar100(tmp_path)


def test_bad_label_kind() -> None:
    with pytest.raises(InputError, match="fine"):
        load_cifar100(".", "medium")


def test_cli_bad_folder_is_one_line_exit_2(tmp_path: Path, capsys) -> None:  # type: ignore[no-untyped-def]
    (tmp_path / "empty").mkdir()
    code = main(["analyze", "--data", "cifar100", "--data-root", str(tmp_path / "empty"),
                 "--out", str(tmp_path / "r"), "--quiet"])  # fmt: skip
    err = capsys.readouterr().err
    assert code == 2 and err.startswith("hessrmt: error: ") and err.count("\n") == 1, err
    assert "CIFAR-100 not found" in err


def test_beyond_rmt_finds_cifar100(tmp_path: Path) -> None:
    from hessrmt.experiments.beyond_rmt.pipeline import BeyondConfig, cifar_sets_under, cnn_cases

    _write_binary(tmp_path)
    assert cifar_sets_under(tmp_path) == ("cifar100",)
    cfg = BeyondConfig(cnns=("vgg-small-bn",), data_root=str(tmp_path), cifar_sets=("cifar100",))
    assert ("vgg-small-bn", "cifar100", 1, cfg.cifar_samples) in cnn_cases(cfg)
    (tmp_path / "empty").mkdir()
    with pytest.raises(DataError, match="CIFAR-100"):
        cifar_sets_under(tmp_path / "empty")
