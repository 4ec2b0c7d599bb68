"""``hessrmt stats``: formats, output, errors (one line, exit 2) and no torch import."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from hessrmt.cli.main import main
from hessrmt.rmt.ensembles import beta_hermite_eigenvalues
from hessrmt.rmt.summary import SUMMARY_KEYS

FAST = ["--n-null", "10"]


@pytest.fixture(scope="module")
def goe() -> np.ndarray:
    return beta_hermite_eigenvalues(150, 1, rng=1)


def run(argv: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    code = main(argv)
    out, err = capsys.readouterr()
    return code, out, err


def test_npy_json(tmp_path: Path, goe: np.ndarray, capsys: pytest.CaptureFixture[str]) -> None:
    f = tmp_path / "e.npy"
    np.save(f, goe)
    code, out, err = run(["stats", str(f), "--json", *FAST], capsys)
    assert code == 0 and err == ""
    assert len(out.strip().splitlines()) == 1
    d = json.loads(out)
    assert tuple(d) == SUMMARY_KEYS
    assert d["n_spectra"] == 1 and d["n_eigenvalues"] == 150


def test_table_output(tmp_path: Path, goe: np.ndarray, capsys: pytest.CaptureFixture[str]) -> None:
    f = tmp_path / "e.npy"
    np.save(f, goe)
    code, out, _ = run(["stats", str(f), *FAST], capsys)
    assert code == 0
    for label in ("zero fraction", "mean r~", "KS vs GOE", "verdict", "excluded"):
        assert label in out


def test_npz_first_array_and_key(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    batch = beta_hermite_eigenvalues(60, 1, 4, rng=2)
    f = tmp_path / "e.npz"
    np.savez(f, first=batch, other=np.arange(30.0) ** 2)
    code, out, _ = run(["stats", str(f), "--json", *FAST], capsys)
    assert code == 0 and json.loads(out)["n_spectra"] == 4
    code, out, _ = run(["stats", str(f), "--json", "--key", "other", *FAST], capsys)
    assert code == 0 and json.loads(out)["n_eigenvalues"] == 30


def test_text_file(tmp_path: Path, goe: np.ndarray, capsys: pytest.CaptureFixture[str]) -> None:
    f = tmp_path / "e.txt"
    np.savetxt(f, goe, header="eigenvalues")
    code, out, _ = run(["stats", str(f), "--json", *FAST], capsys)
    assert code == 0 and json.loads(out)["n_eigenvalues"] == 150
    g = tmp_path / "batch.csv"
    np.savetxt(g, beta_hermite_eigenvalues(40, 1, 3, rng=3), delimiter=",")
    code, out, _ = run(["stats", str(g), "--json", *FAST], capsys)
    assert code == 0 and json.loads(out)["n_spectra"] == 3


def test_float32_trap_warning(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    rng = np.random.default_rng(4)
    a = rng.standard_normal((120, 40))
    f = tmp_path / "f32.npy"
    np.save(f, np.linalg.eigvalsh((a @ a.T).astype(np.float32)).astype(np.float64))
    code, out, err = run(["stats", str(f), "--json", *FAST], capsys)
    assert code == 0
    assert err.startswith("hessrmt: warning:") and "float32" in err
    assert json.loads(out)["conventions"]["warnings"]
    code, out, err = run(["stats", str(f), "--json", "--dtype", "float32", *FAST], capsys)
    assert code == 0 and err == ""
    assert json.loads(out)["n_zero_roundoff"] == 80
    code, out, _ = run(["stats", str(f), *FAST], capsys)
    assert "warning:" in out


def _bad_files(tmp: Path) -> dict[str, tuple[list[str], str]]:
    good = np.linspace(-1.0, 1.0, 50) ** 3
    cases: dict[str, tuple[list[str], str]] = {}

    def save(name: str, arr: np.ndarray) -> str:
        p = tmp / name
        np.save(p, arr)
        return str(p)

    cases["nan"] = ([save("nan.npy", np.where(np.arange(50) == 3, np.nan, good))], "NaN")
    cases["inf"] = ([save("inf.npy", np.where(np.arange(50) == 3, np.inf, good))], "infinite")
    cases["complex"] = ([save("c.npy", good + 1j)], "complex")
    cases["few"] = ([save("few.npy", good[:8])], "need at least 10 bulk levels")
    cases["3d"] = ([save("cube.npy", np.zeros((2, 3, 20)))], "1-D")
    cases["missing"] = ([str(tmp / "nope.npy")], "not found")
    garbage = tmp / "garbage.npy"
    garbage.write_bytes(b"\x00\x01 not an npy file")
    cases["unreadable"] = ([str(garbage)], "cannot read")
    text = tmp / "words.txt"
    text.write_text("one two three\n")
    cases["text"] = ([str(text)], "cannot parse")
    empty = tmp / "empty.txt"
    empty.write_text("# nothing here\n")
    cases["empty text"] = ([str(empty)], "holds no numbers")
    ragged = tmp / "ragged.txt"
    ragged.write_text("1 2 3\n4 5\n")
    cases["ragged text"] = ([str(ragged)], "cannot parse")
    cases["bool"] = ([save("b.npy", np.ones(50, dtype=bool))], "real numeric array")
    z = tmp / "z.npz"
    np.savez(z, a=good)
    cases["missing key"] = ([str(z), "--key", "b"], "no array named 'b'")
    cases["key on npy"] = ([save("k.npy", good), "--key", "a"], ".npz files only")
    cases["directory"] = ([str(tmp)], "directory")
    return cases


def test_bad_input_is_one_line_exit_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    for name, (args, fragment) in _bad_files(tmp_path).items():
        code, out, err = run(["stats", *args, "--json"], capsys)
        assert code == 2, name
        assert out == "", name
        lines = err.strip().splitlines()
        assert len(lines) == 1 and lines[0].startswith("hessrmt: error:"), (name, err)
        assert fragment in lines[0], (name, lines[0])
        assert "Traceback" not in err


def test_subprocess_module_entry_and_no_torch(tmp_path: Path, goe: np.ndarray) -> None:
    # One subprocess: `python -m hessrmt stats` works, and -X importtime lists every module the
    # command imported, so torch must be absent from that list.
    f = tmp_path / "e.npy"
    np.save(f, goe)
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    env.pop("HESSRMT_DEBUG", None)
    proc = subprocess.run(
        [sys.executable, "-X", "importtime", "-m", "hessrmt", "stats", str(f), "--json", *FAST],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert tuple(json.loads(proc.stdout)) == SUMMARY_KEYS
    imported = {
        line.rsplit("|", 1)[-1].strip().split(".")[0]
        for line in proc.stderr.splitlines()
        if line.startswith("import time:")
    }
    assert "hessrmt" in imported and "numpy" in imported  # the log is really there
    assert "torch" not in imported


def test_json_equals_the_api_summary(
    tmp_path: Path, goe: np.ndarray, capsys: pytest.CaptureFixture[str]
) -> None:
    """Identity: the command's JSON is summarize_spectrum's dict for the same seed and nulls,
    and the table prints the same numbers."""
    from hessrmt.io import to_jsonable
    from hessrmt.rmt.summary import summarize_spectrum

    f = tmp_path / "e.npy"
    np.save(f, goe)
    code, out, _ = run(["stats", str(f), "--json", "--seed", "7", *FAST], capsys)
    assert code == 0
    expected = summarize_spectrum(goe, rng=7, n_null=10).to_summary_dict()
    assert json.loads(out) == json.loads(json.dumps(to_jsonable(expected)))
    code, table, _ = run(["stats", str(f), "--seed", "7", *FAST], capsys)
    row = next(line for line in table.splitlines() if line.startswith("mean r~"))
    assert f"{expected['mean_ratio']:.4g}" in row
    assert next(line for line in table.splitlines() if line.startswith("verdict")).endswith(
        str(expected["verdict"])
    )


def test_seed_reproducible_and_seed_matters(
    tmp_path: Path, goe: np.ndarray, capsys: pytest.CaptureFixture[str]
) -> None:
    f = tmp_path / "e.npy"
    np.save(f, goe)
    outs = [run(["stats", str(f), "--json", "--seed", s, *FAST], capsys)[1] for s in "112"]
    assert outs[0] == outs[1]
    a, c = json.loads(outs[0]), json.loads(outs[2])
    assert a["mean_ratio"] == c["mean_ratio"]  # data statistics do not depend on the seed
    assert a != c  # the simulated nulls and the bootstrap do


@pytest.mark.parametrize(
    ("option", "fragment"),
    [(["--n-null", "-1"], "--n-null"), (["--zero-rtol", "2"], "zero_rtol")],
)
def test_bad_option_values_are_one_line_exit_2(
    tmp_path: Path,
    goe: np.ndarray,
    capsys: pytest.CaptureFixture[str],
    option: list[str],
    fragment: str,
) -> None:
    f = tmp_path / "e.npy"
    np.save(f, goe)
    code, out, err = run(["stats", str(f), "--json", *option], capsys)
    assert code == 2 and out == ""
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("hessrmt: error:"), err
    assert fragment in lines[0], lines[0]


@pytest.mark.parametrize("which", ["file", "option"])
def test_float16_is_refused_in_one_line(
    tmp_path: Path, goe: np.ndarray, capsys: pytest.CaptureFixture[str], which: str
) -> None:
    """issue 19 item 3: float16 merged ~60 % of a GOE's levels and printed GSE; now refused."""
    f = tmp_path / "e.npy"
    np.save(f, goe.astype(np.float16) if which == "file" else goe)
    extra = ["--dtype", "float16"] if which == "option" else []
    code, out, err = run(["stats", str(f), *extra, *FAST], capsys)
    assert code == 2 and out == ""
    assert len(err.strip().splitlines()) == 1 and "float16" in err and "float32" in err


def test_huge_value_is_refused_not_called_zeros(
    tmp_path: Path, goe: np.ndarray, capsys: pytest.CaptureFixture[str]
) -> None:
    """issue 19 item 3: one 1e308 among 200 made the whole bulk 'zeros'."""
    f = tmp_path / "e.npy"
    np.save(f, np.append(np.concatenate([goe, goe[:49] + 0.001]), 1e308))
    code, out, err = run(["stats", str(f), "--json", *FAST], capsys)
    assert code == 2 and out == ""
    assert len(err.strip().splitlines()) == 1 and "1e+308" in err and "remove" in err


def test_table_shows_tests_interval_and_outliers(
    tmp_path: Path, goe: np.ndarray, capsys: pytest.CaptureFixture[str]
) -> None:
    f = tmp_path / "e.npy"
    np.save(f, np.append(goe, [9.0, -7.5]))
    code, out, _ = run(["stats", str(f), *FAST], capsys)
    assert code == 0
    assert "outliers        2 at -7.5, 9" in out
    for label in ("vs GOE", "vs Poisson", "Holm", "(95%)", "one selection", "unfolding"):
        assert label in out
