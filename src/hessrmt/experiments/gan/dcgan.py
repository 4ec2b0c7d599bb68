"""A DCGAN-style generator/discriminator pair scaled for 2 CPU cores (16 x 16 images).

Set-up follows the authors' ``scripts/gan.py`` (the PyTorch DCGAN tutorial;
``docs/reference/papers.md`` section 6.3) at a smaller size: BCE loss, Adam (lr 2e-4,
beta1 0.5), N(0, 0.02) initialisation of conv weights (BatchNorm weights N(1, 0.02), biases
0), latent z ~ N(0, 1) * sigma_z / std(data), feature maps ndf = round(kappa F) for the
discriminator and ngf = F - ndf for the generator (the authors use F = 128 at 64 x 64).

Data: scikit-learn's bundled digits (8 x 8, upscaled to 16 x 16 by pixel repetition) or, with
``data_root``, CIFAR-10 (32 x 32 averaged 2 x 2 down to 16 x 16), scaled to [-1, 1]. Losses:
L_D = BCE(D(x), 1) + BCE(D(G(z)), 0) and L_G = BCE(D(G(z)), 1) per batch, as in the tutorial;
each run records the minimum over training of both.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np

from hessrmt.errors import InputError


def load_images(data_root: str | None, seed: int, n_max: int | None = None) -> np.ndarray:
    """Images (n, c, 16, 16) in [-1, 1]: digits (bundled) or CIFAR-10 from ``data_root``."""
    if data_root is None:
        from sklearn.datasets import load_digits

        x = load_digits().images.astype(np.float32) / 16.0  # (n, 8, 8) in [0, 1]
        x = np.kron(x, np.ones((1, 2, 2), dtype=np.float32))[:, None]
    else:
        from hessrmt.data.datasets import _load_cifar10

        raw, _ = _load_cifar10(Path(data_root))
        x = np.asarray(raw, dtype=np.float32)
        if x.ndim != 4 or x.shape[-3:] != (3, 32, 32):
            x = x.reshape(-1, 3, 32, 32)
        x = x / (255.0 if x.max() > 1.5 else 1.0)
        x = x.reshape(-1, 3, 16, 2, 16, 2).mean(axis=(3, 5))
    if n_max is not None and x.shape[0] > n_max:
        x = x[np.random.default_rng(seed).choice(x.shape[0], n_max, replace=False)]
    return (2.0 * x - 1.0).astype(np.float32)


@dataclasses.dataclass(frozen=True)
class GanRun:
    """One training run: its settings and the minimum losses over training."""

    sigma_z: float
    kappa: float
    seed: int
    ndf: int
    ngf: int
    min_loss_d: float
    min_loss_g: float
    final_loss_d: float
    final_loss_g: float
    steps: int


def _nets(nc: int, nz: int, ndf: int, ngf: int):
    import torch.nn as nn

    gen = nn.Sequential(
        nn.ConvTranspose2d(nz, 2 * ngf, 4, 1, 0, bias=False), nn.BatchNorm2d(2 * ngf),
        nn.ReLU(True),
        nn.ConvTranspose2d(2 * ngf, ngf, 4, 2, 1, bias=False), nn.BatchNorm2d(ngf), nn.ReLU(True),
        nn.ConvTranspose2d(ngf, nc, 4, 2, 1, bias=False), nn.Tanh(),
    )  # fmt: skip
    disc = nn.Sequential(
        nn.Conv2d(nc, ndf, 4, 2, 1, bias=False), nn.LeakyReLU(0.2, inplace=True),
        nn.Conv2d(ndf, 2 * ndf, 4, 2, 1, bias=False), nn.BatchNorm2d(2 * ndf),
        nn.LeakyReLU(0.2, inplace=True),
        nn.Conv2d(2 * ndf, 1, 4, 1, 0, bias=False), nn.Sigmoid(),
    )  # fmt: skip
    for net in (gen, disc):
        for m in net.modules():
            if isinstance(m, (nn.Conv2d, nn.ConvTranspose2d)):
                nn.init.normal_(m.weight, 0.0, 0.02)
            elif isinstance(m, nn.BatchNorm2d):
                nn.init.normal_(m.weight, 1.0, 0.02)
                nn.init.zeros_(m.bias)
    return gen, disc


def train_gan(
    images: np.ndarray,
    *,
    sigma_z: float,
    kappa: float,
    seed: int,
    features: int = 32,
    nz: int = 16,
    epochs: int = 2,
    batch_size: int = 128,
) -> GanRun:
    """Train once; return the minimum (and final) per-batch losses."""
    import torch

    if not 0.0 < kappa < 1.0 or sigma_z <= 0:
        raise InputError(f"kappa must be in (0, 1) and sigma_z > 0, got {kappa}, {sigma_z}")
    ndf = round(kappa * features)
    ndf = min(max(ndf, 1), features - 1)
    ngf = features - ndf
    gen_t = torch.Generator().manual_seed(seed)
    torch.manual_seed(seed)  # module initialisers draw from the global stream
    gen, disc = _nets(images.shape[1], nz, ndf, ngf)
    opt_g = torch.optim.Adam(gen.parameters(), lr=2e-4, betas=(0.5, 0.999))
    opt_d = torch.optim.Adam(disc.parameters(), lr=2e-4, betas=(0.5, 0.999))
    bce = torch.nn.BCELoss()
    data = torch.from_numpy(images)
    scale = sigma_z / float(images.std())
    min_d = min_g = float("inf")
    last_d = last_g = float("nan")
    steps = 0
    for _ in range(epochs):
        order = torch.randperm(data.shape[0], generator=gen_t)
        for start in range(0, data.shape[0], batch_size):
            real = data[order[start : start + batch_size]]
            b = real.shape[0]
            z = torch.randn(b, nz, 1, 1, generator=gen_t) * scale
            fake = gen(z)
            opt_d.zero_grad()
            loss_d = bce(disc(real).view(-1), torch.ones(b)) + bce(
                disc(fake.detach()).view(-1), torch.zeros(b)
            )
            loss_d.backward()
            opt_d.step()
            opt_g.zero_grad()
            loss_g = bce(disc(fake).view(-1), torch.ones(b))
            loss_g.backward()
            opt_g.step()
            last_d, last_g = float(loss_d.detach()), float(loss_g.detach())
            min_d, min_g = min(min_d, last_d), min(min_g, last_g)
            steps += 1
    return GanRun(float(sigma_z), float(kappa), int(seed), ndf, ngf, min_d, min_g, last_d,
                  last_g, steps)  # fmt: skip


def rank_correlation(
    theory: np.ndarray, losses: np.ndarray, rng: np.random.Generator, n_boot: int = 2000
) -> dict[str, float | None]:
    """Spearman rho between ``theory`` (one value per setting) and the mean over repetitions of
    ``losses`` (settings x repetitions), with a 95 % percentile bootstrap interval over the
    repetitions. None where undefined (constant inputs).

    The repetitions are paired across settings: repetition r trains with the same seed in
    every setting (``pipeline._gan_runs``), so each replicate draws one set of repetition
    indices with replacement and uses it for every setting (a paired, or block, bootstrap).
    Resampling each setting's repetitions independently (the first version) treats the
    settings' noise as independent: it adds noise that the shared seeds had cancelled, biases
    the replicates' rho towards 0 and could exclude the estimate itself (GAN full run of
    2026-12-07, sigma_z sweep: rho = 0.78 with that interval [0.18, 0.55]; the paired
    interval is [-0.74, 0.78], because 44 of the 60 thresholds sit tied on the grid edge and
    the ranks of their near-equal losses change with the seeds;
    ``docs/reproductions/gan.md``)."""
    from scipy.stats import spearmanr

    ok = np.isfinite(theory)
    th, ls = theory[ok], losses[ok]
    if th.size < 3 or np.ptp(th) == 0:
        return {"rho": None, "low": None, "high": None, "n_settings": int(th.size)}
    rho = float(spearmanr(th, ls.mean(axis=1)).statistic)
    boots = []
    reps = ls.shape[1]
    for _ in range(n_boot):
        idx = rng.integers(0, reps, size=reps)
        m = ls[:, idx].mean(axis=1)
        if np.ptp(m) > 0:
            boots.append(spearmanr(th, m).statistic)
    low, high = np.quantile(boots, [0.025, 0.975]).tolist() if boots else [None, None]
    return {
        "rho": rho, "low": low, "high": high, "n_settings": int(th.size),
        "interval": "95 % percentile bootstrap over repetitions, paired across settings",
    }  # fmt: skip
