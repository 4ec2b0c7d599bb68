"""``hessrmt reproduce applicability``: the whole reproduction, resumable, in one directory.

Parts (each checkpointed in the run folder's hidden sibling ``.<name>.partial/`` as soon as it
finishes, so an interrupted run resumes where it stopped; see :mod:`hessrmt.runfolder`):
``hardness`` (NumPy), ``gp_toy`` (NumPy), ``decorrelation`` (torch), ``model_<key>`` per network
(torch), ``stats_<key>``. Each is keyed by the settings it reads (:mod:`.parts`).
``OUT/summary.json``, ``OUT/report.html`` and ``OUT/parts/`` (every part's result files) appear
together when the run folder is finalised.

``summary.json`` sections: ``models`` (per model and variant), ``gp_toy``,
``gradient_decorrelation``, ``hardness``, plus ``rank_check``, ``comparison`` (the report's table)
and ``config``.
"""

from __future__ import annotations

import shutil
import time
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np

from hessrmt.errors import DataError, InputError
from hessrmt.io import atomic_write_json
from hessrmt.runfolder import RESULT_RECORD, RunFolder, limit_threads

from . import statistics as st
from .paper_values import PAPER_DEGENERACY, PAPER_RATIOS, paper_row_for
from .parts import json_part, result_part, step_settings_of
from .specs import PAPER_MODELS, QUICK_MODELS, ModelSpec, check_selection

SUMMARY_SECTIONS = ("models", "gp_toy", "gradient_decorrelation", "hardness")

#: BLAS / torch threads of a ``--quick`` run when ``--threads`` is not given. Its matrices are
#: small (P <= 820): on a 2-core machine loaded by other jobs, the default 2-thread pools made
#: the quick run cost 228 s of CPU against 69.5 s with one thread (threads spinning and waiting
#: for each other; docs/reproductions/applicability.md), and took longer in wall time too.
QUICK_DEFAULT_THREADS = 1


@dataclass(frozen=True)
class RunConfig:
    """Settings of one reproduction (recorded; a resumed run must use the same ones)."""

    quick: bool = False
    seed: int = 0
    data_root: str | None = None
    gp_n: int = 300
    gp_size: int = 100
    decorrelation_epochs: int = 300
    decorrelation_directions: int = 6
    hardness_boot: int = 1000
    n_null: int = 100
    n_boot: int = 200
    models: tuple[str, ...] = field(default_factory=tuple)
    max_batches: int | None = None

    @classmethod
    def create(
        cls,
        *,
        quick: bool,
        seed: int = 0,
        data_root: str | None = None,
        models: tuple[str, ...] | None = None,
        max_batches: int | None = None,
    ) -> RunConfig:
        """The preset of ``quick`` (or the full run), restricted to ``models`` (keys of the
        preset, in its order; ``None``: all) and with every model's number of batch Hessians
        capped at ``max_batches`` (``None``: the preset's). Both are recorded; a run with them
        is a reduced run ("the largest size that fits") and its report says so."""
        keys = check_selection(tuple(s.key for s in _specs(quick)), models, max_batches)
        if quick:
            return cls(
                quick=True,
                seed=seed,
                data_root=data_root,
                gp_size=20,
                decorrelation_epochs=20,
                decorrelation_directions=4,
                hardness_boot=200,
                n_null=30,
                n_boot=50,
                models=keys,
                max_batches=max_batches,
            )
        return cls(seed=seed, data_root=data_root, models=keys, max_batches=max_batches)


def _specs(quick: bool) -> tuple[ModelSpec, ...]:
    return QUICK_MODELS if quick else PAPER_MODELS


def selected_specs(cfg: RunConfig) -> tuple[ModelSpec, ...]:
    """The preset's model specs that ``cfg`` runs, with its batch cap applied."""
    out = []
    for spec in _specs(cfg.quick):
        if spec.key not in cfg.models:
            continue
        if cfg.max_batches is not None and spec.max_batches > cfg.max_batches:
            spec = replace(spec, max_batches=cfg.max_batches)
        out.append(spec)
    return tuple(out)


