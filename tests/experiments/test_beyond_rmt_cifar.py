"""beyond-rmt on CIFAR-10 from --data-root: a tiny fake CIFAR-10 folder (binary batches) is read,
the CNN is built for 3 x 32 x 32 inputs, and its Hessian spectrum (BatchNorm in train mode)
equals the eigenvalues of an independent double-backward Hessian (float64); the pipeline adds
the CIFAR networks only when a data root is given, and a root without CIFAR is one DataError."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from hessrmt.data.datasets import load_dataset
from hessrmt.errors import DataError
from hessrmt.experiments.beyond_rmt.cnn_spectra import cnn_hessian_spectrum
from hessrmt.experiments.beyond_rmt.pipeline import BeyondConfig, cnn_cases, run_beyond_rmt
from hessrmt.nn.architectures import build_architecture

pytestmark = pytest.mark.usefixtures("one_thread")


def _fake_cifar(root: Path, per_file: int = 10) -> Path:
    base = root / "cifar-10-batches-bin"
    base.mkdir(parents=True)
    rng = np.random.default_rng(0)
    for name in [f"data_batch_{i}.bin" for i in range(1, 6)] + ["test_batch.bin"]:
        rec = rng.integers(0, 256, (per_file, 3073)).astype(np.uint8)
        rec[:, 0] = rng.integers(0, 10, per_file)
        rec.tofile(base / name)
    return root


def _reference_hessian(model: torch.nn.Module, x: torch.Tensor, y: torch.Tensor) -> np.ndarray:
    params = [p for p in model.parameters() if p.requires_grad]
    model.train()
    loss = torch.nn.functional.cross_entropy(model(x), y)
    grads = torch.cat([g.reshape(-1) for g in torch.autograd.grad(loss, params, create_graph=True)])
    rows = [
        torch.cat([r.reshape(-1) for r in torch.autograd.grad(g, params, retain_graph=True)])
        for g in grads
    ]
    return torch.stack(rows).detach().numpy()


@pytest.mark.slow
def test_cifar_spectrum_matches_double_backward(tmp_path: Path) -> None:
    root = _fake_cifar(tmp_path / "data")
    eigs, meta = cnn_hessian_spectrum(
        "preresnet-small", width=1, n_samples=60, epochs=0, seed=3, dataset="cifar10",
        root=str(root),
    )  # fmt: skip
    assert meta["dataset"] == "cifar10" and meta["batchnorm_mode"] == "train"
    data = load_dataset("cifar10", root=root, seed=3, n_samples=60)
    assert data.input_shape == (3, 32, 32)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(3)
        model = build_architecture("preresnet-small", (3, 32, 32), 10, width=1).double()
    x = torch.as_tensor(data.X_train, dtype=torch.float64)
    y = torch.as_tensor(data.y_train, dtype=torch.long)
    assert x.shape[0] <= 128  # one Hessian batch: the full-data mean loss
    ref = np.linalg.eigvalsh(_reference_hessian(model, x, y))
    assert eigs.shape == ref.shape == (meta["n_params"],)
    np.testing.assert_allclose(eigs, ref, atol=1e-10 * max(1.0, np.abs(ref).max()))


def test_cifar_networks_only_with_a_data_root(tmp_path: Path) -> None:
    cfg = BeyondConfig(cnns=("vgg-small-bn",), cnn_width=2, cifar_width=1)
    assert cnn_cases(cfg) == [("vgg-small-bn", "digits", 2, cfg.cnn_samples)]
    with_root = BeyondConfig(cnns=("vgg-small-bn",), data_root=str(tmp_path))
    assert ("vgg-small-bn", "cifar10", 1, with_root.cifar_samples) in cnn_cases(with_root)
    with pytest.raises(DataError, match="CIFAR-10"):
        run_beyond_rmt(tmp_path / "run", progress=False, config=cfg, data_root=tmp_path)
