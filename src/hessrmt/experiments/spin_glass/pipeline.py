"""``hessrmt reproduce spin-glass``: ABC, general laws, activations, p-spin descents, networks.

Steps (each a checkpointed :class:`~hessrmt.runfolder.RunFolder` step; an interrupted run
resumes):

1. ``abc`` -- E_inf, E_0..E_K for ``table_ps``; ABC's finite-N identity by GOE sampling
   (:mod:`hessrmt.rmt.complexity.kac_rice`) against Theta_{k,p} for k = 0, 1 at several N, with
   the fitted convergence exponent of |Theta_N - Theta| below and above the threshold.
2. ``laws`` -- threshold and bands for each named law (:mod:`hessrmt.rmt.complexity.catalogue`),
   with ABC's constant and with the total count held at ABC's.
3. ``activations`` -- theta(f) for each activation and piecewise approximation, and the bands of
   GOE + theta e e^T (:mod:`hessrmt.rmt.complexity.spiked`).
4. ``pspin_descent`` -- Riemannian gradient descent on the 3-spin at two N
   (:mod:`.descent`): stopping energies against -E_0 and -E_inf, fractions with standard errors,
   Hessian indices; optionally the 4-spin too (``descent_p4_ns``, full mode; under ``other_p``).
5. ``networks`` -- trainings of 16 -> w -> w -> 10 MLPs on pooled digits per activation and
   width (:mod:`.networks`): final losses, Hessian indices.

Outputs: ``summary.json`` (sections ``abc``, ``laws``, ``activations``, ``pspin_descent``,
``networks``, plus ``config`` and ``conventions``), ``arrays.npz``, ``figures/*.png`` and
``report.html``. All threads are limited to ``config.threads`` (BLAS oversubscription made the
contraction 80x slower on a loaded 2-core machine).
"""

from __future__ import annotations

import dataclasses
import json
import math
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

from hessrmt.errors import InputError
from hessrmt.io import atomic_save_npz, atomic_write_json, to_jsonable
from hessrmt.results import versions
from hessrmt.runfolder import RunFolder, declared_step_settings, limit_threads

KIND = "spin-glass"


@dataclasses.dataclass(frozen=True)
class SpinGlassConfig:
    mode: str
    seed: int = 0
    threads: int = 1
    # abc
    table_ps: tuple[int, ...] = (3, 4, 5, 10)
    kmax: int = 5
    curve_ps: tuple[int, ...] = (3, 4)
    finite_ns: tuple[int, ...] = (25, 50, 100, 200)
    finite_samples: int = 1000
    rate_u_bulk: float = -1.0
    # laws / activations
    law_specs: tuple[str, ...] = ("semicircle", "uniform", "mp:0.1", "mp:0.5", "sc+mp:0.1")
    band_p: int = 3
    band_kmax: int = 3
    activations: tuple[str, ...] = ("relu", "leaky_relu", "tanh", "sigmoid", "gelu")
    pieces: tuple[int | None, ...] = (2, 4, 8, None)
    # p-spin descent
    descent_p: int = 3
    descent_ns: tuple[int, ...] = (50, 100)
    disorder: int = 6
    starts: int = 10
    lr: float = 0.1
    max_steps: int = 3000
    gtol: float = 1e-5
    band: float = 0.02
    descent_p4_ns: tuple[int, ...] = ()  # optional 4-spin descents (full mode)
    # networks
    net_activations: tuple[str, ...] = ("relu", "tanh", "gelu", "pwl-gelu-4")
    widths: tuple[int, ...] = (3, 6)
    runs: int = 5
    n_samples: int = 200
    train_steps: int = 300


def quick_config(seed: int = 0) -> SpinGlassConfig:
    return SpinGlassConfig(mode="quick", seed=seed)


def full_config(seed: int = 0) -> SpinGlassConfig:
    return SpinGlassConfig(
        mode="full", seed=seed, finite_ns=(25, 50, 100, 200, 400, 800), finite_samples=10000,
        law_specs=("semicircle", "uniform", "mp:0.1", "mp:0.5", "mp:1.5", "sc+mp:0.1",
                   "sc+mp:0.5", "product:0.5"),
        descent_ns=(100, 250), descent_p4_ns=(40, 70), disorder=10, starts=20, max_steps=5000,
        net_activations=("relu", "leaky_relu", "tanh", "gelu", "pwl-relu-2", "pwl-tanh-2",
                         "pwl-tanh-4", "pwl-gelu-2", "pwl-gelu-4", "pwl-gelu-8"),
        widths=(3, 6, 12, 24), runs=50, train_steps=1000,
    )  # fmt: skip