# ------------------------------------------------------------------------------------------
# parts


def run_applicability(
    out: str | Path,
    *,
    quick: bool = False,
    seed: int = 0,
    data_root: str | None = None,
    threads: int | None = None,
    progress: bool = True,
    report: bool = True,
    overwrite: bool = False,
    log: Any = None,
    models: tuple[str, ...] | None = None,
    max_batches: int | None = None,
) -> dict[str, Any]:
    """Run (or resume) the reproduction into the run folder ``out``; returns the summary dict.

    ``out`` is a :class:`hessrmt.runfolder.RunFolder` (kind ``applicability``): finished parts
    are checkpointed in the hidden sibling ``.<name>.partial/`` and an interrupted run resumes
    from them; checkpoints of other settings and a finished ``out`` are refused unless
    ``overwrite``. The finished folder holds ``summary.json``, ``report.html`` and ``parts/``
    (every part's result files).

    ``threads``: BLAS and torch intra-op threads while the run lasts; ``None`` leaves them as
    they are, except in quick mode, which then uses :data:`QUICK_DEFAULT_THREADS` (recorded as
    ``config.threads`` in the summary; not part of the checkpoints' settings).

    ``models`` / ``max_batches``: run only these models of the preset, with at most this many
    batch Hessians each (:meth:`RunConfig.create`); recorded in ``config`` and stated in the
    report. For a full run that does not fit the machine's time.
    """
    if not isinstance(seed, int) or isinstance(seed, bool) or not 0 <= seed < 2**63:
        raise InputError(f"--seed must be an integer in [0, 2^63), got {seed!r}")
    if data_root is not None and not Path(data_root).is_dir():
        raise DataError(f"--data-root {data_root} is not a directory")
    cfg = RunConfig.create(
        quick=quick, seed=seed, data_root=data_root, models=models, max_batches=max_batches
    )
    if threads is None and quick:
        threads = QUICK_DEFAULT_THREADS
    if log is None:

        def log(msg: str) -> None:
            if progress:
                import sys

                print(f"[applicability] {msg}", file=sys.stderr, flush=True)

    with (
        limit_threads(threads),
        RunFolder(
            out,
            kind="applicability",
            settings=cfg,
            overwrite=overwrite,
            log=log,
            step_settings=step_settings_of(cfg, selected_specs(cfg)),
        ) as run,  # fmt: skip
    ):
        summary, parts = _run_parts(run, cfg, quick, seed, data_root, progress, log)
        summary["config"]["threads"] = threads
        with run.finalize() as tmp:
            atomic_write_json(tmp / "summary.json", summary)
            records = shutil.ignore_patterns("*" + RESULT_RECORD)  # the folder's, not results
            shutil.copytree(run.partial / "results", tmp / "parts", ignore=records)
            if report:
                from .report import write_applicability_report

                t = time.perf_counter()
                write_applicability_report(tmp / "report.html", summary, *parts)
                log(f"report: done in {time.perf_counter() - t:.1f} s")
    return summary


