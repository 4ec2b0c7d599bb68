"""The ``hessrmt analyze`` pipeline: from a model and data to an RMT verdict and an HTML report.

Steps (each checkpointed in the run folder's checkpoints, see :mod:`hessrmt.runfolder`):

1. ``init``: curvature spectrum of the full-data Hessian at initialisation;
2. ``train``: training with the paper-1 SGD set-up (:func:`hessrmt.nn.train.train`), or the
   weights of ``--checkpoint``;
3. ``trained``: the full-data Hessian spectrum after training;
4. ``batch_000`` ...: Hessians of the mean loss over single batches of 64 consecutive training
   samples (Baskerville et al.), pooled for local statistics (rows of ``spectrum.npz['batch']``);
   ``batch_noise``: their noise H_b - H against the free deformed model
   (:mod:`hessrmt.analysis.batch_noise`; ``summary.json["batch_noise"]``);
5. ``ggn`` and ``residual`` (dense: part of step ``trained``): the Gauss-Newton part
   H0 = J^T (d^2 l / d f^2) J and the residual H1 = H - H0 of the trained full-data Hessian
   (Pennington & Bahri 2017);
6. ``slq``: a stochastic Lanczos quadrature density of the trained Hessian, overlaid on the exact
   histogram as a cross-check;

then the RMT analysis of every spectrum (:mod:`hessrmt.analysis.statistics`) and the run folder:
``summary.json``, ``spectrum.npz`` (one array per spectrum: ``trained``, ``init``, ``batch``,
``ggn``, ``residual``), ``slq.npz``, ``model.pt`` (trained ``state_dict``), ``figures/*.png`` and
``report.html``. The run folder is a :class:`hessrmt.runfolder.RunFolder` (kind ``analyze``;
default ``runs/analyze-<UTC timestamp>``): built under a temporary sibling name and renamed into
place, so it is either complete or absent; checkpoints live in the hidden sibling
``.<name>.partial`` until the run folder exists; a second run on the same folder is refused while
one runs; checkpoints of other settings and a finished folder are refused unless ``overwrite``
(which replaces only folders hessrmt made). Each step is also keyed by the settings it reads
(:func:`step_settings`): an ``overwrite`` run that changes, say, only the sub-block, SLQ or
statistics options of an interrupted run reuses the steps those options do not touch.
:func:`analyze` changes no process-wide state (the allocator tuning of the command line is
:func:`hessrmt.cli.analyze.retain_freed_memory`).

With ``method="lanczos"`` (or ``auto`` above the memory-derived limit) the spectra (full data and
batches) are the ``lanczos_k`` largest and smallest eigenvalues only and the density comes from
SLQ; the local statistics come from exact principal sub-blocks of the trained Hessian (step
``subblock_000`` ...: per layer by default, :mod:`hessrmt.analysis.subblocks`), which give a
per-layer table (``summary.json['subblocks']``, ``subblocks.npz``, the report). Peak memory
(``summary.json['memory']``): the Lanczos basis, the operator's product workspace, one chunk of
unit vectors (256 MiB) and one sub-block (8 m^2 bytes); never a P x P matrix.

Under ``torchrun`` (an initialised ``torch.distributed`` group of several processes) the same
steps run on every rank over its shard of the data, with rank 0 alone writing the run folder:
see :mod:`hessrmt.analysis.distributed`.

This module only orchestrates: the step bodies are :mod:`hessrmt.analysis.steps`, the
batch-noise step :mod:`hessrmt.analysis.batch_noise`, the sub-block steps
:mod:`hessrmt.analysis.subblocks`, the records :mod:`hessrmt.analysis.statistics`.
"""

from __future__ import annotations

import dataclasses
import hashlib
import io
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

from hessrmt.analysis.config import AnalysisConfig, unread_settings
from hessrmt.analysis.distributed import DISTRIBUTED_CONVENTION, Ranks, SyncedRun, open_run
from hessrmt.analysis.method import MethodChoice, choose_method, plan_text
from hessrmt.analysis.steps import (
    FULL_DATA_BATCH,  # noqa: F401 - public name, moved to steps
    step_init,
    step_train,
    step_trained_dense,
)
from hessrmt.analysis.steps import Context as _Context
from hessrmt.analysis.steps import load_state as _load_state
from hessrmt.analysis.steps import spectrum_step as _spectrum_step
from hessrmt.analysis.steps import state_arrays as _state_arrays  # noqa: F401 - old name
from hessrmt.io import atomic_save_npz, atomic_write_bytes, atomic_write_json
from hessrmt.results import Metadata, Result, versions
from hessrmt.runfolder import RunFolder, default_out