def validate(config: SpinGlassConfig) -> None:
    if config.seed < 0:
        raise InputError(f"--seed must be >= 0, got {config.seed}")
    if len(config.descent_ns) < 1 or min(config.descent_ns) < 3:
        raise InputError("descent N values must be >= 3")
    if config.disorder < 1 or config.starts < 1 or config.runs < 1:
        raise InputError("disorder samples, starts and runs must be >= 1")
    for p, ns in ((config.descent_p, config.descent_ns), (4, config.descent_p4_ns)):
        for n in ns:
            if n < 3 or float(n) ** p > 5e8:
                raise InputError(f"N = {n} is not usable for p = {p} (3 <= N, N^p <= 5e8)")


#: The settings each checkpointed step reads (its checkpoint is keyed by them, so that an
#: ``--overwrite`` run changing only others, e.g. more network runs, reuses the rest). Checked
#: against the code by ``tests/experiments/test_spin_glass_pipeline.py``.
STEP_SETTINGS: dict[str, tuple[str, ...]] = {
    "abc": ("table_ps", "kmax", "curve_ps", "finite_ns", "finite_samples", "rate_u_bulk",
            "seed"),
    "laws": ("law_specs", "band_p", "band_kmax"),
    "activations": ("activations", "pieces", "band_p", "band_kmax"),
    "pspin_descent": ("descent_p", "descent_ns", "disorder", "starts", "lr", "max_steps", "gtol",
                      "band", "seed"),
    "pspin_descent_p4": ("descent_p4_ns", "disorder", "starts", "lr", "max_steps", "gtol",
                         "band", "seed"),
    "networks": ("net_activations", "widths", "runs", "n_samples", "train_steps", "seed",
                 "threads"),
}  # fmt: skip


def _log(msg: str) -> None:
    sys.stderr.write(f"spin-glass: {msg}\n")


def run(
    config: SpinGlassConfig,
    out: str | Path | None,
    *,
    overwrite: bool = False,
    progress: bool = False,
    log=_log,
) -> dict[str, Any]:
    """Run (or resume) the reproduction into ``out``; returns the summary dict."""
    from . import descent, theory

    validate(config)
    timings: dict[str, float] = {}
    with (
        limit_threads(config.threads),
        RunFolder(
            out,
            kind=KIND,
            settings=config,
            overwrite=overwrite,
            log=log,
            step_settings=declared_step_settings(STEP_SETTINGS, config),
        ) as run_,
    ):

        def step(name: str, fn):
            t0 = time.perf_counter()
            res = run_.step(name, fn)
            timings[name] = time.perf_counter() - t0
            if log:
                log(f"{name}: {timings[name]:.1f} s")
            return res

        abc_a, abc_i = step("abc", lambda: theory.abc_section(
            config.table_ps, config.kmax, config.curve_ps, config.finite_ns,
            config.finite_samples, config.rate_u_bulk, config.seed))  # fmt: skip
        _, laws_i = step("laws", lambda: theory.laws_section(
            config.law_specs, config.band_p, config.band_kmax))  # fmt: skip
        _, act_i = step("activations", lambda: theory.activations_section(
            config.activations, config.pieces, config.band_p, config.band_kmax))  # fmt: skip
        bar = None
        if progress:
            from tqdm import tqdm

            bar = tqdm(total=len(config.descent_ns) * config.disorder, desc="p-spin descents",
                       file=sys.stderr)  # fmt: skip
        desc_a, desc_i = step("pspin_descent", lambda: descent.descent_section(
            config.descent_p, config.descent_ns, config.disorder, config.starts, lr=config.lr,
            max_steps=config.max_steps, gtol=config.gtol, band=config.band,
            seed=config.seed + 1, progress=bar.update if bar else None))  # fmt: skip
        if bar:
            bar.close()
        if config.descent_p4_ns:
            p4_a, p4_i = step("pspin_descent_p4", lambda: descent.descent_section(
                4, config.descent_p4_ns, config.disorder, config.starts, lr=config.lr / 2,
                max_steps=config.max_steps, gtol=config.gtol, band=config.band,
                seed=config.seed + 2))  # fmt: skip
            desc_i = {**desc_i, "other_p": [p4_i]}
            desc_a = {**desc_a, **{f"p4_{k}": v for k, v in p4_a.items()}}
        net_a, net_i = step("networks", lambda: _networks(config))
        summary = {
            "kind": KIND,
            "mode": config.mode,
            "config": dataclasses.asdict(config),
            "abc": abc_i,
            "laws": laws_i,
            "activations": act_i,
            "pspin_descent": desc_i,
            "networks": net_i,
            "timings_s": timings,
            "resumed_steps": list(run_.resumed_steps),
            "conventions": {
                "pspin": "H_N = N^{-(p-1)/2} sum J sigma..sigma, |sigma|^2 = N, u = H_N/N",
                "laws": "standardised to mean 0, variance 1 (the ABC semicircle has variance 1)",
                "loss": "mean cross-entropy over the training subset",
                "references": "docs/reference/spin-glass.md, oracles.md §12, papers.md §7-8",
            },
            "versions": versions(),
        }
        arrays = {**{f"abc/{k}": v for k, v in abc_a.items()},
                  **{f"descent/{k}": v for k, v in desc_a.items()},
                  **{f"networks/{k}": v for k, v in net_a.items()}}  # fmt: skip
        with run_.finalize() as tmp:
            from .report import write_outputs

            atomic_save_npz(tmp / "arrays.npz", arrays)
            write_outputs(tmp, summary, arrays)
            atomic_write_json(tmp / "summary.json", to_jsonable(summary))
    return json.loads(json.dumps(to_jsonable(summary)))


