"""Layered critical points with fitted laws (experiments/beyond_rmt/layered).

Oracle: the semicircle fitted by W1 to a GOE spectrum, tabulated, gives ABC's threshold and band
edges (hessrmt.rmt.complexity with the exact semicircle) to 1e-3; a law of another shape (MP
data) gives different bands; a family that cannot be fitted is reported, not raised.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from hessrmt.experiments.beyond_rmt.layered import layered_bands, layered_figure
from hessrmt.rmt import ensembles as E

pytestmark = pytest.mark.usefixtures("one_thread")


def test_semicircle_fit_reproduces_abc_bands(tmp_path: Path) -> None:
    x = np.linalg.eigvalsh(E.goe(1500, rng=0))
    res = layered_bands(x, ["semicircle", "marchenko-pastur", "percolated-wigner"], kmax=2)
    abc, sc = res["abc"], res["laws"]["semicircle"]
    assert sc["E_inf"] == pytest.approx(abc["E_inf"], abs=1e-3)
    assert np.allclose(sc["E"], abc["E"], atol=1e-3)
    assert all(sc["layered"])
    assert "error" in res["laws"]["marchenko-pastur"]  # a law on [0, inf) on a GOE spectrum
    assert "unbounded support" in res["laws"]["percolated-wigner"]["error"]
    if layered_figure({"goe": res}, tmp_path / "f.png"):
        assert (tmp_path / "f.png").stat().st_size > 1000


def test_another_shape_moves_the_bands() -> None:
    x = np.linalg.eigvalsh(E.wishart(600, 1200, rng=1))  # MP(0.5): skewed, square-root edges
    res = layered_bands(x, ["marchenko-pastur"], kmax=1)
    mp = res["laws"]["marchenko-pastur"]
    assert abs(mp["E_inf"] - res["abc"]["E_inf"]) > 0.05