#: Names of the spectra, in report order.
SPECTRA = ("trained", "init", "batch", "ggn", "residual")


@dataclasses.dataclass(frozen=True)
class AnalysisResult(Result):
    """What :func:`analyze` returns: the run folder, the summary and the eigenvalues.

    ``summary`` is the content of ``summary.json``; ``spectra`` maps each spectrum name to its
    eigenvalues (ascending; ``batch`` is 2-D, one row per batch).
    """

    kind = "analysis"

    out: str
    summary: dict[str, Any]
    spectra: dict[str, np.ndarray]
    meta: Metadata = dataclasses.field(default_factory=Metadata)

    def verdicts(self) -> dict[str, str | None]:
        """Verdict of the local statistics of each spectrum (None where not computed)."""
        return {name: self.summary[name].get("verdict") for name in self.summary["spectra"]}


def _log(config: AnalysisConfig, message: str) -> None:
    if config.progress:
        sys.stderr.write(f"hessrmt analyze: {message}\n")
        sys.stderr.flush()


def run_settings(config: AnalysisConfig, method: str | None = None) -> dict[str, Any]:
    """What the run folder fingerprints: the numeric settings, the checkpoint's SHA-256 and,
    for ``method="auto"``, the method it resolved to (``method``).

    ``auto`` resolves to dense or Lanczos from ``max_dense_params`` or the memory available now,
    neither of which is a numeric setting; fingerprinting the resolved method keeps a resumed
    run from mixing dense and Lanczos checkpoints (it is refused as a run of other settings).
    An explicit ``dense`` or ``lanczos`` is already in the numeric settings.
    """
    settings: dict[str, Any] = {"analysis": config.numeric_settings()}
    if config.method == "auto" and method is not None:
        settings["resolved_method"] = method
    if config.checkpoint is not None and Path(config.checkpoint).is_file():
        h = hashlib.sha256()
        with Path(config.checkpoint).open("rb") as fh:
            for block in iter(lambda: fh.read(1 << 20), b""):
                h.update(block)
        settings["checkpoint_sha256"] = h.hexdigest()
    return settings


def step_settings(settings: dict[str, Any], step: str) -> dict[str, Any]:
    """The part of :func:`run_settings` that checkpointed step ``step`` reads (its own settings,
    see :func:`hessrmt.analysis.config.unread_settings`); the run folder keys the step by it."""
    unread = unread_settings(step)
    own = {k: v for k, v in settings["analysis"].items() if k not in unread}
    return {**settings, "analysis": own}


def _analysis_conventions(ctx: _Context, choice: MethodChoice) -> dict[str, str]:
    cfg = ctx.config
    return {
        "loss": f"{ctx.loss_name}, mean over samples (make_loss reduction='mean')",
        "hessian": "Hessian of the full-data training loss (the mean over all training samples; "
        "batches weighted by their sizes) with respect to all trainable parameters, ordered as "
        "torch.nn.utils.parameters_to_vector; BatchNorm/dropout in eval mode",
        "batch": f"Hessians of the mean loss over single batches of {cfg.batch_size} "
        "consecutive training samples (no shuffling, incomplete batches dropped); rows of "
        "spectrum.npz['batch'] are batches, analysed as independent spectra",
        "ggn": "Gauss-Newton part H0 = J^T (d^2 loss / d outputs^2) J of the trained full-data "
        "Hessian; residual H1 = H - H0 (Pennington & Bahri, ICML 2017): dense path: "
        "eigenvalues of the difference of the dense H and H0; Lanczos path: ResidualOperator",
        "eigenvalues": f"ascending; computed in {cfg.dtype}, stored as float64"
        + ("" if choice.method == "dense" else "; Lanczos: extremal eigenvalues only"),
        "statistics": "local statistics (reduced ratios r~ = min(r, 1/r), unfolded spacings) "
        "on the bulk: zeros (|lambda| <= zero_tolerance) and outliers excluded",
        "trace": "sum of eigenvalues; batch: mean over batches",
        "n_negative": "eigenvalues below -zero_tolerance (round-off not counted); "
        "n_negative_raw counts all lambda < 0",
        "fits": "semicircle and Marchenko-Pastur fitted by moments to all eigenvalues (zeros "
        "included); ks_statistic and wasserstein say how badly each fits"
        + (
            f"; plausible: KS within the {cfg.fit_null}-replicate simulated-null threshold"
            if cfg.fit_null
            else " (no simulated-null test: fit_null = 0)"
        ),
        "family_fits": "trained spectrum only (dense path): random-matrix families fitted by "
        "W1 with the atom matched to the measured zero fraction, outliers kept apart, ranked by "
        f"W1; p-values from a {cfg.family_boot}-replicate refitting parametric bootstrap"
        if cfg.family_fit
        else "not computed (family_fit off)",
        "slq": "stochastic Lanczos quadrature of the trained full-data Hessian "
        f"({cfg.slq_probes} probes, {cfg.slq_steps} steps, seed {cfg.seed}, "
        + (
            "Gauss rule"
            if cfg.slq_quadrature == "gauss"
            else "Gauss-Radau rule with a node at 0: node_mass = its weight there, mean over "
            "probes with standard error node_mass_se"
        )
        + "); wasserstein_to_exact = W1 between its quadrature measure and the exact spectrum",
        "distributed": DISTRIBUTED_CONVENTION,
    }


