"""The paper's second empirical figure: H0 and H1 spectra of a single-hidden-layer ReLU
autoencoder at a critical point, against Marchenko-Pastur and the semicircle.

Set-up (docs/reference/papers.md section 4.4 (iii)): f(x) = W2 relu(W1 x), 20 hidden units, no
biases, x = 150 whitened 4 x 4 greyscale images (P = 2 * 20 * 16 = 640, phi = P / (m n_out) =
640 / (150 * 16) = 0.267), squared loss L = 1/(2 m n_out) sum (f - x)^2 (as in :mod:`.task`).

Images: CIFAR-10 when the user has it (``data_root`` holding ``cifar-10-batches-py/data_batch_1``,
the python version from https://www.cs.toronto.edu/~kriz/cifar.html; nothing is downloaded):
greyscale = mean of the RGB channels, 8 x 8 block means down to 4 x 4. Otherwise a stated
stand-in: scikit-learn's bundled 8 x 8 digits, 2 x 2 block means down to 4 x 4. 150 images are
drawn with the seed and ZCA-whitened (centred per pixel, multiplied by Cov^(-1/2); the 16 x 16
covariance of the 150 images is full rank).

The point: a seeded start (weights N(0, 1/fan_in)), then full-batch L-BFGS (``restarts`` rounds
of ``max_iter`` iterations); ReLU makes L only piecewise smooth, so the end point's |grad L| (not
always below 1e-8) and index are reported with the spectra. H, H0 (Gauss-Newton) and H1
(residual) come from :mod:`hessrmt.curvature`; H0 is compared with Marchenko-Pastur (moment
fit, and at the design phi with the measured mean) and H1 with the semicircle (moment fit) by
:mod:`hessrmt.rmt.fit`, whose KS plausibility uses a simulated matrix-model null. ReLU networks
have exact zero modes: a hidden unit's rescaling symmetry (W1 row times a, W2 column divided by
a) and dead units; they are counted and reported.
"""

from __future__ import annotations

import dataclasses
import math
import pickle
from pathlib import Path
from typing import Any

import numpy as np
import torch

from hessrmt.errors import DataError, InputError

HIDDEN = 20
N_IMAGES = 150
SIDE = 4


def _block_mean(images: np.ndarray, side_in: int, side_out: int) -> np.ndarray:
    k = side_in // side_out
    x = images.reshape(-1, side_out, k, side_out, k)
    return x.mean(axis=(2, 4)).reshape(-1, side_out * side_out)


def whiten(x: np.ndarray) -> np.ndarray:
    """ZCA whitening: (x - mean) Cov^(-1/2) (the sample covariance of the result is I)."""
    xc = x - x.mean(axis=0)
    cov = xc.T @ xc / xc.shape[0]
    w, v = np.linalg.eigh(cov)
    if w.min() <= 1e-12 * w.max():
        raise DataError("the images' pixel covariance is singular; cannot whiten")
    return xc @ (v / np.sqrt(w)) @ v.T


def cifar_batch(data_root: str | Path) -> Path:
    """The CIFAR-10 batch file under ``data_root``; InputError naming what to give if absent."""
    path = Path(data_root) / "cifar-10-batches-py" / "data_batch_1"
    if not path.is_file():
        raise InputError(
            f"--data-root {data_root}: no cifar-10-batches-py/data_batch_1 there; give the "
            "folder that holds the python version of CIFAR-10 (cifar-10-batches-py/), or "
            "leave --data-root out to use the bundled digits stand-in"
        )
    return path


