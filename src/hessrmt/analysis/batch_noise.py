"""The ``batch_noise`` step of ``hessrmt analyze``: the batch Hessians' noise X_b = H_b - H.

Baskerville, Keating, Mezzadri, Najnudel & Granziol (arXiv 2205.08601) model a batch Hessian as
H_b = H + s(b) X with X free from the full-data Hessian H. This step densifies the trained
full-data Hessian H and the Hessians H_b of the same batches as step ``batch_*`` (mean loss over
``batch_size`` consecutive training samples, eval mode, the run's dtype, stored as float64) and
runs :func:`hessrmt.rmt.batch_noise.batch_noise_summary`: the noise scale s = ||H_b - H||_F /
sqrt(P), its localisation (IPR over GOE's, kurtosis of sqrt(P) v_i), its mean spacing ratio
<r~> against GOE, and H_b's top C - 1 eigenvalues (C = the number of model outputs; at least
one) against the outliers the free model predicts from H's top C - 1 eigenvalues (the spikes),
H's remaining eigenvalues (the bulk) and a semicircle of variance s^2. Every estimate carries a
standard error and a 95 % Student-t interval over the batches.

The step needs the dense path and at least two batch Hessians; otherwise it is skipped, with the
reason recorded in ``summary.json["skipped"]["batch_noise"]``.
"""

from __future__ import annotations

import time
from typing import Any

import numpy as np


def skip_reason(method: str, n_batches: int, n_params: int, n_spikes: int) -> str | None:
    """Why the step cannot run (None: it can)."""
    if method != "dense":
        return "the batch-noise analysis needs dense Hessians (method dense)"
    if n_batches < 2:
        return "the batch-noise analysis needs at least two batch Hessians (--batch-hessians)"
    if n_spikes >= n_params // 2:
        return f"too few parameters ({n_params}) for {n_spikes} outliers and a bulk"
    return None


def n_spikes_for(n_outputs: int) -> int:
    """Outliers expected of a cross-entropy Hessian: C - 1 (Papyan 2020; at least one)."""
    return max(int(n_outputs) - 1, 1)


def step_batch_noise(
    model: Any,
    loss_fn: Any,
    full_batches: list,
    small_batches: list,
    *,
    n_outputs: int,
    batch_size: int,
    dtype: Any,
    device: Any,
    progress: bool = False,
) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
    """Dense H and H_b of the trained model, then the batch-noise summary (JSON-able info)."""
    from hessrmt.analysis.spectra import make_operator
    from hessrmt.curvature.dense import dense_matrix
    from hessrmt.rmt.batch_noise import batch_noise_summary

    def dense(batches: list) -> np.ndarray:
        op = make_operator("hessian", model, loss_fn, batches, dtype=dtype, device=device)
        M = dense_matrix(op, progress=progress)
        return np.asarray(M.detach().cpu().numpy(), dtype=np.float64)

    t0 = time.perf_counter()
    A = dense(full_batches)
    hessians = [dense([b]) for b in small_batches]
    t1 = time.perf_counter()
    info = batch_noise_summary(A, hessians, n_spikes=n_spikes_for(n_outputs), batch_size=batch_size)
    info["seconds_matrices"] = t1 - t0
    info["seconds_analysis"] = time.perf_counter() - t1
    info["conventions"] = {
        "full": "H: Hessian of the mean training loss over the whole training split",
        "batch": f"H_b: Hessian of the mean loss over {batch_size} consecutive training samples "
        "(the batches of step batch_*)",
        "noise": "X_b = H_b - H; s = ||X_b||_F / sqrt(P); statistics per batch, then mean, "
        "standard error (ddof 1) and 95 % Student-t interval over batches",
        "spikes": "H's top n_spikes eigenvalues (n_spikes = outputs - 1, at least 1)",
        "localisation": "central half of X_b's eigenvectors; IPR over GOE's 3 / (P + 2); "
        "kurtosis of sqrt(P) v_i (Porter-Thomas: 3)",
        "outliers": "prediction: DeformedModel(bulk law of H without spikes, semicircle of "
        "variance s^2); agree when |measured - predicted| < z_agree standard errors",
    }
    return {}, info


def _across_processes(ctx: Any) -> bool:
    """True under torchrun with several processes: the step builds its matrices from this
    rank's shard only, so it is skipped there (recorded) rather than computed wrong."""
    ranks = getattr(ctx, "ranks", None)
    return bool(ranks is not None and getattr(ranks, "active", False))


def run_step(ctx: Any, method: str, store: Any) -> dict[str, Any] | None:
    """Run (or load) the checkpointed step ``batch_noise`` of an analysis context; None when
    skipped (see :func:`record`)."""
    n_spikes = n_spikes_for(ctx.dataset.n_outputs)
    if _across_processes(ctx) or (
        skip_reason(method, len(ctx.small_batches), ctx.n_params, n_spikes) is not None
    ):
        return None
    cfg = ctx.config
    if cfg.progress:
        import sys

        sys.stderr.write("hessrmt analyze: step batch_noise: H_b - H of the batch Hessians\n")
    _, info = store.step(
        "batch_noise",
        lambda: step_batch_noise(
            ctx.model,
            ctx.loss_fn,
            ctx.full_batches,
            ctx.small_batches,
            n_outputs=ctx.dataset.n_outputs,
            batch_size=cfg.batch_size,
            dtype=ctx.dtype,
            device=ctx.device,
            progress=cfg.progress,
        ),
    )
    return info


def record(summary: dict[str, Any], info: dict[str, Any] | None, ctx: Any, method: str) -> None:
    """Put the step's result into ``summary["batch_noise"]``, or the reason it was skipped into
    ``summary["skipped"]["batch_noise"]``."""
    if info is not None:
        summary["batch_noise"] = info
        return
    n_spikes = n_spikes_for(ctx.dataset.n_outputs)
    why = skip_reason(method, len(ctx.small_batches), ctx.n_params, n_spikes)
    if why is None and _across_processes(ctx):
        why = "not computed across processes (torchrun) yet: run analyze in one process for it"
    summary.setdefault("skipped", {})["batch_noise"] = why or "not computed"
