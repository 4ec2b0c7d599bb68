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