def _run_parts(
    run: RunFolder,
    cfg: RunConfig,
    quick: bool,
    seed: int,
    data_root: str | None,
    progress: bool,
    log: Any,
) -> tuple[dict[str, Any], tuple[Any, Any, Any, Any]]:
    """Every part (computed or resumed), then the summary; returns it and the report inputs."""
    from .gp_toy import GPToyResult, run_gp_toy
    from .hardness import ExpFit, fit_hardness

    fits = {
        name: result_part(
            run,
            f"hardness_{name}",
            ExpFit,
            lambda name=name: fit_hardness(n_boot=cfg.hardness_boot, rng=seed)[name],
            log,
        )
        for name in ("loss", "error")
    }
    gp = result_part(
        run,
        "gp_toy",
        GPToyResult,
        lambda: run_gp_toy(n=cfg.gp_n, size=cfg.gp_size, rng=seed, progress=progress),
        log,
    )
    from .decorrelation import DecorrelationResult, run_decorrelation

    dec = result_part(
        run,
        "decorrelation",
        DecorrelationResult,
        lambda: run_decorrelation(
            epochs=cfg.decorrelation_epochs,
            n_directions=cfg.decorrelation_directions,
            seed=seed,
            progress=progress,
        ),
        log,
    )
    from .networks import ModelSpectra, compute_model_spectra

    models = {}
    for spec in selected_specs(cfg):
        models[spec.key] = result_part(
            run,
            f"model_{spec.key}",
            ModelSpectra,
            lambda spec=spec: compute_model_spectra(
                spec, seed=seed, data_root=data_root, progress=progress
            ),
            log,
        )
    model_stats = {
        key: json_part(
            run,
            f"stats_{key}",
            lambda m=m: model_statistics(m, n_null=cfg.n_null, n_boot=cfg.n_boot, seed=seed),
            log,
        )
        for key, m in models.items()
    }
    at3 = json_part(run, "rank_check_at3", lambda: st.rank_check_synthetic(seed=seed), log)
    from .hardness import hardness_summary

    summary: dict[str, Any] = {
        "paper": "Baskerville, Granziol & Keating, arXiv:2102.06740",
        "config": asdict(cfg),
        "models": model_stats,
        "gp_toy": gp.summary(),
        "gradient_decorrelation": dec.summary(),
        "hardness": hardness_summary(fits, seed=seed),
        "rank_check": {
            "synthetic_AT3": at3,
            "models": {k: v["rank_check"] for k, v in model_stats.items() if v.get("rank_check")},
        },
    }
    summary["comparison"] = comparison_rows(model_stats)
    return summary, (models, gp, dec, fits)


# ------------------------------------------------------------------------------------------
# statistics of the network spectra


def variant_statistics(
    spectra: np.ndarray,
    *,
    precision: str,
    bounds: np.ndarray | None = None,
    n_null: int = 100,
    n_boot: int = 200,
    seed: int = 0,
) -> dict[str, Any]:
    """Everything the report shows for one (state, curvature, scope, precision) of one model."""
    ok = np.all(np.isfinite(spectra), axis=1)
    out: dict[str, Any] = {"n_spectra": int(ok.sum()), "n_failed_eigensolves": int((~ok).sum())}
    spectra = spectra[ok]
    if spectra.shape[0] == 0:
        out["error"] = "no spectrum"
        return out
    rtol = st.RELATIVE_ZERO_RTOL[precision]
    out["n_params"] = int(spectra.shape[1])
    out["degeneracy"] = st.degeneracy_curve(spectra, rtol=rtol)
    # the paper's way: absolute cut 1e-10, pooled unreduced ratios, 40 bins on [0, 10]
    pr = st.paper_ratios(spectra, cut=st.PAPER_RATIO_CUT)
    paper: dict[str, Any] = {"cut": st.PAPER_RATIO_CUT, "n_ratios": int(pr.size)}
    if np.any(pr < 10):
        paper.update(st.binned_ratio_stats(pr))
    paper.update(
        {
            f"exact_{k}": v
            for k, v in st.mean_reduced_ratio(spectra, cut=st.PAPER_RATIO_CUT, rtol=None).items()
        }
    )
    out["paper_method"] = paper
    # honest: relative zero cut, exact means, tests by hessrmt.rmt.summary
    out["relative_cut"] = {"rtol": rtol, **st.mean_reduced_ratio(spectra, rtol=rtol)}
    honest = {"unavailable": "fewer than 10 non-zero eigenvalues"}
    if out["relative_cut"]["n_levels_kept"] >= 10:
        honest = _honest(spectra, precision, n_null=n_null, n_boot=n_boot, seed=seed)
    out["tests"] = honest
    if spectra.shape[0] >= 3:
        for name, kw in (
            ("paper_cut", {"cut": st.PAPER_UNFOLD_CUT}),
            ("relative_cut", {"cut": None, "rtol": rtol}),
        ):
            try:
                s = st.unfolded_spacings(spectra, **kw)
                out.setdefault("unfolded", {})[name] = st.spacing_stats(s)
            except InputError as exc:
                out.setdefault("unfolded", {})[name] = {"unavailable": str(exc)}
    if bounds is not None and bounds.size and np.all(bounds >= 0):
        # float64 round-off of an exact zero is ~P eps max|lambda| < 1e-12 max|lambda| for
        # P < 4,500 (LAPACK returns exact zero blocks as ~1e-50); genuine small eigenvalues of
        # softmax Hessians on MNIST reach 1e-11 max|lambda|, below the 1e-9 zero cut
        rank_rtol = min(rtol, 1e-12) if precision == "float64" else rtol
        nz = [st.count_nonzero(r, rtol=rank_rtol) for r in spectra]
        gap = [st.count_nonzero_by_gap(r) for r in spectra]
        out["rank"] = {
            "bound_per_spectrum": bounds[ok].tolist(),
            "nonzero_per_spectrum": nz,
            "rtol": rank_rtol,
            "all_equal_bound": bool(np.all(np.asarray(nz) == bounds[ok])),
            "nonzero_by_gap_per_spectrum": gap,
            "all_equal_bound_by_gap": bool(np.all(np.asarray(gap) == bounds[ok])),
        }
    return out


