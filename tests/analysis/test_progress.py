"""The product progress bar of the analyze pipeline's Krylov steps."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from hessrmt.analysis.progress import product_progress
from hessrmt.analysis.spectra import lanczos_spectrum, slq_density
from hessrmt.curvature.linop import DenseOperator


def _op(n: int = 60) -> DenseOperator:
    rng = np.random.default_rng(0)
    A = rng.standard_normal((n, n))
    return DenseOperator(torch.tensor((A + A.T) / 2))


def test_bar_counts_products_and_restores_the_hook(capsys: pytest.CaptureFixture[str]) -> None:
    op = _op()
    seen: list[int] = []
    op.on_products = seen.append  # a hook already set is chained and put back
    with product_progress(op, "demo", enabled=True, total=7) as bar:
        op.matmat(torch.zeros(60, 3, dtype=torch.float64))
        op.matvec(torch.zeros(60, dtype=torch.float64))
        assert bar.n == 4 and bar.total == 7
    assert "demo" in capsys.readouterr().err
    assert seen == [3, 1] and op.on_products == seen.append
    plain = _op()
    with pytest.raises(RuntimeError), product_progress(plain, "x", enabled=True):
        raise RuntimeError("boom")
    assert "on_products" not in plain.__dict__ and plain.on_products is None


def test_disabled_or_without_hook_prints_nothing(capsys: pytest.CaptureFixture[str]) -> None:
    op = _op()
    with product_progress(op, "demo", enabled=False) as bar:
        op.matvec(torch.zeros(60, dtype=torch.float64))
    assert bar is None and "on_products" not in op.__dict__
    with product_progress(np.eye(3), "matrix", enabled=True) as bar:  # no hook: nothing to count
        assert bar is None
    assert capsys.readouterr().err == ""


def test_krylov_steps_report_their_products(capsys: pytest.CaptureFixture[str]) -> None:
    op = _op()
    eigs, info = lanczos_spectrum(op, 3, progress=True)
    err = capsys.readouterr().err
    assert "Lanczos, 3 at the bottom" in err and "Lanczos, 3 at the top" in err
    assert eigs.size == 6 and info["num_matvecs"] == op.num_matvecs
    _, sinfo = slq_density(_op(), num_probes=2, num_steps=5, seed=0, progress=True)
    err = capsys.readouterr().err
    assert "SLQ density" in err and "/10" in err and sinfo["num_matvecs"] == 10
    lanczos_spectrum(_op(), 3, progress=False)
    assert capsys.readouterr().err == ""
