"""hessrmt analyze's batch_noise step: float64 Hessians against autograd, the summary, and
report sentences that follow the numbers."""

import copy

import numpy as np
import pytest
import torch

from hessrmt.analysis.batch_noise import skip_reason, step_batch_noise
from hessrmt.report.batch_noise_section import batch_noise_sentences, batch_noise_table


def _reference_hessian(model, loss_fn, x, y):
    names = [n for n, _ in model.named_parameters()]
    shapes = [p.shape for _, p in model.named_parameters()]
    flat = torch.cat([p.detach().reshape(-1) for p in model.parameters()])

    def f(v):
        params, i = {}, 0
        for n, s in zip(names, shapes):
            k = int(np.prod(s))
            params[n] = v[i : i + k].reshape(s)
            i += k
        return loss_fn(torch.func.functional_call(model, params, (x,)), y)

    return torch.autograd.functional.hessian(f, flat).numpy()


def test_step_against_autograd_float64():
    g = torch.Generator().manual_seed(0)
    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Linear(5, 4), torch.nn.Tanh(), torch.nn.Linear(4, 3))
    model = model.to(torch.float64)
    loss_fn = torch.nn.CrossEntropyLoss()
    x = torch.randn(48, 5, generator=g, dtype=torch.float64)
    y = torch.randint(0, 3, (48,), generator=g)
    full = [(x[:30], y[:30]), (x[30:], y[30:])]
    small = [(x[i : i + 8], y[i : i + 8]) for i in range(0, 24, 8)]
    _, info = step_batch_noise(
        model, loss_fn, full, small, n_outputs=3, batch_size=8, dtype=torch.float64, device="cpu"
    )
    A = _reference_hessian(model, loss_fn, x, y)
    Hs = [_reference_hessian(model, loss_fn, xb, yb) for xb, yb in small]
    P = A.shape[0]
    s_ref = [np.linalg.norm(H - A) / np.sqrt(P) for H in Hs]
    assert info["noise_scale"]["s"] == pytest.approx(np.mean(s_ref), rel=1e-10)
    assert info["noise_scale"]["s_se"] == pytest.approx(
        np.std(s_ref, ddof=1) / np.sqrt(3), rel=1e-8
    )
    top = np.mean([np.linalg.eigvalsh(H)[::-1][:2] for H in Hs], axis=0)
    np.testing.assert_allclose(info["outliers"]["measured"], top, rtol=1e-10)
    np.testing.assert_allclose(
        info["outliers"]["theta"], np.linalg.eigvalsh(A)[::-1][:2], rtol=1e-10
    )
    assert info["n_parameters"] == P == 39


def test_skip_reasons():
    assert skip_reason("lanczos", 6, 1000, 9) is not None
    assert "two" in skip_reason("dense", 1, 1000, 9)
    assert skip_reason("dense", 2, 10, 9) is not None
    assert skip_reason("dense", 2, 1000, 9) is None


GOE_LIKE = {
    "batch_size": 64,
    "n_batches": 6,
    "n_parameters": 910,
    "n_spikes": 2,
    "noise_scale": {"s": 0.1, "s_se": 0.01, "s_interval": [0.08, 0.12], "s_over_top_spike": 0.05},
    "localisation": {"ipr_over_goe": 1.02, "ipr_over_goe_interval": [0.98, 1.06], "kurtosis": 3.0},
    "spacing_ratio": {
        "mean_ratio": 0.53,
        "mean_ratio_interval": [0.52, 0.54],
        "goe": 0.5307,
        "poisson": 0.3863,
        "z_goe": -0.2,
        "z_poisson": 30.0,
    },
    "outliers": {
        "theta": [2.0, 1.0],
        "predicted": [2.01, 1.02],
        "measured": [2.0, 1.03],
        "measured_se": [0.01, 0.01],
        "measured_interval": [[1.97, 1.0], [2.03, 1.06]],
        "z": [-1.0, 1.0],
        "relative_error": [0.005, 0.0098],
        "agree": [True, True],
        "z_agree": 3.0,
    },
    "overlaps": {"predicted": [0.9, 0.8], "measured": [0.88, 0.7], "measured_se": [0.01, 0.02]},
}


def test_sentences_follow_the_numbers():
    text = " ".join(batch_noise_sentences({"batch_noise": GOE_LIKE}))
    assert "delocalised as the paper's model assumes" in text
    assert "consistent with GOE" in text
    assert "2 of 2 agree" in text
    assert "0.1 (95 % interval [0.08, 0.12])" in text
    assert "|measured - predicted| = 0.1" in text
    bad = copy.deepcopy(GOE_LIKE)
    bad["localisation"].update(ipr_over_goe=25.0, ipr_over_goe_interval=[20.0, 30.0])
    bad["spacing_ratio"].update(mean_ratio=0.39, z_goe=-14.0, z_poisson=0.3)
    bad["outliers"].update(
        predicted=[2.01, None], z=[9.0, None], agree=[False, False], relative_error=[0.4, None]
    )
    text = " ".join(batch_noise_sentences({"batch_noise": bad}))
    assert "more localised than GOE" in text
    assert "consistent with Poisson, not GOE" in text
    assert "predicts 1 outliers" in text and "1 spikes below the threshold" in text
    assert "0 of 1 agree" in text and "largest relative error 40 %" in text
    assert len(batch_noise_table({"batch_noise": bad}).rows) == 2
    skipped = {"skipped": {"batch_noise": "needs dense Hessians"}}
    assert batch_noise_sentences(skipped) == [
        "The batch-noise analysis was not run: needs dense Hessians."
    ]
    assert batch_noise_table(skipped) is None


@pytest.mark.slow
def test_analyze_reports_the_batch_noise(tmp_path):
    from hessrmt.analysis import analyze

    res = analyze(
        model="logreg",
        data="wine",
        epochs=1,
        batch_hessians=3,
        batch_size=16,
        slq_probes=2,
        slq_steps=6,
        progress=False,
        out=str(tmp_path / "run"),
    )
    bn = res.summary["batch_noise"]
    assert bn["n_batches"] == 3 and bn["batch_size"] == 16 and bn["n_spikes"] == 2
    assert bn["noise_scale"]["s"] > 0 and len(bn["noise_scale"]["s_interval"]) == 2
    assert "batch_noise" not in res.summary["steps"]
    report = (tmp_path / "run" / "report.html").read_text()
    assert "Batch noise (Baskerville et al. 2022)" in report
    assert batch_noise_sentences(res.summary)[0].split(":")[0] in report
    one = analyze(
        model="logreg", data="wine", epochs=1, batch_hessians=1, batch_size=16, slq_probes=2,
        slq_steps=6, progress=False, out=str(tmp_path / "one"),
    )  # fmt: skip
    assert "two batch Hessians" in one.summary["skipped"]["batch_noise"]
