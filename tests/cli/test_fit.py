"""``hessrmt fit``: JSON contract, table output, errors as one line with exit status 2."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from hessrmt.cli.main import main
from hessrmt.rmt import ensembles as E


def run(argv: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    code = main(argv)
    out, err = capsys.readouterr()
    return code, out, err


def test_json_contract(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    f = tmp_path / "e.npz"
    np.savez(f, other=np.arange(3.0), eigs=np.linalg.eigvalsh(E.wishart(300, 150, rng=1)))
    argv = ["fit", str(f), "--key", "eigs", "--json", "--n-boot", "8"]
    argv += ["--family", "semicircle", "--family", "marchenko-pastur"]
    code, out, err = run(argv, capsys)
    assert code == 0 and err == ""
    d = json.loads(out)
    assert d["best"] == "marchenko-pastur" == d["families"][0]["family"]
    assert {f["family"] for f in d["families"]} == {"semicircle", "marchenko-pastur"}
    for fam in d["families"]:
        assert {"family", "params", "w1", "ks", "pvalue", "n_params"} <= set(fam)
    assert d["families"][0]["w1"] <= d["families"][1]["w1"]
    assert d["conventions"]["method"] == "w1" and "zero_mass" in d["families"][0]["params"]
    code, out, _ = run([*argv, "--method", "moments"], capsys)
    assert code == 0 and json.loads(out)["conventions"]["method"] == "moments"


def test_table(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    f = tmp_path / "e.txt"
    np.savetxt(f, np.linalg.eigvalsh(E.goe(100, rng=2)))
    code, out, _ = run(["fit", str(f), "--n-boot", "5", "--family", "semicircle"], capsys)
    assert code == 0
    assert "best: semicircle" in out and "W1" in out


@pytest.mark.parametrize(
    ("content", "args", "fragment"),
    [
        (None, [], "not found"),
        ("", [], "empty"),
        ("# only a comment\n", [], "no numbers"),
        ("1 1 1 1 1 1 1 1 1 1 1 1\n", [], "constant"),
        ("1 2 3\n", [], "at least 10"),
        ("\n".join(str(i) for i in range(20)), ["--family", "gaussian"], "unknown family"),
        ("abc def\n", [], "cannot parse"),
        ("\n".join(str(i) for i in range(20)), ["--method", "ml"], "unknown fitting method"),
        ("\n".join(str(i) for i in range(20)), ["--atom", "free"], "atom must be"),
        ("\n".join(str(i) for i in range(20)), ["--zero-rtol", "2"], "--zero-rtol must be"),
    ],
)
def test_errors_one_line_exit_2(
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    content: str | None,
    args: list[str],
    fragment: str,
) -> None:
    f = tmp_path / "e.txt"
    if content is not None:
        f.write_text(content)
    code, out, err = run(["fit", str(f), "--json", *args], capsys)
    assert code == 2 and out == ""
    assert len(err.strip().splitlines()) == 1 and fragment in err, err


def test_pvalue_at_the_bootstrap_floor(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """A Marchenko-Pastur spectrum fitted by the semicircle: no refitted replicate is as far from
    its law, so p = 1/(B + 1): the table prints "<= 1/(B + 1)" and the JSON flags it; the right
    family's p is above the floor and printed as a number."""
    f = tmp_path / "e.npy"
    np.save(f, np.linalg.eigvalsh(E.wishart(300, 600, rng=1)))
    base = ["fit", str(f), "--n-boot", "20", "--family", "semicircle"]
    code, out, _ = run([*base, "--json"], capsys)
    fam = json.loads(out)["families"][0]
    assert code == 0 and fam["pvalue_floor"] == pytest.approx(1 / 21)
    assert fam["pvalue_at_floor"] and fam["pvalue"] == pytest.approx(1 / 21)
    code, out, _ = run(base, capsys)
    assert "p <= 0.0476 " in out
    code, out, _ = run(["fit", str(f), "--n-boot", "20", "--family", "marchenko-pastur"], capsys)
    line = next(x for x in out.splitlines() if x.startswith("marchenko-pastur"))
    assert "p <=" not in line and " p " in line


def _float32_wishart() -> np.ndarray:
    """A rank-deficient Wishart spectrum (40 % exact zeros) as float32 eigenvalues: its zeros
    are round-off of ~1e-7 max|l|, as a float32 eigensolver leaves them."""
    x = np.linalg.eigvalsh(E.wishart(300, 180, rng=4))
    zeros = np.abs(x) < 1e-9 * np.abs(x).max()
    noise = np.random.default_rng(0).standard_normal(x.size) * 1e-7 * np.abs(x).max()
    return np.where(zeros, noise, x).astype(np.float32)


def test_zero_tolerance_follows_the_precision(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    eigs = _float32_wishart()
    true_zeros = 120 / 300
    f = tmp_path / "e.npy"
    np.save(f, eigs)
    argv = ["fit", str(f), "--json", "--n-boot", "0", "--family", "marchenko-pastur"]
    code, out, _ = run(argv, capsys)  # the file's float32: zeros |l| <= 1e-4 max|l|
    assert code == 0
    d = json.loads(out)
    assert d["conventions"]["zero_tolerance"] == "|l| <= 0.0001 max|l| set to 0"
    assert d["families"][0]["params"]["zero_mass"] == pytest.approx(true_zeros, abs=1e-9)
    # declared float64 (the float32 trap): the round-off zeros are not zeros, the atom is lost
    code, out, _ = run([*argv, "--dtype", "float64"], capsys)
    d64 = json.loads(out)
    assert d64["conventions"]["zero_tolerance"].startswith("|l| < 1e-9")
    assert d64["families"][0]["params"]["zero_mass"] < 0.05
    assert d64["families"][0]["w1"] > d["families"][0]["w1"]
    code, out, _ = run([*argv, "--dtype", "float64", "--zero-rtol", "1e-5"], capsys)
    assert json.loads(out)["families"][0]["params"]["zero_mass"] == pytest.approx(true_zeros)
    code, out, _ = run([a for a in argv if a != "--json"], capsys)  # the table says it too
    assert code == 0 and "zeros: |l| <= 0.0001 max|l|" in out.splitlines()[0]


def test_family_fit_record_uses_the_run_precision() -> None:
    from hessrmt.analysis.statistics import family_fit_record

    eigs = _float32_wishart().astype(np.float64)
    f32 = family_fit_record(eigs, n_boot=0, dtype="float32")
    f64 = family_fit_record(eigs, n_boot=0, dtype="float64")
    assert f32["conventions"]["zero_tolerance"] == "|l| <= 0.0001 max|l| set to 0"
    assert f64["conventions"]["zero_tolerance"].startswith("|l| < 1e-9")
    mp32 = next(f for f in f32["families"] if f["family"] == "marchenko-pastur")
    assert mp32["params"]["zero_mass"] == pytest.approx(120 / 300, abs=1e-9)
