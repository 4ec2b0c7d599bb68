"""``hessrmt theory gan``: density and complexity modes, JSON keys, plots, one-line errors."""

from __future__ import annotations

import json

import pytest

from hessrmt.cli.main import main


def test_density_json(capsys: pytest.CaptureFixture[str]) -> None:
    rc = main(["theory", "gan", "--kappa", "0.9", "--b", "1", "--b1", "0.5", "--x1", "4",
               "--grid", "101", "--json"])  # fmt: skip
    assert rc == 0
    out = json.loads(capsys.readouterr().out)
    assert len(out["grid"]) == len(out["density"]) == 101
    assert len(out["support"]) == 2 and out["atoms"] == []
    assert out["mass"] == pytest.approx(1.0, abs=1e-8)
    assert out["variance"] == pytest.approx(2.0525)
    assert out["repository_quartic"]["variance"] > out["variance"] + 0.02


def test_density_limit_atoms_and_plot(tmp_path, capsys: pytest.CaptureFixture[str]) -> None:
    plot = tmp_path / "d.png"
    rc = main(["theory", "gan", "--kappa", "0.5", "--b", "0", "--b1", "1", "--x1", "2",
               "--json", "--plot", str(plot)])  # fmt: skip
    assert rc == 0
    out = json.loads(capsys.readouterr().out)
    assert out["atoms"] == [[0.0, 0.5]]
    assert out["mass"] == pytest.approx(1.0, abs=1e-8)
    assert plot.stat().st_size > 0


def test_complexity_json_and_plot(tmp_path, capsys: pytest.CaptureFixture[str]) -> None:
    plot = tmp_path / "t.svg"
    rc = main(["theory", "gan", "--p", "3", "--q", "3", "--kappa", "0.7", "--sigma-z", "0.001",
               "--x-points", "40", "--x1-points", "4", "--u-points", "30", "--json",
               "--plot", str(plot)])  # fmt: skip
    assert rc == 0
    out = json.loads(capsys.readouterr().out)
    assert {"theta_D", "theta_G", "theta_D_at_grid_edge", "theta_G_at_grid_edge"} <= set(out)
    assert plot.stat().st_size > 0


@pytest.mark.parametrize(
    "argv",
    [
        ["--kappa", "1.2", "--p", "5", "--q", "5", "--sigma-z", "1"],
        ["--kappa", "0", "--p", "5", "--q", "5", "--sigma-z", "1"],
        ["--kappa", "0.5", "--p", "5", "--q", "5", "--sigma-z", "0"],
        ["--kappa", "0.5", "--p", "5", "--q", "5", "--sigma-z", "-2"],
        ["--kappa", "0.5", "--p", "1", "--q", "5", "--sigma-z", "1"],
        ["--kappa", "0.5", "--p", "5", "--q", "0", "--sigma-z", "1"],
        ["--kappa", "0.5", "--b", "1"],
        ["--kappa", "0.5", "--b", "1", "--b1", "1", "--x1", "0", "--p", "3"],
        ["--kappa", "0.5", "--b", "-1", "--b1", "1", "--x1", "0"],
        ["--kappa", "0.5", "--b", "1", "--b1", "1", "--x1", "0", "--plot", "x.gif"],
    ],
)
def test_bad_input_is_one_line_exit_2(argv: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    rc = main(["theory", "gan", *argv])
    assert rc == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("hessrmt: error:") and "\n" not in err
