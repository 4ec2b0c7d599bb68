"""Curvature spectra of a model: exact (dense) eigenvalues or Lanczos extremes, and SLQ densities.

Thin glue over :mod:`hessrmt.curvature`: build the operator (Hessian, Gauss-Newton H0 or residual
H1 = H - H0) of the loss as ``loss_fn`` defines it on ``batches`` (a mean-reduced loss gives the
Hessian of the full-data mean loss, batches weighted by their sizes), then either densify it and
take all eigenvalues (``dense``) or the ``k`` largest and ``k`` smallest by Lanczos (``lanczos``).
Eigenvalues are returned ascending as float64 NumPy arrays (their precision is that of ``dtype``).
"""

from __future__ import annotations

import time
from typing import Any

import numpy as np
import torch

from hessrmt.errors import InputError

KINDS = ("hessian", "ggn", "residual")


def torch_dtype(name: str) -> torch.dtype:
    """``"float64"`` -> ``torch.float64`` (and float32)."""
    try:
        return {"float64": torch.float64, "float32": torch.float32}[name]
    except KeyError:
        raise InputError(f"dtype must be float64 or float32, got {name!r}") from None


def make_operator(
    kind: str,
    model: torch.nn.Module,
    loss_fn: torch.nn.Module,
    batches: list[tuple[torch.Tensor, torch.Tensor]],
    *,
    dtype: torch.dtype,
    device: str | torch.device,
) -> Any:
    """The curvature operator ``kind`` (``hessian``, ``ggn``, ``residual``) of the model's loss."""
    from hessrmt.curvature import GGNOperator, HessianOperator, ResidualOperator

    cls = {"hessian": HessianOperator, "ggn": GGNOperator, "residual": ResidualOperator}.get(kind)
    if cls is None:
        raise InputError(f"curvature kind must be one of {', '.join(KINDS)}, got {kind!r}")
    return cls(model, loss_fn, batches, dtype=dtype, device=device)


def dense_spectrum(op: Any, *, progress: bool = False) -> tuple[np.ndarray, dict[str, Any]]:
    """All eigenvalues of ``op`` (ascending, float64 array) from its dense matrix."""
    from hessrmt.curvature.dense import dense_matrix_with_info, eigenvalues

    t0 = time.perf_counter()
    M, built = dense_matrix_with_info(op, progress=progress)
    t1 = time.perf_counter()
    evals = eigenvalues(M)
    t2 = time.perf_counter()
    eigs = _sorted_numpy(evals)
    del M
    info = {
        "method": "dense",
        "n_params": int(op.shape[0]),
        "num_matvecs": int(built.num_matvecs),
        # asymmetry of the raw matrix, measured before dense_matrix symmetrises it
        "relative_asymmetry": float(built.asymmetry_max),
        "seconds_matrix": t1 - t0,
        "seconds_eigenvalues": t2 - t1,
    }
    return eigs, info


def dense_decomposition(
    model: torch.nn.Module,
    loss_fn: torch.nn.Module,
    batches: list[tuple[torch.Tensor, torch.Tensor]],
    *,
    dtype: torch.dtype,
    device: str | torch.device,
    progress: bool = False,
    wrap: Any = None,
) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
    """Eigenvalues of H, of its Gauss-Newton part H0 and of the residual H1 = H - H0.

    H and H0 are densified from :class:`~hessrmt.curvature.HessianOperator` and
    :class:`~hessrmt.curvature.GGNOperator`; H1 is their difference (Pennington & Bahri's
    decomposition), which saves a third pass of P operator applications. Returns arrays
    ``hessian``, ``ggn``, ``residual`` (ascending, float64). ``wrap`` (optional) maps each
    operator before it is densified (analyze: the full-data
    :class:`~hessrmt.curvature.distributed.DistributedOperator` of a rank's shard).
    """
    from hessrmt.curvature.dense import dense_matrix, eigenvalues

    t0 = time.perf_counter()
    out: dict[str, np.ndarray] = {}
    info: dict[str, Any] = {"method": "dense", "residual": "eigenvalues of H - H0 (dense)"}
    mats = {}
    for kind in ("hessian", "ggn"):
        op = make_operator(kind, model, loss_fn, batches, dtype=dtype, device=device)
        if wrap is not None:
            op = wrap(op)
        M = dense_matrix(op, progress=progress)
        out[kind] = _sorted_numpy(eigenvalues(M))
        mats[kind] = M
        info[f"num_matvecs_{kind}"] = int(op.num_matvecs)
        conv = getattr(op, "conventions", None)
        if callable(conv):
            info[f"operator_{kind}"] = conv()
    M = mats.pop("hessian")
    M -= mats.pop("ggn")
    out["residual"] = _sorted_numpy(eigenvalues(M))
    del M
    info["n_params"] = int(out["hessian"].size)
    info["seconds"] = time.perf_counter() - t0
    return out, info


def _sorted_numpy(values: Any) -> np.ndarray:
    return np.sort(np.asarray(torch.as_tensor(values).detach().cpu().double().numpy()))