def load_images(data_root: str | Path | None, seed: int) -> tuple[np.ndarray, str]:
    """150 whitened 4 x 4 images (float64, (150, 16)) and a description of their source."""
    gen = np.random.default_rng([seed, 4242])
    if data_root is not None:
        path = cifar_batch(data_root)
        with open(path, "rb") as fh:  # the user's own copy of the CIFAR-10 python pickle
            batch = pickle.load(fh, encoding="bytes")
        rgb = np.asarray(batch[b"data"], dtype=float).reshape(-1, 3, 32, 32)
        grey = rgb.mean(axis=1)
        pick = gen.choice(grey.shape[0], N_IMAGES, replace=False)
        small = _block_mean(grey[pick], 32, SIDE)
        source = f"CIFAR-10 ({path}), greyscale, 8x8 block means to 4x4"
    else:
        from sklearn.datasets import load_digits

        digits = load_digits().images  # bundled with scikit-learn, (1797, 8, 8)
        pick = gen.choice(digits.shape[0], N_IMAGES, replace=False)
        small = _block_mean(digits[pick].astype(float), 8, SIDE)
        source = (
            "stand-in: scikit-learn digits (8x8, bundled), 2x2 block means to 4x4 "
            "(CIFAR-10 not given: --data-root)"
        )
    return whiten(small), source


def _model() -> torch.nn.Module:
    return torch.nn.Sequential(
        torch.nn.Linear(SIDE * SIDE, HIDDEN, bias=False),
        torch.nn.ReLU(),
        torch.nn.Linear(HIDDEN, SIDE * SIDE, bias=False),
    ).to(torch.float64)


@dataclasses.dataclass(frozen=True)
class _Point:
    x: np.ndarray
    value: float
    grad_norm: float
    converged: bool