def _honest(spectra: np.ndarray, precision: str, *, n_null: int, n_boot: int, seed: int) -> dict:
    try:
        from hessrmt.rmt.summary import summarize_spectrum
    except ImportError as exc:
        return {"unavailable": f"hessrmt.rmt.summary not available ({exc})"}
    try:
        s = summarize_spectrum(spectra, rng=seed, dtype=precision, n_null=n_null, n_boot=n_boot)
    except InputError as exc:
        return {"unavailable": " ".join(str(exc).split())}
    return s.to_summary_dict()


def model_statistics(m: Any, *, n_null: int = 100, n_boot: int = 200, seed: int = 0) -> dict:
    """Statistics of every variant of one :class:`~.networks.ModelSpectra`."""
    variants = {}
    for key, arr in sorted(m.spectra.items()):
        state, curvature, scope, precision = key.split("/")
        variants[key] = variant_statistics(
            np.asarray(arr),
            precision=precision,
            bounds=np.asarray(m.rank_bounds.get(f"{state}/{curvature}/{scope}", [])),
            n_null=n_null,
            n_boot=n_boot,
            seed=seed,
        )
    rank = None
    for key, v in variants.items():
        if key.endswith("/batch/float64") and "/hessian/" in key and "rank" in v:
            if "logreg" in (m.spec["model"], m.spec["key"]):  # softmax regression
                C = m.dataset["n_outputs"]
                b = m.spec["spectrum_batch_size"]
                P = m.n_params
                rank = rank or {}
                rank[key.rsplit("/", 1)[0]] = {
                    "statement": (
                        f"softmax regression, batch b = {b}, C = {C}, P = {P}: float64 batch "
                        f"Hessians have exactly (C - 1) rank([X, 1]) non-zero eigenvalues "
                        f"(<= min(P, (C - 1) b) = {min(P, (C - 1) * b)})"
                    ),
                    "min_P_Cm1_b": min(P, (C - 1) * b),
                    "bound_per_batch": v["rank"]["bound_per_spectrum"],
                    "nonzero_per_batch": v["rank"]["nonzero_per_spectrum"],
                    "all_equal": v["rank"]["all_equal_bound"],
                    "nonzero_by_gap_per_batch": v["rank"].get("nonzero_by_gap_per_spectrum"),
                    "all_equal_by_gap": v["rank"].get("all_equal_bound_by_gap"),
                }
    return {
        "n_params": m.n_params,
        "dataset": m.dataset,
        "training": m.training,
        "spec": m.spec,
        "variants": variants,
        "rank_check": rank,
        "kronecker": _kronecker_record(m, variants),
    }