def _slq_trace(arrays: dict[str, np.ndarray], n: int) -> tuple[float, float]:
    """Trace estimate n * sum_j w_pj theta_pj per probe (unit probes), mean and standard error."""
    w = np.atleast_2d(arrays["weights"])
    w = w / w.sum(axis=1, keepdims=True)
    per = n * (w * np.atleast_2d(arrays["nodes"])).sum(axis=1)
    se = float(per.std(ddof=1) / np.sqrt(per.size)) if per.size > 1 else float("nan")
    return float(per.mean()), se


def analyze(config: AnalysisConfig | None = None, /, **settings: Any) -> AnalysisResult:
    """Run the whole pipeline (see the module docstring); returns an :class:`AnalysisResult`.

    ``config`` is an :class:`AnalysisConfig` (default: the built-in default run); keyword
    ``settings`` override its fields, e.g. ``analyze(epochs=5, batch_hessians=2, out="run")``.
    Called on every rank of an initialised ``torch.distributed`` group, it runs across the
    ranks (:mod:`hessrmt.analysis.distributed`) and returns rank 0's result on every rank.
    """
    config = (config or AnalysisConfig()).replace(**settings) if settings else config
    config = config or AnalysisConfig()
    ranks = Ranks(config.collective_timeout)  # several when torch.distributed is initialised
    if not ranks.is_main:
        config = config.replace(progress=False)  # progress and messages on rank 0 only
    out = Path(config.out) if config.out is not None else default_out("analyze")
    config = config.replace(out=str(out))

    t_start = time.perf_counter()
    ctx = _Context(config, ranks)  # before the run folder: its fingerprint needs the method
    choice = choose_method(
        config.method,
        ctx.n_params,
        dtype=config.dtype,
        device=str(ctx.device),
        max_dense_params=config.max_dense_params,
    )

    keyed = run_settings(config, choice.method)

    def folder() -> RunFolder:
        return RunFolder(
            out,
            kind="analyze",
            settings=keyed,
            overwrite=config.overwrite,
            log=lambda message: _log(config, message),
            step_settings=lambda step: step_settings(keyed, step),
        )

    with open_run(ranks, out, folder) as run:
        if run.out != out:  # another rank's default --out: rank 0's is the run folder
            out = run.out
            config = config.replace(out=str(out))
            ctx.config = config
        return _analyze_in(run, ctx, choice, out, t_start)