def _networks(config: SpinGlassConfig) -> tuple[dict[str, np.ndarray], dict]:
    import torch

    from .networks import train_runs

    torch.set_num_threads(max(1, config.threads))
    arrays: dict[str, np.ndarray] = {}
    rows = []
    for ai, act in enumerate(config.net_activations):
        for w in config.widths:
            r = train_runs(act, w, config.runs, seed=config.seed * 100003 + 1000 * ai + w,
                           n_samples=config.n_samples, steps=config.train_steps)  # fmt: skip
            arrays[f"loss_{act}_w{w}"] = r.loss
            arrays[f"index_{act}_w{w}"] = r.index
            q25, q75 = np.percentile(r.loss, [25, 75])
            n = r.loss.size
            rows.append({
                "activation": act, "width": w, "n_params": r.n_params, "runs": n,
                "loss_mean": float(r.loss.mean()),
                "loss_stderr": float(r.loss.std(ddof=1) / math.sqrt(n)) if n > 1 else None,
                "loss_std": float(r.loss.std(ddof=1)) if n > 1 else None,
                "loss_iqr": float(q75 - q25),
                "grad_norm_max": float(r.grad_norm.max()),
                "index_mean": float(r.index.mean()),
                "index_fraction_mean": float(r.index_fraction.mean()),
            })  # fmt: skip
    # does the loss band narrow with width? (std at the largest vs the smallest width)
    narrowing = {}
    for act in config.net_activations:
        by_w = [r for r in rows if r["activation"] == act]
        lo, hi = by_w[0], by_w[-1]
        if lo["loss_std"] is not None and hi["loss_std"] is not None:
            narrowing[act] = {"width_small": lo["width"], "std_small": lo["loss_std"],
                              "width_large": hi["width"], "std_large": hi["loss_std"],
                              "narrows": hi["loss_std"] < lo["loss_std"]}  # fmt: skip
    info = {
        "rows": rows,
        "narrowing": narrowing,
        "setup": "digits pooled to 4x4 (16 inputs), fixed subset, MLP 16-w-w-10, Adam full batch, "
        "mean cross-entropy; index = negative eigenvalues of the exact float64 Hessian "
        "(< -1e-9 max|eig|)",
        "n_samples": config.n_samples,
        "train_steps": config.train_steps,
    }
    return arrays, info