def _loss(output: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    return 0.5 * torch.mean((output - target) ** 2)


def run_autoencoder(
    data_root: str | Path | None = None,
    *,
    seed: int = 0,
    max_iter: int = 3000,
    restarts: int = 3,
    n_null: int = 100,
) -> dict[str, Any]:
    """Train to a critical point and compare its H0 / H1 spectra with MP and the semicircle.

    Returns a JSON-able dict (the ``autoencoder`` entry of ``summary.json``) with the arrays
    ``theta`` (the point, ``parameters_to_vector`` order), ``eig_h``, ``eig_h0``, ``eig_h1`` as
    lists."""
    from torch.func import functional_call, grad

    from hessrmt.curvature import (
        GGNOperator,
        HessianOperator,
        ResidualOperator,
        dense_matrix,
        eigenvalues,
    )
    from hessrmt.rmt.fit import fit_marchenko_pastur, fit_semicircle, ks_distance
    from hessrmt.rmt.laws import MarchenkoPastur

    x_np, source = load_images(data_root, seed)
    X = torch.from_numpy(x_np)
    model = _model()
    names = [n for n, _ in model.named_parameters()]
    shapes = [p.shape for _, p in model.named_parameters()]
    sizes = [p.numel() for _, p in model.named_parameters()]

    def fun(theta: torch.Tensor) -> torch.Tensor:
        params = {n: c.view(s) for n, c, s in zip(names, torch.split(theta, sizes), shapes)}
        return _loss(functional_call(model, params, (X,)), X)

    gen = np.random.default_rng([seed, 2017])
    theta = torch.from_numpy(
        np.concatenate(
            [
                gen.standard_normal(HIDDEN * SIDE**2) / math.sqrt(SIDE**2),
                gen.standard_normal(SIDE**2 * HIDDEN) / math.sqrt(HIDDEN),
            ]
        )
    )
    # L-BFGS (strong Wolfe line search) on the full batch: ReLU makes L only piecewise smooth,
    # so Newton's quadratic convergence is not available; the final |grad L| is reported
    theta.requires_grad_(True)
    opt = torch.optim.LBFGS(
        [theta], lr=1.0, max_iter=max_iter, tolerance_grad=1e-11, tolerance_change=0.0,
        history_size=50, line_search_fn="strong_wolfe",
    )  # fmt: skip

    def closure() -> torch.Tensor:
        opt.zero_grad()
        value = fun(theta)
        value.backward()
        return value

    for _ in range(restarts):
        opt.step(closure)
    x = theta.detach()
    g_norm = float(grad(fun)(x).norm())
    res = _Point(x=x.numpy(), value=float(fun(x)), grad_norm=g_norm, converged=g_norm <= 1e-8)
    torch.nn.utils.vector_to_parameters(torch.from_numpy(res.x), model.parameters())
    data = [(X, X)]
    eig = {}
    for key, cls in (("h", HessianOperator), ("h0", GGNOperator), ("h1", ResidualOperator)):
        eig[key] = eigenvalues(dense_matrix(cls(model, _loss, data, dtype=torch.float64))).numpy()
    P, m, n_out = res.x.size, X.shape[0], X.shape[1]
    phi = P / (m * n_out)
    scale = float(np.max(np.abs(eig["h"])))
    mp_fit = fit_marchenko_pastur(eig["h0"], n_null=n_null, rng=seed)
    sc_fit = fit_semicircle(eig["h1"], n_null=n_null, rng=seed + 1)
    mp_design = MarchenkoPastur(phi, float(np.mean(eig["h0"])))
    with torch.no_grad():
        pre = model[0](X)
    return {
        "source": source,
        "n_images": int(m),
        "n_params": int(P),
        "phi": phi,
        "energy": float(res.value),
        "grad_norm": float(res.grad_norm),
        "converged": bool(res.converged),
        "index": float(np.mean(eig["h"] < -1e-10 * scale)),
        "zero_modes_h": int(np.sum(np.abs(eig["h"]) <= 1e-10 * scale)),
        "zero_modes_h0": int(np.sum(np.abs(eig["h0"]) <= 1e-10 * scale)),
        "dead_units": int(torch.sum((pre > 0).sum(dim=0) == 0)),
        "h0_mean": float(np.mean(eig["h0"])),
        "h1_mean": float(np.mean(eig["h1"])),
        "h1_variance": float(np.var(eig["h1"])),
        "mp_fit": {
            "phi": mp_fit.params["phi"],
            "scale": mp_fit.params["scale"],
            "ks": mp_fit.ks_statistic,
            "ks_threshold": mp_fit.ks_threshold,
            "plausible": mp_fit.plausible,
        },
        "mp_design_phi_ks": ks_distance(eig["h0"], mp_design),
        "semicircle_fit": {
            "variance": sc_fit.params["variance"],
            "center": sc_fit.params["center"],
            "ks": sc_fit.ks_statistic,
            "ks_threshold": sc_fit.ks_threshold,
            "plausible": sc_fit.plausible,
        },
        "n_null": n_null,
        "theta": res.x.tolist(),
        "eig_h": eig["h"].tolist(),
        "eig_h0": eig["h0"].tolist(),
        "eig_h1": eig["h1"].tolist(),
    }


def autoencoder_sentences(ae: dict[str, Any]) -> list[str]:
    """The autoencoder section's statements, computed from its numbers."""

    def verdict(fit: dict[str, Any]) -> str:
        if not math.isfinite(fit["ks_threshold"]):
            return "no null simulated"
        return ("within" if fit["plausible"] else "beyond") + (
            f" the 95 % null threshold {fit['ks_threshold']:.3g}"
        )

    crit = (
        "a critical point"
        if ae["converged"]
        else f"the end of the minimisation (not converged: |grad L| = {ae['grad_norm']:.2g})"
    )
    mp, sc = ae["mp_fit"], ae["semicircle_fit"]
    return [
        f"Images: {ae['source']}; {ae['n_images']} images, P = {ae['n_params']}, phi = "
        f"{ae['phi']:.3g}. The spectra are taken at {crit}: L = {ae['energy']:.4g}, "
        f"|grad L| = {ae['grad_norm']:.2g}, index {ae['index']:.3g}, {ae['zero_modes_h']} exact "
        f"zero modes of H ({ae['dead_units']} dead units).",
        f"H0 against Marchenko-Pastur: the moment fit gives phi = {mp['phi']:.3g} (design "
        f"phi = {ae['phi']:.3g}), KS = {mp['ks']:.3g}, {verdict(mp)}; MP at the design phi "
        f"with the measured mean has KS = {ae['mp_design_phi_ks']:.3g}.",
        f"H1 against the semicircle: variance {sc['variance']:.3g}, centre {sc['center']:.3g}, "
        f"KS = {sc['ks']:.3g}, {verdict(sc)}.",
    ]