def _analyze_in(
    run: SyncedRun, ctx: _Context, choice: MethodChoice, out: Path, t_start: float
) -> AnalysisResult:
    """The pipeline inside an open (locked, checked) run folder (see
    :mod:`hessrmt.analysis.distributed` for several processes)."""
    from hessrmt.analysis.method import memory_record
    from hessrmt.analysis.spectra import slq_wasserstein
    from hessrmt.analysis.statistics import (
        partial_record,
        spectrum_record,
        too_few_levels_advice,
    )
    from hessrmt.analysis.subblocks import run_subblocks, subblock_summary, write_subblocks

    config, ranks = ctx.config, ctx.ranks
    _log(config, f"{config.model} on {config.data}: P = {ctx.n_params} parameters; {choice.reason}")
    plan = plan_text(
        choice,
        ctx.n_params,
        dtype=config.dtype,
        dense_hessians=3 + len(ctx.small_batches),  # init, trained H and H0, batches
        lanczos_runs=4 + len(ctx.small_batches),  # init, trained, GGN, residual, batches
        lanczos_k=config.lanczos_k,
        max_restarts=config.lanczos_restarts,
        slq_products=config.slq_probes * config.slq_steps,
    )
    _log(config, plan)
    spectra, infos, slq_arrays, trained_state = _run_steps(ctx, choice, run)
    sub_state, sub_arrays = run_subblocks(ctx, choice, run, infos, _log)
    if run.resumed_steps:
        _log(
            config,
            f"loaded from checkpoints: {', '.join(run.resumed_steps)}; computed: "
            + (", ".join(run.computed_steps) or "none"),
        )

    # --- analysis -------------------------------------------------------------------------
    _log(config, "analysing spectra")
    summary: dict[str, Any] = {
        "n_params": ctx.n_params,
        "method": choice.method,
        "method_reason": choice.reason,
        "plan": plan,
        "dense_limit": choice.limit,
        "dtype": config.dtype,
        "seed": config.seed,
        "versions": versions(),
        "model": config.model,
        "data": ctx.dataset.describe(),
        "loss": ctx.loss_name,
        "spectra": [name for name in SPECTRA if name in spectra],
        "skipped": {},
    }
    if choice.method == "dense":
        for name in SPECTRA:
            if name in spectra:
                summary[name] = spectrum_record(
                    spectra[name],
                    zero_rtol=config.zero_rtol,
                    seed=config.seed,
                    dtype=config.dtype,
                    fit_null=config.fit_null,
                    advice=too_few_levels_advice(name, ctx.n_params, config.batch_hessians),
                )
        if config.family_fit and "trained" in spectra:
            from hessrmt.analysis.statistics import family_fit_record

            _log(config, "fitting the random-matrix families to the trained spectrum")
            summary["trained"]["family_fits"] = family_fit_record(
                spectra["trained"],
                n_boot=config.family_boot,
                seed=config.seed,
                zero_rtol=config.zero_rtol,
                dtype=config.dtype,
            )
    else:
        tr, se = _slq_trace(slq_arrays, ctx.n_params)
        for name in SPECTRA:
            if name in spectra:
                est = (tr, se) if name == "trained" else (None, None)
                summary[name] = partial_record(spectra[name], trace=est[0], trace_stderr=est[1])
    if "batch" not in spectra:
        summary["skipped"]["batch"] = (
            "no batch Hessians requested (--batch-hessians 0) or no complete batch"
        )
    from hessrmt.analysis.batch_noise import record

    record(summary, infos.pop("batch_noise", None), ctx, choice.method)
    if choice.method == "dense" and slq_arrays:
        infos["slq"]["wasserstein_to_exact"] = slq_wasserstein(
            slq_arrays["nodes"], slq_arrays["weights"], spectra["trained"]
        )
    summary["subblocks"] = subblock_summary(
        sub_state, sub_arrays, infos, config, reference=summary.get("trained")
    )
    summary["training"] = infos.get("train", {})
    summary["steps"] = {k: v for k, v in infos.items() if k != "train"}
    summary["settings"] = config.to_dict()
    summary["conventions"] = _analysis_conventions(ctx, choice)
    summary["distributed"] = ranks.record(ctx.dataset.n_train)
    summary["memory"] = memory_record(ctx.n_params, choice, config, sub_arrays)
    summary["seconds"] = time.perf_counter() - t_start

    # --- run folder (rank 0 writes; every rank gets its summary) -----------------------------
    _log(config, f"writing {out}")

    def write(tmp: Path) -> None:
        _write_outputs(tmp, summary, spectra, slq_arrays, trained_state)
        write_subblocks(tmp, sub_arrays)

    summary = run.finish(write, summary)
    meta = Metadata.create(
        seed=config.seed,
        dtype=config.dtype,
        conventions=summary["conventions"],
        method=choice.method,
        out=str(out),
    )
    return AnalysisResult(out=str(out), summary=summary, spectra=spectra, meta=meta)


