"""The files the bad-input table points at: damaged data sets, hostile pickles, user models,
checkpoints, eigenvalue files and run-folder leftovers, all small (built once per session)."""

from __future__ import annotations

import gzip
import json
import pickle
from pathlib import Path

import numpy as np

#: Files that a hostile pickle creates if it is ever executed (checked by the tests).
PWNED = ("PWNED-cifar", "PWNED-checkpoint", "PWNED-stats")


class Hostile:
    """Unpickling this calls ``open(path, "w")``: it creates a marker file (code execution)."""

    def __init__(self, path: Path) -> None:
        self.path = str(path)

    def __reduce__(self):  # type: ignore[no-untyped-def]
        return (open, (self.path, "w"))


def _idx(array: np.ndarray) -> bytes:
    header = bytes([0, 0, 0x08, array.ndim]) + b"".join(
        int(n).to_bytes(4, "big") for n in array.shape
    )
    return header + array.astype(np.uint8).tobytes()


def _mnist(root: Path, *, n_train: int = 20, n_test: int = 10) -> dict[str, bytes]:
    rng = np.random.default_rng(0)
    files = {
        "train-images-idx3-ubyte": _idx(rng.integers(0, 256, (n_train, 28, 28))),
        "train-labels-idx1-ubyte": _idx(rng.integers(0, 10, n_train)),
        "t10k-images-idx3-ubyte": _idx(rng.integers(0, 256, (n_test, 28, 28))),
        "t10k-labels-idx1-ubyte": _idx(rng.integers(0, 10, n_test)),
    }
    root.mkdir(parents=True)
    for name, data in files.items():
        (root / name).write_bytes(data)
    return files


def _cifar_py(root: Path, first: bytes | None = None) -> None:
    base = root / "cifar-10-batches-py"
    base.mkdir(parents=True)
    rng = np.random.default_rng(1)
    for name in [f"data_batch_{i}" for i in range(1, 6)] + ["test_batch"]:
        batch = {
            b"data": rng.integers(0, 256, (4, 3072)).astype(np.uint8),
            b"labels": [int(v) for v in rng.integers(0, 10, 4)],
        }
        (base / name).write_bytes(pickle.dumps(batch, protocol=2))
    if first is not None:
        (base / "data_batch_1").write_bytes(first)


