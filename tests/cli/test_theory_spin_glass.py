"""``hessrmt theory spin-glass``: table, JSON keys, plot, and one-line errors with exit 2."""

from __future__ import annotations

import json

import pytest

from hessrmt.cli.main import main

# docs/reference/oracles.md §12
E_P3 = [1.65700, 1.65287, 1.65025, 1.64840, 1.64700, 1.64589]


def _run(capsys, *argv):
    code = main(["theory", "spin-glass", *argv])
    out, err = capsys.readouterr()
    return code, out, err


def test_json_keys_and_values(capsys):
    code, out, err = _run(capsys, "--p", "3", "--json", "--u", "-1.65")
    assert code == 0, err
    d = json.loads(out)
    assert d["p"] == 3
    assert d["E_inf"] == pytest.approx(1.63299, abs=1e-5)
    assert d["E"] == pytest.approx(E_P3, abs=1e-5)
    assert len(d["theta_k"]) == 6 and d["theta_total"] == pytest.approx(d["theta_k"][0])
    # Theta_k(u) changes sign between E_2 and E_3 at u = -1.65
    assert d["theta_k"][2] > 0 > d["theta_k"][3]


def test_text_and_k(capsys):
    code, out, _ = _run(capsys, "--p", "10", "--k", "1")
    assert code == 0
    lines = out.splitlines()
    assert lines[1].split()[:2] == ["E_inf", "1.897367"]
    assert float(lines[2].split()[1]) == pytest.approx(2.13536, abs=1e-5)
    assert float(lines[3].split()[1]) == pytest.approx(2.09214, abs=1e-5)
    assert len(lines) == 4


def test_other_law_and_plot(capsys, tmp_path):
    plot = tmp_path / "theta.png"
    code, out, err = _run(capsys, "--p", "3", "--k", "1", "--law", "uniform", "--json",
                          "--plot", str(plot))  # fmt: skip
    assert code == 0, err
    d = json.loads(out)
    assert d["E"][0] > d["E"][1] > d["E_inf"] == pytest.approx(3**0.5 / (1.5**0.5), abs=1e-12)
    assert plot.stat().st_size > 1000


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--p", "1"], "p must be"),
        (["--p", "2.5"], "p must be"),
        (["--p", "3", "--k", "-1"], "k (the index)"),
        (["--p", "3", "--law", "atoms:0,1,2"], "no right edge"),
        (["--p", "3", "--law", "nonsense"], "unknown law"),
        (["--p", "3", "--u", "1e9"], "beyond"),
        (["--p", "3", "--plot", "x.gif"], "unsupported file type"),
    ],
)
def test_bad_input_one_line_exit_2(capsys, argv, message):
    code, _, err = _run(capsys, *argv)
    assert code == 2
    assert message in err and len(err.strip().splitlines()) == 1
    assert "Traceback" not in err