def _kronecker_record(m: Any, variants: dict[str, Any]) -> dict[str, Any] | None:
    """How far the untrained softmax-regression Hessians are from the equal-logit Kronecker
    product (I/C - 11^T/C^2) (x) X~^T X~ (:func:`.statistics.untrained_softmax_kronecker`), with
    a sentence computed from the run's numbers."""
    kron = getattr(m, "kronecker", None) or {}
    out: dict[str, Any] = {}
    C = m.dataset.get("n_outputs")
    for key, dev in kron.items():
        dev = np.asarray(dev, dtype=float)
        tests = (variants.get(f"{key}/float64") or {}).get("tests") or {}
        mr, se, verdict = tests.get("mean_ratio"), tests.get("mean_ratio_se"), tests.get("verdict")
        med = float(np.median(dev))
        sentence = (
            f"{key}: at equal logits the Hessian is exactly (I/C - 11^T/C^2) (x) X~^T X~, whose "
            f"non-zero levels are each {C - 1}-fold degenerate (not GOE by construction); at the "
            f"seeded initialisation the logits are not equal and the measured spectra differ "
            f"from that product by {med:.3g} of max|lambda| (median over {dev.size} "
            f"spectra, range {dev.min():.3g}-{dev.max():.3g})"
        )
        if mr is not None and se is not None:
            sentence += f"; <r~> = {mr:.4f} ± {se:.4f} (GOE 0.5307), verdict {verdict}: " + (
                "the split copies still carry the Kronecker structure."
                if verdict != "GOE"
                else "the perturbation is strong enough to look GOE locally."
            )
        else:
            sentence += "."
        out[key] = {
            "deviation": dev.tolist(),
            "median_deviation": med,
            "degeneracy_at_equal_logits": int(C - 1) if C else None,
            "statement": sentence,
        }
    return out or None


def comparison_rows(model_stats: dict[str, Any]) -> list[dict[str, Any]]:
    """One row per model and variant: ours next to the paper's figure data
    (docs/reference/papers.md §2.5)."""
    rows = []
    for key, ms in model_stats.items():
        for vkey, v in ms["variants"].items():
            if "error" in v:
                continue
            state, curvature, scope, _precision = vkey.split("/")
            paper = paper_row_for(
                ms["spec"].get("paper"), state, curvature, scope, ms["spec"].get("split", "test")
            )
            tests = v.get("tests", {})
            deg = dict(zip(v["degeneracy"]["eps"], v["degeneracy"]["fraction"]))
            pm = v["paper_method"]
            rows.append(
                {
                    "model": key,
                    "dataset": ms["dataset"]["name"],
                    "variant": vkey,
                    "n_params": v["n_params"],
                    "n_spectra": v["n_spectra"],
                    # <r~> next to the verdict: the verdict's own level selection (issue 11)
                    "mean_ratio": tests.get("mean_ratio", v["relative_cut"]["mean_ratio"]),
                    "mean_ratio_se": tests.get("mean_ratio_se", v["relative_cut"]["mean_ratio_se"]),
                    "mean_ratio_all_levels": v["relative_cut"]["mean_ratio"],
                    "ks_goe": (tests.get("ks_goe") or {}).get("statistic"),
                    "ks_poisson": (tests.get("ks_poisson") or {}).get("statistic"),
                    "verdict": tests.get("verdict", "n/a"),
                    "zero_fraction": v["degeneracy"]["relative_zero_fraction"],
                    "zero_fraction_1e-4": deg.get(1e-4),
                    "paper_method_mean_r_lt10": pm.get("mean_r_lt10"),
                    "paper_method_mean_rt": pm.get("exact_mean_ratio"),
                    "paper_method_tv_goe": pm.get("tv_goe"),
                    "paper_row": paper["row"] if paper else None,
                    "paper_mean_r_lt10": paper["mean_r_lt10"] if paper else None,
                    "paper_mean_rt_binned": paper["mean_rt_binned"] if paper else None,
                    "paper_tv_goe": paper["tv_goe"] if paper else None,
                    "paper_zero_fraction_1e-4": paper.get("zero_1e-4") if paper else None,
                }
            )
    return rows


__all__ = [
    "PAPER_DEGENERACY",
    "PAPER_RATIOS",
    "QUICK_DEFAULT_THREADS",
    "SUMMARY_SECTIONS",
    "RunConfig",
    "comparison_rows",
    "model_statistics",
    "run_applicability",
    "variant_statistics",
]
