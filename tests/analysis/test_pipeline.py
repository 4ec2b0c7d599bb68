"""The analyze pipeline through its Python API: zoo models at tiny sizes, the Lanczos path,
interrupted runs that resume, determinism, and the true default run (slow)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from hessrmt.analysis import AnalysisConfig, analyze
from hessrmt.analysis import pipeline as P

TINY = dict(
    epochs=1, batch_hessians=2, batch_size=16, slq_probes=3, slq_steps=10, progress=False,
    family_fit=False,
)  # fmt: skip


def tiny(**kw: object) -> AnalysisConfig:
    return AnalysisConfig(**{**TINY, **kw})  # type: ignore[arg-type]


def check_run(out: Path, method: str) -> dict:
    summary = json.loads((out / "summary.json").read_text())
    assert summary["method"] == method
    assert (out / "report.html").stat().st_size > 10_000
    with np.load(out / "spectrum.npz") as z:
        for name in summary["spectra"]:
            assert z[name].ndim in (1, 2) and np.all(np.isfinite(z[name]))
            assert summary[name]["lambda_max"] == pytest.approx(float(z[name].max()))
    return summary


@pytest.mark.slow
def test_mlp_dense_with_result_object(tmp_path: Path) -> None:
    res = analyze(
        tiny(model="mlp", data="wine", n_samples=40, family_fit=True, family_boot=3),
        out=str(tmp_path / "r"),
    )
    assert res.out == str(tmp_path / "r")
    summary = check_run(tmp_path / "r", "dense")
    assert res.summary["n_params"] == summary["n_params"] == 13 * 10 + 10 + 10 * 100 + 100 + 303
    assert set(res.spectra) == {"trained", "init", "batch", "ggn", "residual"}
    assert res.spectra["batch"].shape == (2, summary["n_params"])
    assert set(res.verdicts()) == set(res.spectra)
    h, h0, h1 = (res.spectra[k] for k in ("trained", "ggn", "residual"))
    scale = np.abs(h).max()
    assert abs(h.sum() - h0.sum() - h1.sum()) <= 1e-9 * scale  # tr H = tr H0 + tr H1
    assert h0.min() >= -1e-10 * scale  # cross-entropy Gauss-Newton is PSD
    slq = res.summary["steps"]["slq"]
    assert 0 <= slq["wasserstein_to_exact"] < 0.5 * (h.max() - h.min())
    fam = summary["trained"]["family_fits"]  # the family table, best first, in the report
    assert fam["best"] == fam["families"][0]["family"]
    assert fam["conventions"]["n_boot"] == 3
    assert f"best first: {fam['best']}" in (tmp_path / "r" / "report.html").read_text()


@pytest.mark.slow
@pytest.mark.parametrize(
    ("model", "data", "extra"),
    [
        ("deep-mlp", "wine", {}),
        ("lenet", "digits", {}),
        ("regression-mlp", "synthetic-regression", {}),
    ],
)
def test_zoo_models_on_the_lanczos_path(tmp_path: Path, model: str, data: str, extra: dict) -> None:
    cfg = tiny(
        model=model, data=data, n_samples=40, max_dense_params=1000, lanczos_k=3,
        lanczos_restarts=3, subblock_size=40, **extra,
    )  # fmt: skip
    res = analyze(cfg, out=str(tmp_path / "r"))
    summary = check_run(tmp_path / "r", "lanczos")
    assert "exceeds the dense limit" in summary["method_reason"]
    assert "batch" not in summary["skipped"] and res.spectra["batch"].shape == (2, 6)
    assert summary["batch"]["n_spectra"] == 2 and summary["batch"]["verdict"] is None
    trained = res.spectra["trained"]
    assert trained.size == 6 and summary["trained"]["verdict"] is None
    # local statistics from per-layer principal sub-blocks (auto on the Lanczos path)
    assert summary["subblocks"]["mode"] == "layers" and summary["subblocks"]["blocks"]
    assert summary["steps"]["trained"]["max_restarts"] == 3
    # the SLQ trace estimate exists and lies within the spectrum's range times P
    tr = summary["trained"]["trace"]
    n = summary["n_params"]
    assert n * trained.min() - 1e-9 <= tr <= n * trained.max() + 1e-9
    if data == "synthetic-regression":
        assert summary["loss"] == "mse"


@pytest.mark.slow
def test_lanczos_extremes_agree_with_dense(tmp_path: Path) -> None:
    model = "tests.analysis.test_pipeline:small_net"  # P = 275, tanh (H1 != 0)
    cfg = tiny(model=model, data="wine", n_samples=60, batch_hessians=0, lanczos_k=4)
    dense = analyze(cfg, out=str(tmp_path / "d"))
    lz = analyze(cfg.replace(method="lanczos"), out=str(tmp_path / "l"))
    checked = []
    for name in ("trained", "init", "ggn", "residual"):
        exact = dense.spectra[name]
        got = lz.spectra[name]
        scale = np.abs(exact).max()
        np.testing.assert_allclose(got[-4:], exact[-4:], atol=1e-6 * scale)
        # single-vector Lanczos sees one copy of a multiple eigenvalue: compare the bottom end
        # only where it is not the (highly degenerate) null space, e.g. not for the PSD GGN
        if exact[3] < -1e-6 * scale:
            np.testing.assert_allclose(got[:4], exact[:4], atol=1e-6 * scale)
            checked.append(name)
    assert "trained" in checked


class Boom(RuntimeError):
    pass


@pytest.mark.slow
def test_interrupted_run_resumes(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    cfg = tiny(model="logreg", data="wine", out=str(tmp_path / "run"))
    reference = analyze(cfg.replace(out=str(tmp_path / "reference")))

    def crash(*a: object, **k: object) -> None:
        raise Boom("simulated crash")

    # 1. crash in the third step: no run folder, the first two steps are checkpointed
    with monkeypatch.context() as m:
        m.setattr(P, "step_trained_dense", crash)
        with pytest.raises(Boom):
            analyze(cfg)
    assert not (tmp_path / "run").exists()
    partial = tmp_path / ".run.partial"
    assert {"init.json", "train.json"} <= {p.name for p in partial.iterdir()}

    # 2. crash while writing the run folder: still no (half-written) run folder
    import hessrmt.report.analysis_report as R

    with monkeypatch.context() as m:
        m.setattr(R, "build_report", crash)
        with pytest.raises(Boom):
            analyze(cfg)
    assert not (tmp_path / "run").exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == [".run.partial", "reference"]

    # 3. the rerun computes nothing again and equals an uninterrupted run
    calls: list[str] = []
    for name in ("step_init", "step_train", "step_trained_dense", "_spectrum_step"):
        original = getattr(P, name)
        monkeypatch.setattr(
            P, name, lambda *a, _o=original, _n=name, **k: (calls.append(_n), _o(*a, **k))[1]
        )
    resumed = analyze(cfg)
    assert calls == []
    assert not partial.exists()
    for name, eigs in reference.spectra.items():
        np.testing.assert_array_equal(resumed.spectra[name], eigs)
    assert resumed.verdicts() == reference.verdicts()
    assert resumed.summary["trained"] == reference.summary["trained"]


@pytest.mark.slow
def test_stale_checkpoints_are_refused_then_discarded(tmp_path: Path, monkeypatch, capsys) -> None:  # type: ignore[no-untyped-def]
    from hessrmt.errors import InputError

    cfg = tiny(model="logreg", data="wine", out=str(tmp_path / "run"))

    def crash(*a: object, **k: object) -> None:
        raise Boom("simulated crash")

    with monkeypatch.context() as m:
        m.setattr(P, "step_trained_dense", crash)
        with pytest.raises(Boom):
            analyze(cfg)
    with pytest.raises(InputError, match="other settings"):
        analyze(cfg.replace(seed=1))
    assert (tmp_path / ".run.partial" / "init.json").exists()  # refused: nothing deleted
    capsys.readouterr()
    other = analyze(cfg.replace(seed=1, progress=True, overwrite=True))
    err = capsys.readouterr().err
    assert "discarded checkpoints of other settings" in err
    assert other.summary["seed"] == 1 and (tmp_path / "run" / "summary.json").exists()


@pytest.mark.slow
def test_same_seed_same_numbers(tmp_path: Path) -> None:
    cfg = tiny(model="logreg", data="wine", batch_hessians=1)
    a = analyze(cfg, out=str(tmp_path / "a"))
    b = analyze(cfg, out=str(tmp_path / "b"))
    for name in a.spectra:
        np.testing.assert_array_equal(a.spectra[name], b.spectra[name])
    assert a.summary["trained"] == b.summary["trained"]


@pytest.mark.slow
def test_true_default_run(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys) -> None:  # type: ignore[no-untyped-def]
    """``hessrmt analyze`` with no arguments: mlp on digits, all steps, runs/<timestamp>."""
    from hessrmt.cli.main import main

    monkeypatch.chdir(tmp_path)
    assert main(["analyze"]) == 0
    out = capsys.readouterr().out
    runs = list((tmp_path / "runs").iterdir())
    assert len(runs) == 1 and str(runs[0].relative_to(tmp_path)) in out
    summary = check_run(runs[0], "dense")
    assert summary["model"] == "mlp" and summary["data"]["name"] == "digits"
    assert summary["n_params"] == 64 * 10 + 10 + 10 * 100 + 100 + 100 * 10 + 10
    assert summary["batch"]["n_spectra"] == AnalysisConfig().batch_hessians
    assert summary["training"]["train_accuracy"] > 0.5
    for name in ("trained", "init", "batch", "ggn", "residual"):
        assert summary[name]["verdict"] in (
            "GOE",
            "GUE",
            "GSE",
            "Poisson",
            "intermediate",
            "inconclusive",
        )
    assert "verdict" in out and "report.html" in out


def tiny_net(input_shape: tuple[int, ...], n_outputs: int):  # type: ignore[no-untyped-def]
    """A user model for ``--model tests.analysis.test_pipeline:tiny_net`` (tanh: H1 != 0)."""
    import math

    from torch import nn

    return nn.Sequential(
        nn.Flatten(), nn.Linear(math.prod(input_shape), 4), nn.Tanh(), nn.Linear(4, n_outputs)
    )


def small_net(input_shape: tuple[int, ...], n_outputs: int):  # type: ignore[no-untyped-def]
    import math

    from torch import nn

    return nn.Sequential(
        nn.Flatten(), nn.Linear(math.prod(input_shape), 16), nn.Tanh(), nn.Linear(16, n_outputs)
    )


@pytest.mark.slow
def test_user_model_from_module_path(tmp_path: Path) -> None:
    res = analyze(
        tiny(model="tests.analysis.test_pipeline:tiny_net", data="wine", n_samples=80),
        out=str(tmp_path / "r"),
    )
    assert res.summary["n_params"] == 13 * 4 + 4 + 4 * 3 + 3
    h, h0, h1 = (res.spectra[k] for k in ("trained", "ggn", "residual"))
    scale = np.abs(h).max()
    assert np.abs(h1).max() > 1e-6 * scale  # a tanh network has a non-zero residual part
    assert abs(h.sum() - h0.sum() - h1.sum()) <= 1e-10 * scale * h.size
