"""The Pennington & Bahri (2017) memorisation experiment, end to end: orchestration only.

The pieces (each in its own module):

* :mod:`.config`: settings, quick / full presets, the plan of searches;
* :mod:`.search`: one seeded critical-point search or minimisation and the spectra at the point
  (the checkpointed unit);
* :mod:`.powerlaw`: the general power-law fit with intervals and the test of gamma = 3/2;
* :mod:`.summary`: ``summary.json`` (per-phi ``thresholds``, exponents, theory comparison,
  minimisers, runaway);
* :mod:`.conclusions`: every report sentence, computed from the summary;
* :mod:`.autoencoder`: the ReLU autoencoder's H0 / H1 spectra (the paper's other figure);
* :mod:`.runtime`: the duration model and its calibration on the run's first searches;
* :mod:`.figures`, :mod:`.report`: figures and the HTML report.

Run folder, checkpoints and resume: :class:`hessrmt.runfolder.RunFolder` (kind
``"pennington-bahri"``; settings = the whole :class:`.config.Config` except ``threads``, plus
``data_root``). Each search is one checkpointed result, the autoencoder one step; an interrupted
run resumes with the same settings and gives identical records; outputs (``summary.json``,
``report.html``, ``figures/*.png``, ``autoencoder_spectra.npz``) appear atomically at the end.
"""

from __future__ import annotations

import dataclasses
import io
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

from hessrmt.errors import InputError
from hessrmt.io import atomic_save_npz, atomic_write_bytes, atomic_write_json, to_jsonable
from hessrmt.runfolder import RunFolder, limit_threads

from . import task as T
from .config import Config, planned_searches, validate
from .runtime import calibration_order, estimate_from_records
from .search import PointRecord, run_search
from .summary import summarize

#: Searches of every (kind, phi) group run first, to calibrate the duration estimate.
CALIBRATION_SEARCHES = 3
AE_ARRAYS = ("theta", "eig_h", "eig_h0", "eig_h1")


def step_name(kind: str, phi: float, seed: int) -> str:
    """The checkpoint name of one search."""
    return f"{kind}_phi{phi:.6g}_seed{seed}".replace(".", "p")


def settings_of(config: Config, data_root: str | Path | None) -> dict[str, Any]:
    """What the run folder fingerprints: everything that can change the numbers."""
    d = dataclasses.asdict(config)
    d.pop("threads")
    return d | {"data_root": None if data_root is None else str(Path(data_root).resolve())}


def step_settings_of(config: Config, data_root: str | Path | None, name: str) -> dict[str, Any]:
    """The settings the checkpoint ``name`` reads: the autoencoder its data, seed and preset
    (``quick``: the number of null replicates); a search :meth:`Config.key` (the task and the
    finder's settings; its kind, phi and seed are in its name). An ``--overwrite`` run that
    changes only other settings (more starts or phis, the analysis) reuses them."""
    if name == "autoencoder":
        root = None if data_root is None else str(Path(data_root).resolve())
        return {"autoencoder": {"data_root": root, "seed": config.seed, "quick": config.quick}}
    return {"search": config.key()}


def _autoencoder_step(config: Config, data_root: str | Path | None):
    from .autoencoder import run_autoencoder

    def compute() -> tuple[dict[str, np.ndarray], dict[str, Any]]:
        ae = run_autoencoder(data_root, seed=config.seed, n_null=20 if config.quick else 100)
        arrays = {k: np.asarray(ae.pop(k)) for k in AE_ARRAYS}
        return arrays, ae

    return compute


def check_memory(config: Config) -> str:
    """One line on the dense matrices every search builds; a width whose P x P float64 Hessians
    cannot fit in the memory available now is a one-line :class:`InputError` naming the largest
    width that fits (instead of a run that swaps or dies without a word)."""
    from hessrmt.analysis.method import (
        DENSE_COPIES,
        MEMORY_FRACTION,
        dense_parameter_limit,
        format_bytes,
    )

    def p_of(width: int) -> int:
        return T.n_params_of(
            width, config.n_in or width, config.n_out or width, config.bias
        )  # fmt: skip

    P = p_of(config.width)
    limit, avail = dense_parameter_limit("float64")
    need = DENSE_COPIES * 8 * P**2
    if P > limit:
        lo, hi = 0, config.width  # P grows with the width: the largest width that fits
        while hi - lo > 1:
            mid = (lo + hi) // 2
            lo, hi = (mid, hi) if p_of(mid) <= limit else (lo, mid)
        raise InputError(
            f"--width {config.width} gives P = {P:,} parameters: each search builds dense "
            f"P x P float64 Hessians (about {format_bytes(need)} for {DENSE_COPIES} copies), "
            f"more than the {format_bytes(MEMORY_FRACTION * avail)} of memory it may use; use "
            f"--width {lo} or less"
        )
    return (
        f"P = {P:,} parameters; dense P x P float64 Hessians of {format_bytes(8 * P**2)} per "
        f"search (peak about {format_bytes(need)}; {format_bytes(avail)} available)"
    )