def build(w: Path) -> None:
    """Write every fixture under ``w``."""
    import torch

    # -- eigenvalue files --------------------------------------------------------------------
    rng = np.random.default_rng(0)
    a = rng.standard_normal((60, 60))
    good = np.linalg.eigvalsh((a + a.T) / 2)
    np.save(w / "good.npy", good)
    (w / "garbage.npy").write_bytes(b"\x00\x01\x02 not numbers \xff\xfe")
    (w / "empty.npy").write_bytes(b"")
    (w / "letters.txt").write_text("one two three\n")
    (w / "comments.txt").write_text("# nothing\n# here\n")
    (w / "ragged.txt").write_text("1 2 3\n4 5\n")
    np.save(w / "nan.npy", np.r_[good, np.nan])
    np.save(w / "inf.npy", np.r_[good, np.inf])
    np.save(w / "few.npy", good[:5])
    np.save(w / "cube.npy", np.zeros((2, 3, 20)))
    np.save(w / "strings.npy", np.array(["a", "b", "c"] * 20))
    np.save(w / "objects.npy", np.array([1.0, "x"] * 30, dtype=object), allow_pickle=True)
    (w / "hostile.npy").write_bytes(pickle.dumps(Hostile(w / "PWNED-stats"), protocol=2))
    (w / "gz.npy").write_bytes(gzip.compress(b"1 2 3 4 5 6 7 8 9 10 11 12"))
    np.savez(w / "z.npz", a=good)
    (w / "truncated.npz").write_bytes((w / "z.npz").read_bytes()[:300])
    (w / "dir.npy").mkdir()

    # -- MNIST variants ----------------------------------------------------------------------
    _mnist(w / "mnist-ok")
    files = _mnist(w / "mnist-truncated")
    (w / "mnist-truncated" / "train-images-idx3-ubyte").write_bytes(
        files["train-images-idx3-ubyte"][:5000]
    )
    files = _mnist(w / "mnist-gzip-damaged")
    (w / "mnist-gzip-damaged" / "train-images-idx3-ubyte").unlink()
    gz = gzip.compress(files["train-images-idx3-ubyte"])
    (w / "mnist-gzip-damaged" / "train-images-idx3-ubyte.gz").write_bytes(gz[: len(gz) // 2])
    files = _mnist(w / "mnist-count")
    (w / "mnist-count" / "train-labels-idx1-ubyte").write_bytes(_idx(np.zeros(19)))
    _mnist(w / "mnist-labels")
    (w / "mnist-labels" / "t10k-labels-idx1-ubyte").write_bytes(_idx(np.full(10, 200)))
    _mnist(w / "mnist-not-idx")
    (w / "mnist-not-idx" / "t10k-images-idx3-ubyte").write_text("this is not an IDX file\n")
    (w / "mnist-missing").mkdir()

    # -- CIFAR-10 variants -------------------------------------------------------------------
    _cifar_py(w / "cifar-hostile", pickle.dumps(Hostile(w / "PWNED-cifar"), protocol=2))
    _cifar_py(w / "cifar-truncated", pickle.dumps({b"data": np.zeros((4, 3072))})[:40])
    _cifar_py(w / "cifar-wrong-dict", pickle.dumps({b"pixels": [1, 2, 3]}, protocol=2))
    bad_labels = {b"data": np.zeros((4, 3072), np.uint8), b"labels": [0, 1, 2, 11]}
    _cifar_py(w / "cifar-labels", pickle.dumps(bad_labels, protocol=2))
    (w / "cifar-bin" / "cifar-10-batches-bin").mkdir(parents=True)
    for name in [f"data_batch_{i}.bin" for i in range(1, 6)] + ["test_batch.bin"]:
        (w / "cifar-bin" / "cifar-10-batches-bin" / name).write_bytes(b"\x01" * 3000)

    # -- Bike variants -----------------------------------------------------------------------
    head = "instant,dteday,season,hr,temp,casual,registered,cnt\n"
    (w / "bike-text").mkdir()
    (w / "bike-text" / "hour.csv").write_text(head + "1,2011-01-01,1,0,0.24,3,13,16\n" * 30)
    with (w / "bike-text" / "hour.csv").open("a") as fh:
        fh.write("31,2011-01-02,1,0,warm,3,13,16\n")
    (w / "bike-nocnt").mkdir()
    (w / "bike-nocnt" / "hour.csv").write_text("a,b\n1,2\n")
    (w / "bike-binary").mkdir()
    (w / "bike-binary" / "hour.csv").write_bytes(gzip.compress(b"x" * 100))

    # -- user models ---------------------------------------------------------------------------
    (w / "badinput_models.py").write_text(
        "import sys\n"
        "from torch import nn\n"
        "def raises(input_shape, n_outputs):\n"
        "    raise ValueError('cannot build this')\n"
        "def exits(input_shape, n_outputs):\n"
        "    sys.exit(0)\n"
        "def wrong_outputs(input_shape, n_outputs):\n"
        "    return nn.Sequential(nn.Flatten(), nn.Linear(64, n_outputs + 3))\n"
        "def wrong_inputs(input_shape, n_outputs):\n"
        "    return nn.Sequential(nn.Flatten(), nn.Linear(7, n_outputs))\n"
        "def not_a_module(input_shape, n_outputs):\n"
        "    return 42\n"
        "not_callable = 3\n"
    )
    (w / "badinput_exits_on_import.py").write_text("import sys\nsys.exit(0)\n")

    # -- checkpoints (for mlp on digits: 64 -> 10 -> 100 -> 10) -------------------------------
    from hessrmt.nn.zoo import build_model

    mlp = build_model("mlp", input_shape=(1, 8, 8), n_outputs=10)
    state = {k: v.clone() for k, v in mlp.state_dict().items()}
    first = next(iter(state))
    state[first][0, 0] = float("nan")
    torch.save(state, w / "nan.pt")
    logreg = build_model("logreg", input_shape=(1, 8, 8), n_outputs=10)
    torch.save(logreg.state_dict(), w / "logreg.pt")
    (w / "junk.pt").write_text("not a checkpoint")
    (w / "hostile.pt").write_bytes(pickle.dumps(Hostile(w / "PWNED-checkpoint"), protocol=2))
    torch.save([1, 2, 3], w / "list.pt")

    # -- run-folder leftovers ------------------------------------------------------------------
    from hessrmt.runfolder import MARKER

    (w / "thesis" / "sub").mkdir(parents=True)
    (w / "thesis" / "thesis.tex").write_text("chapter 1")
    (w / "thesis" / "sub" / "data.csv").write_text("1,2")
    (w / "finished").mkdir()
    marker = {"hessrmt": "0", "kind": "analyze", "fingerprint": "x", "state": "complete"}
    (w / "finished" / MARKER).write_text(json.dumps(marker))
    (w / ".other.partial").mkdir()
    (w / ".other.partial" / MARKER).write_text(json.dumps({**marker, "state": "partial"}))
    (w / ".foreign.partial").mkdir()
    (w / ".foreign.partial" / "mine.txt").write_text("not hessrmt's")
    (w / "a_file").write_text("x")
    # report inputs
    (w / "run-tmp").mkdir()
    (w / "run-tmp" / MARKER).write_text(json.dumps({**marker, "state": "writing"}))
    (w / "run-tmp" / "summary.json").write_text(json.dumps({"spectra": ["trained"]}))
    np.savez(w / "run-tmp" / "spectrum.npz", trained=good)
    for name, summary, arrays in (
        ("run-wrong-keys", {"spectra": ["trained", "init"]}, {"other": good}),
        ("run-nan", {"spectra": ["trained"]}, {"trained": np.r_[good, np.nan]}),
        ("run-bad-summary", ["not", "a", "dict"], {"trained": good}),
        ("run-no-spectra", {"spectra": []}, {"trained": good}),
    ):
        (w / name).mkdir()
        (w / name / "summary.json").write_text(json.dumps(summary))
        np.savez(w / name / "spectrum.npz", **arrays)
    (w / "run-text-npz").mkdir()
    (w / "run-text-npz" / "summary.json").write_text(json.dumps({"spectra": ["trained"]}))
    (w / "run-text-npz" / "spectrum.npz").write_text("1 2 3")
    (w / "run-json-garbage").mkdir()
    (w / "run-json-garbage" / "summary.json").write_text("{not json")
    np.savez(w / "run-json-garbage" / "spectrum.npz", trained=good)
    (w / "run-missing-npz").mkdir()
    (w / "run-missing-npz" / "summary.json").write_text(json.dumps({"spectra": ["trained"]}))
