"""The ReLU autoencoder of Pennington & Bahri's second figure: images, whitening, and spectra
checked against dense torch.func Hessians in float64."""

from __future__ import annotations

import pickle

import numpy as np
import pytest
import torch

from hessrmt.errors import InputError
from hessrmt.experiments.pennington_bahri import autoencoder as A


def test_whitening_gives_identity_covariance(rng):
    x = rng.standard_normal((150, 16)) @ rng.standard_normal((16, 16))
    w = A.whiten(x)
    assert np.allclose(w.mean(axis=0), 0, atol=1e-12)
    assert np.allclose(w.T @ w / 150, np.eye(16), atol=1e-10)


def test_stand_in_and_cifar_images(tmp_path):
    x, source = A.load_images(None, seed=0)
    assert x.shape == (150, 16) and "stand-in" in source and "digits" in source
    assert np.array_equal(x, A.load_images(None, seed=0)[0])
    with pytest.raises(InputError, match="cifar-10-batches-py"):
        A.load_images(tmp_path, seed=0)
    # a CIFAR-10 python batch in the documented layout: 8x8 block means of the grey image
    folder = tmp_path / "cifar-10-batches-py"
    folder.mkdir()
    data = np.random.default_rng(1).integers(0, 256, (200, 3072), dtype=np.uint8)
    with open(folder / "data_batch_1", "wb") as fh:
        pickle.dump({b"data": data}, fh)
    x, source = A.load_images(tmp_path, seed=0)
    assert x.shape == (150, 16) and source.startswith("CIFAR-10")
    grey = data.reshape(-1, 3, 32, 32).astype(float).mean(axis=1)
    small = grey.reshape(-1, 4, 8, 4, 8).mean(axis=(2, 4)).reshape(-1, 16)
    pick = np.random.default_rng([0, 4242]).choice(200, 150, replace=False)
    assert np.allclose(x, A.whiten(small[pick]))


@pytest.mark.slow
def test_spectra_match_dense_autograd_hessians():
    from torch.func import functional_call, hessian, jacrev

    ae = A.run_autoencoder(None, seed=0, max_iter=200, restarts=1, n_null=5)
    assert ae["n_params"] == 640 and ae["phi"] == pytest.approx(640 / 2400)
    x, _ = A.load_images(None, seed=0)
    X = torch.from_numpy(x)
    model = A._model()
    names = [n for n, _ in model.named_parameters()]
    shapes = [p.shape for _, p in model.named_parameters()]
    theta = torch.tensor(ae["theta"], dtype=torch.float64)

    def out(th):
        parts = torch.split(th, [s.numel() for s in shapes])
        return functional_call(model, {n: p.view(s) for n, p, s in zip(names, parts, shapes)}, (X,))

    H = hessian(lambda th: 0.5 * torch.mean((out(th) - X) ** 2))(theta)
    J = jacrev(out)(theta).reshape(-1, theta.numel())
    H0 = J.T @ J / J.shape[0]
    scale = float(torch.linalg.eigvalsh(H).abs().max())
    for key, M in (("eig_h", H), ("eig_h0", H0), ("eig_h1", H - H0)):
        ref = torch.linalg.eigvalsh(M).numpy()
        assert np.allclose(np.sort(ae[key]), ref, atol=1e-10 * scale)
    assert ae["index"] == pytest.approx(float(np.mean(np.asarray(ae["eig_h"]) < -1e-10 * scale)))


def test_a_wrong_data_root_fails_before_any_search(tmp_path, capsys):
    from hessrmt.cli.main import main

    out = tmp_path / "run"
    rc = main(["reproduce", "pennington-bahri", "--quick", "--data-root", str(tmp_path),
               "--out", str(out)])  # fmt: skip
    assert rc == 2 and "cifar-10-batches-py" in capsys.readouterr().err
    assert not out.exists() and not any(tmp_path.glob(".run*"))