#: Restart cycles allowed per Lanczos run in the pipeline (bounded time; convergence recorded).
LANCZOS_MAX_RESTARTS = 100


def lanczos_spectrum(
    op: Any,
    k: int,
    *,
    seed: int = 0,
    tol: float = 1e-8,
    max_iter: int = LANCZOS_MAX_RESTARTS,
    progress: bool = False,
) -> tuple[np.ndarray, dict[str, Any]]:
    """The ``k`` largest and ``k`` smallest eigenvalues of ``op`` by thick-restart Lanczos.

    Each end gets at most ``max_iter`` restarts (Krylov basis ``max(4k, 40)``); the number of
    pairs that reached the relative residual ``tol`` is recorded (``n_converged``) rather than
    warned about, so that a slowly converging end (often the bottom of a Hessian, next to a
    dense cluster at zero) bounds the run time instead of stopping it. ``progress``: a bar over
    the products of each end (stderr).
    """
    from hessrmt.analysis.progress import product_progress
    from hessrmt.curvature import lanczos

    t0 = time.perf_counter()
    n = int(op.shape[0])
    k = max(1, min(k, n // 2))
    ncv = min(n, max(4 * k, 40))
    runs = []
    for i, (which, end) in enumerate((("SA", "bottom"), ("LA", "top"))):
        with product_progress(op, f"Lanczos, {k} at the {end}", enabled=progress):
            runs.append(
                lanczos(op, k, which=which, tol=tol, max_iter=max_iter, ncv=ncv, seed=seed + i,
                        vectors=False, warn=False)
            )  # fmt: skip
    vals = np.concatenate([np.asarray(r.eigenvalues, dtype=np.float64) for r in runs])
    converged = np.concatenate([np.asarray(r.converged, dtype=bool) for r in runs])
    info = {
        "method": "lanczos",
        "n_params": n,
        "k": k,
        "tol": tol,
        "max_restarts": max_iter,
        "num_matvecs": int(sum(r.num_matvecs for r in runs)),
        "n_converged": int(converged.sum()),
        "n_requested": int(converged.size),
        "seconds": time.perf_counter() - t0,
    }
    # k <= n // 2, so the two ends never share an index: keep repeated eigenvalues (zeros!)
    return np.sort(vals), info


def slq_density(
    op: Any,
    *,
    num_probes: int,
    num_steps: int,
    seed: int,
    progress: bool = False,
    quadrature: str = "gauss",
) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
    """Stochastic Lanczos quadrature density of ``op`` (grid, density, band, nodes, weights);
    ``progress``: a bar over its ``num_probes x num_steps`` products (stderr); ``quadrature``:
    ``gauss`` or ``radau`` (node at 0; its mass there and standard error are recorded as
    ``node_mass``, ``node_mass_se``)."""
    from hessrmt.analysis.progress import product_progress
    from hessrmt.curvature import slq

    t0 = time.perf_counter()
    steps = max(2, min(num_steps, int(op.shape[0])))
    total = num_probes * steps
    with product_progress(op, "SLQ density", enabled=progress, total=total):
        res = slq(op, num_probes=num_probes, num_steps=steps, seed=seed, quadrature=quadrature)
    arrays = {
        "grid": np.asarray(res.grid, dtype=np.float64),
        "density": np.asarray(res.density, dtype=np.float64),
        "band": np.asarray(res.band, dtype=np.float64),
        "nodes": np.asarray(res.nodes, dtype=np.float64),
        "weights": np.asarray(res.weights, dtype=np.float64),
    }
    info = {
        "num_probes": num_probes,
        "num_steps": steps,
        "seed": seed,
        "num_matvecs": int(res.num_matvecs),
        "seconds": time.perf_counter() - t0,
        "quadrature": res.meta.conventions["quadrature"],
    }
    if quadrature == "radau":
        info["node_mass"], info["node_mass_se"] = res.node_mass()
    width = getattr(res, "width", None)
    if isinstance(width, (int, float)):
        info["width"] = float(width)
    return arrays, info


def slq_wasserstein(nodes: np.ndarray, weights: np.ndarray, eigs: np.ndarray) -> float:
    """1-Wasserstein distance between the SLQ quadrature measure and the exact spectrum.

    The SLQ measure puts mass ``weights[p, j] / num_probes`` at ``nodes[p, j]``; the exact one
    ``1 / P`` at each eigenvalue. W1 = integral of |F_slq(x) - F_exact(x)| dx, computed exactly
    from the two step functions.
    """
    nodes = np.asarray(nodes, dtype=np.float64).ravel()
    w = np.asarray(weights, dtype=np.float64).ravel()
    w = w / w.sum()
    e = np.sort(np.asarray(eigs, dtype=np.float64).ravel())
    xs = np.concatenate([nodes, e])
    ms = np.concatenate([w, -np.full(e.size, 1.0 / e.size)])
    order = np.argsort(xs, kind="stable")
    xs, ms = xs[order], ms[order]
    diff = np.cumsum(ms)[:-1]
    return float(np.sum(np.abs(diff) * np.diff(xs)))
