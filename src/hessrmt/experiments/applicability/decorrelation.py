"""Gradient decorrelation with distance in weight space, measured on a real network.

Paper 1 (v1) models the true loss as a Gaussian process and infers "growing independence of
gradients with distance". For a stationary isotropic GP the prediction (derived in
:mod:`.gp_toy`, squared-exponential kernel with length scale l, n parameters) is

    rho(d) = E<g(w), g(w + d u)> / E|g|^2 = exp(-d^2 / (2 l^2)) (1 - d^2 / (n l^2)).

Measurement (this module): train the network, draw unit directions u (isotropic Gaussian,
normalised), and for distances d compute the cosine similarity between

* the full-data gradients g(w) and g(w + d u) ("full"), and
* the gradients of the same minibatch B at both points, g_B(w) and g_B(w + d u) ("batch"),

averaged over directions (and batches), with standard errors over directions. The minibatch-noise
floor cos(g_B(w), g_B'(w)) for distinct batches B, B' at the same point is reported too. The GP
length scale l is fitted to the full-gradient curve by least squares; the fit and its residual are
reported next to the measurement (the GP is a model of the loss, not fitted to the network's
architecture, so the comparison is about the shape of the decay).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch
from scipy import optimize

from hessrmt.errors import InputError
from hessrmt.results import Metadata, Result

from .gp_toy import gradient_correlation_se

DEFAULT_DISTANCES = (0.0, 0.01, 0.03, 0.1, 0.3, 1.0, 2.0, 4.0, 8.0, 16.0, 32.0)


@dataclass(frozen=True)
class DecorrelationResult(Result):
    """Cosine similarities of gradients against distance, with SEs and the GP fit."""

    distances: np.ndarray
    corr_full: np.ndarray
    corr_full_se: np.ndarray
    corr_batch: np.ndarray
    corr_batch_se: np.ndarray
    noise_floor: float
    length_scale: float
    length_scale_se: float
    gp_prediction: np.ndarray
    n_params: int
    info: dict[str, Any]
    meta: Metadata = field(default_factory=Metadata)

    kind = "gradient-decorrelation"

    def summary(self) -> dict[str, Any]:
        """The ``gradient_decorrelation`` section of ``summary.json``."""
        return {
            "distances": self.distances.tolist(),
            "corr_full": self.corr_full.tolist(),
            "corr_full_se": self.corr_full_se.tolist(),
            "corr_batch": self.corr_batch.tolist(),
            "corr_batch_se": self.corr_batch_se.tolist(),
            "noise_floor_distinct_batches": self.noise_floor,
            "gp_length_scale": self.length_scale,
            "gp_length_scale_se": self.length_scale_se,
            "gp_prediction": self.gp_prediction.tolist(),
            "gp_model": "exp(-d^2/(2 l^2)) (1 - d^2/(n l^2)), squared-exponential kernel",
            "half_correlation_distance": half_distance(self.distances, self.corr_full),
            "n_params": self.n_params,
            **self.info,
        }


def half_distance(d: np.ndarray, corr: np.ndarray) -> float | None:
    """Smallest distance where the correlation falls below 1/2 (linear interpolation)."""
    below = np.nonzero(corr < 0.5)[0]
    if below.size == 0:
        return None
    i = int(below[0])
    if i == 0:
        return float(d[0])
    d0, d1, c0, c1 = d[i - 1], d[i], corr[i - 1], corr[i]
    return float(d0 + (c0 - 0.5) * (d1 - d0) / (c0 - c1))


def _cos(a: torch.Tensor, b: torch.Tensor) -> float:
    den = float(a.norm() * b.norm())
    return float(a @ b) / den if den > 0 else float("nan")


def fit_length_scale(d: np.ndarray, corr: np.ndarray, n: int) -> tuple[float, float]:
    """Least-squares length scale of :func:`gradient_correlation_se` (value, standard error)."""
    mask = np.isfinite(corr)
    if mask.sum() < 2:
        raise InputError("need at least two finite correlations to fit a length scale")
    x, y = d[mask], corr[mask]
    start = half_distance(x, y) or float(x.max())
    start = max(start, 1e-6)

    def model(dd: np.ndarray, log_l: float) -> np.ndarray:
        return gradient_correlation_se(dd, float(np.exp(log_l)), n)

    popt, pcov = optimize.curve_fit(model, x, y, p0=(np.log(start),), maxfev=10000)
    ell = float(np.exp(popt[0]))
    se = float(ell * np.sqrt(max(pcov[0, 0], 0.0))) if np.isfinite(pcov[0, 0]) else float("nan")
    return ell, se


def measure_decorrelation(
    model: torch.nn.Module,
    batches: list[tuple[torch.Tensor, torch.Tensor]],
    loss_fn: torch.nn.Module,
    *,
    distances: tuple[float, ...] = DEFAULT_DISTANCES,
    n_directions: int = 6,
    n_minibatches: int = 4,
    seed: int = 0,
    full_batches: list[tuple[torch.Tensor, torch.Tensor]] | None = None,
) -> DecorrelationResult:
    """Measure gradient correlations at w and w + d u (``loss_fn`` with mean reduction).

    ``batches``: the full data as minibatches (the full-data gradient is their size-weighted
    mean, unless ``full_batches`` gives the same data cut differently, e.g. as one batch); the
    first ``n_minibatches`` are used for the minibatch curve.
    """
    from torch.func import functional_call, grad

    if n_directions < 2:
        raise InputError(f"n_directions must be >= 2 for standard errors, got {n_directions}")
    if len(batches) < 2:
        raise InputError("need at least 2 minibatches (the noise floor compares distinct ones)")
    names = [n for n, p in model.named_parameters() if p.requires_grad]
    params = {n: p.detach().clone() for n, p in model.named_parameters() if p.requires_grad}
    shapes = [params[n].shape for n in names]
    sizes = [params[n].numel() for n in names]
    w0 = torch.cat([params[n].reshape(-1) for n in names])
    buffers = {n: b for n, b in model.named_buffers()}
    was = model.training
    model.eval()

    def unflat(v: torch.Tensor) -> dict[str, torch.Tensor]:
        parts = torch.split(v, sizes)
        return {n: t.reshape(s) for n, t, s in zip(names, parts, shapes)}

    def batch_loss(theta: dict[str, torch.Tensor], x: torch.Tensor, y: torch.Tensor):
        return loss_fn(functional_call(model, {**theta, **buffers}, (x,)), y)

    g_fn = grad(batch_loss)

    def grad_at(v: torch.Tensor, bs: list[tuple[torch.Tensor, torch.Tensor]]) -> torch.Tensor:
        theta = unflat(v)
        total = sum(b[0].shape[0] for b in bs)
        acc = torch.zeros_like(v)
        for x, y in bs:
            g = g_fn(theta, x, y)
            acc += torch.cat([g[n].reshape(-1) for n in names]) * (x.shape[0] / total)
        return acc

    mini = batches[:n_minibatches]
    full_data = batches if full_batches is None else full_batches
    gen = torch.Generator().manual_seed(seed)
    try:
        g_full0 = grad_at(w0, full_data)
        g_mini0 = [grad_at(w0, [b]) for b in mini]
        floor = (
            float(
                np.mean([_cos(g_mini0[i], g_mini0[j]) for i in range(len(mini)) for j in range(i)])
            )
            if len(mini) > 1
            else float("nan")
        )
        full = np.zeros((len(distances), n_directions))
        mb = np.zeros((len(distances), n_directions))
        for k in range(n_directions):
            u = torch.randn(w0.shape, generator=gen, dtype=torch.float64).to(w0.dtype)
            u /= u.norm()
            for i, d in enumerate(distances):
                w = w0 + d * u
                full[i, k] = _cos(g_full0, grad_at(w, full_data))
                mb[i, k] = np.mean([_cos(g0, grad_at(w, [b])) for g0, b in zip(g_mini0, mini)])
    finally:
        model.train(was)
    d = np.asarray(distances, dtype=np.float64)
    cf, cb = full.mean(axis=1), mb.mean(axis=1)
    n = int(w0.numel())
    try:
        ell, ell_se = fit_length_scale(d, cf, n)
        pred = gradient_correlation_se(d, ell, n)
    except (RuntimeError, InputError):
        ell, ell_se, pred = float("nan"), float("nan"), np.full(d.shape, np.nan)
    return DecorrelationResult(
        distances=d,
        corr_full=cf,
        corr_full_se=full.std(axis=1, ddof=1) / np.sqrt(n_directions),
        corr_batch=cb,
        corr_batch_se=mb.std(axis=1, ddof=1) / np.sqrt(n_directions),
        noise_floor=floor,
        length_scale=ell,
        length_scale_se=ell_se,
        gp_prediction=pred,
        n_params=n,
        info={
            "n_directions": n_directions,
            "n_minibatches": len(mini),
            "minibatch_size": int(mini[0][0].shape[0]),
            "weight_norm": float(w0.norm()),
            "full_gradient_norm": float(g_full0.norm()),
        },
        meta=Metadata.create(
            seed=seed,
            dtype=str(w0.dtype).replace("torch.", ""),
            conventions={
                "direction": "u ~ N(0, I) normalised to |u| = 1; distance d in weight-space norm",
                "correlation": "cosine similarity of gradient vectors",
                "full": "full-data gradient of the mean loss",
                "batch": "same minibatch at both points, averaged over minibatches",
                "se": "over directions",
            },
        ),
    )


def run_decorrelation(
    *,
    model_name: str = "mlp",
    dataset: str = "digits",
    epochs: int = 300,
    distances: tuple[float, ...] = DEFAULT_DISTANCES,
    n_directions: int = 6,
    n_minibatches: int = 4,
    batch_size: int = 64,
    seed: int = 0,
    progress: bool = False,
) -> DecorrelationResult:
    """Train ``model_name`` on ``dataset`` with the paper's SGD settings and measure."""
    from hessrmt.data import load_dataset
    from hessrmt.nn.data import to_batches
    from hessrmt.nn.losses import default_loss_for, make_loss
    from hessrmt.nn.train import train
    from hessrmt.nn.zoo import build_model

    ds = load_dataset(dataset, seed=seed)
    n_out = ds.n_classes if ds.task == "classification" else 1
    loss = default_loss_for(ds.task)
    model = build_model(model_name, input_shape=ds.input_shape, n_outputs=n_out, seed=seed)
    hist = train(model, ds, epochs=epochs, seed=seed, loss=loss, progress=progress)
    batches = to_batches(ds, batch_size, split="train", shuffle=True, seed=seed)
    whole = to_batches(ds, ds.X_train.shape[0], split="train")
    res = measure_decorrelation(
        model,
        batches,
        make_loss(loss, "mean"),
        distances=distances,
        n_directions=n_directions,
        n_minibatches=n_minibatches,
        seed=seed,
        full_batches=whole,
    )
    info = dict(res.info)
    info.update(
        {
            "model": model_name,
            "dataset": dataset,
            "epochs": epochs,
            "final_train_loss": float(hist.loss[-1]) if hist.loss.size else None,
        }
    )
    from dataclasses import replace

    return replace(res, info=info)
