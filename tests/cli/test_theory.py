"""``hessrmt theory pennington-bahri``: output, JSON, plot and one-line errors (exit 2)."""

from __future__ import annotations

import json

import numpy as np
import pytest

from hessrmt.cli.main import main


def _run(capsys, *argv):
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def test_text_output_has_all_fields(capsys):
    code, out, err = _run(capsys, "theory", "pennington-bahri", "--phi", "0.25", "--eps", "0.1")
    assert code == 0, err
    fields = dict(line.split(None, 1) for line in out.splitlines()[1:])
    for key in ("phi", "epsilon", "epsilon_c", "index", "alpha0", "support", "atoms"):
        assert key in fields
    # docs/reference/oracles.md section 13 table (phi = 0.25): eps_c = 0.043510, alpha(0.1) =
    # 0.05398
    assert float(fields["epsilon_c"]) == pytest.approx(0.043510, abs=1e-6)
    assert float(fields["index"]) == pytest.approx(0.05398, abs=2e-5)
    assert fields["atoms"] == "none"


def test_json_output(capsys):
    code, out, _ = _run(
        capsys, "theory", "pennington-bahri", "--phi", "0.5", "--eps", "0.2", "--json", "--grid",
        "51",
    )  # fmt: skip
    assert code == 0
    d = json.loads(out)
    assert d["phi"] == 0.5 and d["epsilon"] == 0.2
    assert d["index"] == pytest.approx(0.17047, abs=2e-5)
    assert d["epsilon_c"] == pytest.approx(0.011271, abs=1e-6)
    assert d["alpha0"] == pytest.approx(0.033501, abs=1e-6)
    [[a, b]] = d["support"]
    # oracle: the edges of MP(phi) boxplus sc(2 eps) are the critical values of the inverse
    # Stieltjes map z(G) = 1/(1 - phi G) + 2 eps G + 1/G, i.e. z at the real roots of
    # G^2 z'(G) (1 - phi G)^2 = phi G^2 + 2 eps G^2 (1 - phi G)^2 - (1 - phi G)^2 (a quartic)
    phi, eps = 0.5, 0.2
    one = np.polynomial.Polynomial([1.0, -phi])
    g2 = np.polynomial.Polynomial([0.0, 0.0, 1.0])
    roots = (phi * g2 + 2 * eps * g2 * one**2 - one**2).roots()
    g = roots[np.abs(roots.imag) < 1e-12].real
    edges = np.sort(1 / (1 - phi * g) + 2 * eps * g + 1 / g)
    assert (a, b) == pytest.approx((edges[0], edges[-1]), abs=1e-8)
    assert a < 0 < b
    assert d["atoms"] == []
    assert "H1" in d["conventions"]


def test_phi_above_one_at_zero_energy_reports_the_atom(capsys):
    code, out, _ = _run(
        capsys, "theory", "pennington-bahri", "--phi", "2", "--eps", "0", "--json", "--grid", "51"
    )
    assert code == 0
    d = json.loads(out)
    assert d["atoms"] == [[0.0, pytest.approx(0.5, abs=1e-12)]]
    assert d["h0_atom"] == pytest.approx(0.5, abs=1e-12)
    assert d["alpha0"] is None
    assert d["epsilon_c"] == 0.0


def test_plot_writes_png(capsys, tmp_path):
    path = tmp_path / "density.png"
    code, out, _ = _run(
        capsys, "theory", "pennington-bahri", "--phi", "0.75", "--eps", "0.05", "--plot",
        str(path), "--grid", "101",
    )  # fmt: skip
    assert code == 0
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert str(path) in out


@pytest.mark.parametrize(
    ("phi", "eps", "word"),
    [("0", "0.1", "phi"), ("-0.5", "0.1", "phi"), ("0.5", "-0.1", "epsilon"), ("nan", "1", "phi")],
)
def test_bad_values_one_line_exit_2(capsys, phi, eps, word):
    code, out, err = _run(capsys, "theory", "pennington-bahri", "--phi", phi, "--eps", eps)
    assert code == 2
    assert out == ""
    lines = err.strip().splitlines()
    assert len(lines) == 1
    assert lines[0].startswith("hessrmt: error:") and word in lines[0]


def test_bad_plot_suffix_is_an_input_error(capsys, tmp_path):
    code, _, err = _run(
        capsys, "theory", "pennington-bahri", "--phi", "0.5", "--eps", "0.1", "--plot",
        str(tmp_path / "x.bmp"), "--grid", "11",
    )  # fmt: skip
    assert code == 2
    assert "unsupported" in err


def test_missing_theory_or_argument_exits_2(capsys):
    with pytest.raises(SystemExit) as exc:
        main(["theory"])
    assert exc.value.code == 2
    with pytest.raises(SystemExit) as exc:
        main(["theory", "pennington-bahri", "--phi", "0.5"])
    assert exc.value.code == 2


def test_grid_too_small_is_one_line_exit_2(capsys):
    code, out, err = _run(
        capsys, "theory", "pennington-bahri", "--phi", "0.5", "--eps", "0.1", "--grid", "2"
    )
    assert code == 2 and out == ""
    assert err.count("\n") == 1 and err.startswith("hessrmt: error:") and "--grid" in err