def _run_steps(
    ctx: _Context, choice: MethodChoice, store: SyncedRun
) -> tuple[dict[str, np.ndarray], dict[str, dict], dict[str, np.ndarray], dict[str, np.ndarray]]:
    """Run (or load) every checkpointed step; return spectra, step infos, SLQ arrays, state."""
    from hessrmt.analysis.spectra import make_operator, slq_density

    cfg = ctx.config
    spectra: dict[str, np.ndarray] = {}
    infos: dict[str, dict] = {}

    _log(cfg, "step init: Hessian at initialisation")
    arrays, infos["init"] = store.step("init", lambda: step_init(ctx, choice))
    spectra["init"] = arrays["eigenvalues"]

    _log(cfg, "step train: " + ("loading checkpoint" if cfg.checkpoint else "training"))
    state, infos["train"] = store.step("train", lambda: step_train(ctx))
    _load_state(ctx.model, state)

    if choice.method == "dense":
        _log(
            cfg, "step trained: Hessian H, Gauss-Newton part H0 and residual H - H0 after training"
        )
        arrays, infos["trained"] = store.step("trained", lambda: step_trained_dense(ctx))
        spectra["trained"] = arrays["hessian"]
        spectra["ggn"], spectra["residual"] = arrays["ggn"], arrays["residual"]
    else:
        _log(cfg, "step trained: Hessian after training (Lanczos)")
        arrays, infos["trained"] = store.step(
            "trained",
            lambda: _spectrum_step(ctx, choice, "hessian", ctx.full_batches, "full-data Hessian"),
        )
        spectra["trained"] = arrays["eigenvalues"]

    if ctx.small_batches:
        rows = []
        batch_infos = []
        from tqdm.auto import tqdm

        items = list(enumerate(ctx.small_batches))
        bar = tqdm(
            items, desc="batch Hessians", unit="batch", leave=False, disable=not cfg.progress
        )
        for i, batch in bar:
            arrays, info = store.step(
                f"batch_{i:03d}",
                lambda b=batch, i=i: _spectrum_step(
                    ctx, choice, "hessian", [b], f"Hessian of batch {i}"
                ),
            )
            rows.append(arrays["eigenvalues"])
            batch_infos.append(info)
        spectra["batch"] = np.vstack(rows)
        infos["batch"] = {
            "n_batches": len(rows),
            "batch_size": cfg.batch_size,
            "requested": cfg.batch_hessians,
            "seconds": float(sum(b.get("seconds", 0.0) for b in batch_infos)),
        }

    from hessrmt.analysis import batch_noise

    infos["batch_noise"] = batch_noise.run_step(ctx, choice.method, store)

    if choice.method != "dense":
        for kind in ("ggn", "residual"):
            _log(cfg, f"step {kind} (Lanczos)")
            arrays, infos[kind] = store.step(
                kind,
                lambda kind=kind: _spectrum_step(
                    ctx, choice, kind, ctx.full_batches, f"{kind} part of the full-data Hessian"
                ),
            )
            spectra[kind] = arrays["eigenvalues"]

    _log(cfg, "step slq: stochastic Lanczos quadrature density")

    def _slq() -> tuple[dict, dict]:
        op = make_operator(
            "hessian", ctx.model, ctx.loss_fn, ctx.full_batches, dtype=ctx.dtype, device=ctx.device
        )
        op = ctx.ranks.wrap(op)
        return slq_density(
            op,
            num_probes=cfg.slq_probes,
            num_steps=cfg.slq_steps,
            seed=cfg.seed,
            progress=cfg.progress,
            quadrature=cfg.slq_quadrature,
        )

    slq_arrays, infos["slq"] = store.step("slq", _slq)
    return spectra, infos, slq_arrays, state


def _write_outputs(
    folder: Path,
    summary: dict[str, Any],
    spectra: dict[str, np.ndarray],
    slq_arrays: dict[str, np.ndarray],
    state: dict[str, np.ndarray],
) -> None:
    """Write the run folder's files into ``folder`` (the run folder's temporary)."""
    import torch

    from hessrmt.report.analysis_report import build_report

    atomic_save_npz(folder / "spectrum.npz", spectra)
    atomic_save_npz(folder / "slq.npz", slq_arrays)
    buf = io.BytesIO()
    torch.save({k: torch.as_tensor(v) for k, v in state.items()}, buf)
    atomic_write_bytes(folder / "model.pt", buf.getvalue())
    atomic_write_json(folder / "summary.json", summary)
    build_report(folder, summary=summary, spectra=spectra, slq=slq_arrays)
