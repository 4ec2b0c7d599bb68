"""``hessrmt reproduce gan``: a reduced quick mode end to end (sections, report, CLI line)."""

from __future__ import annotations

import dataclasses
import json

import pytest

from hessrmt.errors import InputError
from hessrmt.experiments.gan import pipeline


def _tiny() -> pipeline.GanConfig:
    return dataclasses.replace(
        pipeline.quick_config(0), n=40, n_samples=6, n_null=5, logdet_sizes=(20, 40),
        logdet_samples=6, logdet_x=(-4.0, 1.5), x_points=40, x1_points=3, u_points=20, nodes=60,
        sigma_grid=(1e-3, 1.0, 100.0), kappa_grid=(0.3, 0.7), max_index=1,
    )  # fmt: skip


def test_reduced_quick_run(tmp_path) -> None:
    out = tmp_path / "run"
    s = pipeline.run(_tiny(), out, progress=False)
    on_disk = json.loads((out / "summary.json").read_text())
    for key in ("density_checks", "logdet_checks", "thresholds", "sweeps", "gan_runs"):
        assert key in s and key in on_disk
    assert len(s["density_checks"]) == 4
    assert on_disk["gan_runs"]["status"] == "not run"
    assert len(on_disk["sweeps"]["sigma_z"]["p=5,q=5"]["theta_D"]) == 3
    assert len(on_disk["thresholds"]["bands"]) == 4
    for d in on_disk["density_checks"].values():
        assert d["moments"]["n"] == 40 and 0 < d["ks"]["pvalue"] <= 1
    html = (out / "report.html").read_text()
    assert "GAN experiment" in html and "not implemented" in html
    with pytest.raises(InputError, match="overwrite"):
        pipeline.run(_tiny(), out, progress=False)