def run(
    config: Config,
    out: str | Path | None = None,
    *,
    overwrite: bool = False,
    data_root: str | Path | None = None,
    progress: bool = False,
    log: Any = None,
    announce: Any = None,
) -> dict[str, Any]:
    """Run (or resume) the experiment into ``out``; returns the summary dict.

    ``announce()`` is called once the run folder is open and checked (to state the plan only
    when the run will go ahead, so that a refusal stays one line).
    """
    validate(config)
    check_memory(config)
    if data_root is not None and config.autoencoder:
        from .autoencoder import cifar_batch

        cifar_batch(data_root)  # a wrong --data-root fails now, not after the searches
    with (
        limit_threads(config.threads),
        RunFolder(
            out,
            kind="pennington-bahri",
            settings=settings_of(config, data_root),
            overwrite=overwrite,
            log=log,
            step_settings=lambda name: step_settings_of(config, data_root, name),
        ) as folder,
    ):
        if announce is not None:
            announce()
        return _run(config, folder, data_root=data_root, progress=progress, log=log)


def _run(
    config: Config, folder: RunFolder, *, data_root: Any, progress: bool, log: Any
) -> dict[str, Any]:
    # the matrices are tiny: extra intra-op threads only add overhead (4x slower measured with
    # 2 threads on a shared 2-core machine), so the run uses ``config.threads`` (default 1)
    plan = planned_searches(config)
    ordered = calibration_order(plan, CALIBRATION_SEARCHES)
    n_calibration = _head_length(plan)  # the head of ``ordered``
    tasks: dict[float, T.MemorisationTask] = {}
    by_key: dict[tuple[str, float, int], PointRecord] = {}
    iterator: Any = ordered
    if progress:
        from tqdm import tqdm

        iterator = tqdm(ordered, desc="critical-point searches", unit="search", file=sys.stderr)
    t_start = time.perf_counter()
    estimate = None
    for i, (kind, phi, seed) in enumerate(iterator):
        if phi not in tasks:
            tasks[phi] = T.make_task(phi, width=config.width, n_in=config.n_in,
                                     n_out=config.n_out, bias=config.bias,
                                     seed=config.seed)  # fmt: skip

        def compute(task=tasks[phi], kind=kind, seed=seed) -> PointRecord:
            return run_search(task, config, kind, seed)

        by_key[(kind, phi, seed)] = folder.result(step_name(kind, phi, seed), PointRecord, compute)
        if i + 1 == n_calibration:
            done = [(r.search, r.phi_target, r.seconds) for r in by_key.values()]
            estimate = estimate_from_records(done, ordered[n_calibration:])
            if log is not None and estimate is not None:
                log(
                    f"calibrated on {n_calibration} searches: about {estimate / 60:.1f} min of "
                    f"searches remain ({len(ordered) - n_calibration} searches)"
                )
    records = [by_key[item] for item in plan]  # plan order, whatever the run order
    ae_full = None
    if config.autoencoder:
        arrays, info = folder.step("autoencoder", _autoencoder_step(config, data_root))
        ae_full = info | {k: arrays[k].tolist() for k in AE_ARRAYS}
    summary = summarize(records, config)
    if ae_full is not None:
        summary["autoencoder"] = {k: v for k, v in ae_full.items() if k not in AE_ARRAYS}
    summary["run"] = {
        "seconds": time.perf_counter() - t_start,
        "search_seconds_sum": float(sum(r.seconds for r in records)),
        "calibration_searches": n_calibration,
        "estimate_after_calibration_seconds": estimate,
        "out": str(folder.out),
        "resumed_steps": len(folder.resumed_steps),
        "computed_steps": len(folder.computed_steps),
    }
    summary = to_jsonable(summary)
    _finalize(folder, config, summary, records, ae_full, arrays if ae_full else None)
    if log is not None:
        log(f"wrote {folder.out / 'summary.json'} and {folder.out / 'report.html'}")
    return summary


def _head_length(plan: list[tuple[str, float, int]]) -> int:
    """How many searches :func:`.runtime.calibration_order` puts at the head."""
    counts: dict[tuple[str, float], int] = {}
    for kind, phi, _ in plan:
        counts[(kind, phi)] = counts.get((kind, phi), 0) + 1
    return sum(min(c, CALIBRATION_SEARCHES) for c in counts.values())


def _finalize(
    folder: RunFolder,
    config: Config,
    summary: dict[str, Any],
    records: list[PointRecord],
    ae_full: dict[str, Any] | None,
    ae_arrays: dict[str, np.ndarray] | None,
) -> None:
    import matplotlib.pyplot as plt

    from . import report
    from .figures import figures

    figs = figures(records, config, summary | ({"autoencoder": ae_full} if ae_full else {}))
    with folder.finalize() as tmp:
        atomic_write_json(tmp / "summary.json", summary)
        for name, fig in figs.items():
            buf = io.BytesIO()
            fig.savefig(buf, format="png", dpi=110, bbox_inches="tight")
            atomic_write_bytes(tmp / "figures" / f"{name}.png", buf.getvalue())
        if ae_arrays is not None:
            atomic_save_npz(tmp / "autoencoder_spectra.npz", ae_arrays)
        report.write(tmp / "report.html", figs, summary, records)
    for fig in figs.values():
        plt.close(fig)
