"""``hessrmt analyze`` and ``hessrmt report`` end to end, at tiny sizes, through the CLI.

Oracles: the trained spectrum against an independent dense float64 Hessian
(``torch.func.hessian`` of the full-data loss of the saved ``model.pt``); tr H = tr H0 + tr H1;
H0 positive semi-definite for cross-entropy; for softmax regression H = H0 (H1 = 0); the summary's
records recomputed from ``spectrum.npz``. Bad input: one line on stderr, exit status 2.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from hessrmt.cli.main import main

TINY = [
    "--epochs", "2", "--batch-hessians", "3", "--batch-size", "24", "--slq-probes", "3",
    "--slq-steps", "12", "--quiet", "--no-family-fit",
]  # fmt: skip
REQUIRED = (
    "n_spectra", "n_eigenvalues", "zero_fraction", "n_outliers", "mean_ratio", "mean_ratio_se",
    "reference", "ks_goe", "ks_poisson", "beta_fit", "verdict", "conventions", "lambda_max",
    "lambda_min", "trace", "n_negative",
)  # fmt: skip


def run_cli(args: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    code = main(args)
    out, err = capsys.readouterr()
    return code, out, err


@pytest.fixture(scope="module")
def logreg_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("logreg") / "run"
    code = main(["analyze", "--model", "logreg", "--data", "wine", *TINY, "--out", str(out)])
    assert code == 0
    return out


def test_run_folder_contents(logreg_run: Path) -> None:
    names = {p.name for p in logreg_run.iterdir()}
    assert {"summary.json", "spectrum.npz", "slq.npz", "model.pt", "report.html"} <= names
    assert not (logreg_run.parent / f".{logreg_run.name}.partial").exists()
    assert [p.name for p in logreg_run.parent.iterdir()] == [logreg_run.name]  # no temp dirs
    summary = json.loads((logreg_run / "summary.json").read_text())
    for key in ("n_params", "method", "dtype", "seed", "versions"):
        assert key in summary
    assert summary["n_params"] == 13 * 3 + 3 and summary["method"] == "dense"
    # --no-family-fit: no family table (it is on by default; tests/analysis/test_pipeline.py)
    assert "family_fits" not in summary["trained"]
    assert summary["settings"]["family_fit"] is False
    assert summary["conventions"]["family_fits"] == "not computed (family_fit off)"
    with np.load(logreg_run / "spectrum.npz") as z:
        assert sorted(z.files) == sorted(["trained", "init", "batch", "ggn", "residual"])
        assert z["batch"].shape == (3, 42)
        for name in z.files:
            rec = summary[name]
            missing = [k for k in REQUIRED if k not in rec]
            assert not missing, (name, missing)
            np.testing.assert_allclose(rec["trace"], z[name].sum(axis=-1).mean(), rtol=1e-12)
            assert rec["lambda_max"] == z[name].max() and rec["lambda_min"] == z[name].min()


def test_trained_spectrum_matches_independent_hessian(logreg_run: Path) -> None:
    """Oracle: torch.func.hessian of the mean cross-entropy over the whole training split."""
    import torch

    from hessrmt.data import load_dataset
    from hessrmt.nn.zoo import build_model

    ds = load_dataset("wine", seed=0)
    model = build_model("logreg", input_shape=ds.input_shape, n_outputs=ds.n_outputs)
    model.load_state_dict(torch.load(logreg_run / "model.pt", weights_only=True))
    X = torch.as_tensor(ds.X_train)
    y = torch.as_tensor(ds.y_train)
    names = [n for n, _ in model.named_parameters()]
    params = tuple(p.detach() for _, p in model.named_parameters())

    def loss(*ps: torch.Tensor) -> torch.Tensor:
        out = torch.func.functional_call(model, dict(zip(names, ps)), (X,))
        return torch.nn.functional.cross_entropy(out, y)

    blocks = torch.func.hessian(loss, argnums=tuple(range(len(params))))(*params)
    sizes = [p.numel() for p in params]
    H = torch.cat(
        [torch.cat([blocks[i][j].reshape(sizes[i], sizes[j]) for j in range(len(params))], 1)
         for i in range(len(params))]
    )  # fmt: skip
    expected = np.linalg.eigvalsh(H.numpy())
    with np.load(logreg_run / "spectrum.npz") as z:
        got = z["trained"]
    scale = np.abs(expected).max()
    np.testing.assert_allclose(got, expected, atol=1e-10 * scale)


def test_decomposition_identities(logreg_run: Path) -> None:
    with np.load(logreg_run / "spectrum.npz") as z:
        h, h0, h1 = z["trained"], z["ggn"], z["residual"]
    scale = np.abs(h).max()
    np.testing.assert_allclose(h.sum(), h0.sum() + h1.sum(), atol=1e-10 * scale * h.size)
    assert h0.min() >= -1e-10 * scale  # Gauss-Newton of cross-entropy is PSD
    assert np.abs(h1).max() <= 1e-10 * scale  # softmax regression: H = H0 exactly
    np.testing.assert_allclose(h, h0, atol=1e-10 * scale)


def test_summary_recomputable_from_npz(logreg_run: Path) -> None:
    from hessrmt.analysis.statistics import spectrum_record

    summary = json.loads((logreg_run / "summary.json").read_text())
    with np.load(logreg_run / "spectrum.npz") as z:
        for name in ("trained", "batch"):
            rec = spectrum_record(z[name], seed=summary["seed"], dtype=summary["dtype"])
            for key in ("mean_ratio", "zero_fraction", "verdict", "n_outliers", "trace"):
                assert rec.get(key) == summary[name].get(key), (name, key)


def test_report_rebuild(logreg_run: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (logreg_run / "report.html").unlink()
    code, out, _ = run_cli(["report", str(logreg_run)], capsys)
    assert code == 0 and "report.html" in out
    html = (logreg_run / "report.html").read_text()
    assert html.count('src="data:image/png;base64,') >= 5


def test_report_of_missing_folder(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = run_cli(["report", str(tmp_path / "nope")], capsys)
    assert code == 2 and err.count("\n") == 1 and "not found" in err


def one_line_error(args: list[str], capsys: pytest.CaptureFixture[str]) -> str:
    code, _, err = run_cli(args, capsys)
    assert code == 2, err
    assert err.startswith("hessrmt: error: ") and err.count("\n") == 1, err
    return err


def test_model_path_that_does_not_import(tmp_path: Path, capsys) -> None:  # type: ignore[no-untyped-def]
    err = one_line_error(
        ["analyze", "--model", "no_such_pkg.models:build", "--out", str(tmp_path / "r"), "--quiet"],
        capsys,
    )
    assert "cannot import" in err and "no_such_pkg" in err
    assert not (tmp_path / "r").exists()


def test_checkpoint_that_does_not_match(tmp_path: Path, capsys) -> None:  # type: ignore[no-untyped-def]
    import torch

    ckpt = tmp_path / "other.pt"
    torch.save(torch.nn.Linear(3, 2).state_dict(), ckpt)
    args = ["analyze", "--model", "logreg", "--data", "wine", "--batch-hessians", "0",
            "--checkpoint", str(ckpt)]  # fmt: skip
    err = one_line_error([*args, "--out", str(tmp_path / "r"), "--quiet"], capsys)
    assert "does not match" in err
    err = one_line_error(
        [*args[:-1], str(tmp_path / "missing.pt"), "--out", str(tmp_path / "r"), "--quiet"],
        capsys,
    )
    assert "not found" in err
    assert not (tmp_path / "r").exists()


def test_missing_data_root(tmp_path: Path, capsys) -> None:  # type: ignore[no-untyped-def]
    err = one_line_error(
        ["analyze", "--data", "mnist", "--data-root", str(tmp_path / "absent"), "--quiet",
         "--out", str(tmp_path / "r")],
        capsys,
    )  # fmt: skip
    assert "does not exist" in err
    err = one_line_error(["analyze", "--data", "cifar10", "--out", str(tmp_path / "r")], capsys)
    assert "--data-root" in err


def test_unwritable_out(tmp_path: Path, capsys) -> None:  # type: ignore[no-untyped-def]
    blocker = tmp_path / "a_file"
    blocker.write_text("x")
    err = one_line_error(["analyze", "--out", str(blocker / "run"), "--quiet"], capsys)
    assert "--out" in err
    err = one_line_error(["analyze", "--out", str(blocker), "--quiet"], capsys)
    assert "not a folder" in err


def test_existing_run_folder_needs_overwrite(logreg_run: Path, capsys) -> None:  # type: ignore[no-untyped-def]
    err = one_line_error(["analyze", "--out", str(logreg_run), "--quiet"], capsys)
    assert "--overwrite" in err


def test_bad_option_values(tmp_path: Path, capsys) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(SystemExit) as exc:
        main(["analyze", "--method", "eig"])
    assert exc.value.code == 2
    capsys.readouterr()
    err = one_line_error(["analyze", "--loss", "hinge", "--data", "wine", "--quiet",
                          "--out", str(tmp_path / "r")], capsys)  # fmt: skip
    assert "unknown loss" in err


def test_radau_quadrature_records_the_null_mass(tmp_path: Path, capsys) -> None:  # type: ignore[no-untyped-def]
    """--slq-quadrature radau: the SLQ step records its rule and the mass at 0, close to the
    exact spectrum's zero fraction (softmax regression: at least 14 of 42); a bad rule is one
    line and exit 2 (argparse choices)."""
    out = tmp_path / "radau"
    code, _, _ = run_cli(
        ["analyze", "--model", "logreg", "--data", "wine", *TINY, "--batch-hessians", "0",
         "--slq-quadrature", "radau", "--out", str(out)],
        capsys,
    )  # fmt: skip
    assert code == 0
    summary = json.loads((out / "summary.json").read_text())
    info = summary["steps"]["slq"]
    assert info["quadrature"].startswith("gauss-radau")
    zero = summary["trained"]["zero_fraction"]
    assert zero >= 14 / 42 - 1e-9
    assert abs(info["node_mass"] - zero) < 0.15 and info["node_mass_se"] > 0
    report = (out / "report.html").read_text()
    assert f"its mass at 0 is {info['node_mass']:.3g}" in report
    assert f"zero fraction is {zero:.3g}" in report
    with pytest.raises(SystemExit) as exc:
        main(["analyze", "--slq-quadrature", "lobatto"])
    assert exc.value.code == 2


def test_float32_run_counts_roundoff_zeros(tmp_path: Path, capsys) -> None:  # type: ignore[no-untyped-def]
    out = tmp_path / "r32"
    code, stdout, _ = run_cli(
        ["analyze", "--model", "logreg", "--data", "wine", *TINY, "--dtype", "float32",
         "--batch-hessians", "0", "--json", "--out", str(out)],
        capsys,
    )  # fmt: skip
    assert code == 0
    assert json.loads(stdout)["dtype"] == "float32"
    summary = json.loads((out / "summary.json").read_text())
    assert "batch" not in summary["spectra"] and "batch" in summary["skipped"]
    # float32 eigensolvers turn the exact null space of softmax regression into round-off:
    # the float32 tolerance (1e-4 max|lambda|) must count those as zeros, not as bulk.
    rec = summary["trained"]
    assert "computed in float32" in rec["conventions"]["zero_rule"]
    # rank of the softmax-regression Hessian <= (C - 1)(d + 1) = 2 * 14 = 28 of 42
    assert rec["n_zero_exact"] + rec["n_zero_roundoff"] >= 42 - 28
    assert (out / "report.html").stat().st_mode & 0o044  # readable by others (umask 022)
