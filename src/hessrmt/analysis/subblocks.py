"""Local statistics of exact principal sub-blocks in ``hessrmt analyze`` (per-layer tables).

Where the P x P Hessian cannot be formed, the local-statistics question is still answered on
exact principal sub-blocks H[S, S] (:mod:`hessrmt.curvature.subblocks`): one per layer (the
layer's parameters; at most ``subblock_size`` of them, a seeded uniform subset otherwise) or
``subblock_count`` seeded random parameter subsets of ``subblock_size``. Each block is
diagonalised densely and summarised with :func:`hessrmt.rmt.summary.summarize_spectrum` (the
calibrated verdict of :mod:`hessrmt.rmt.verdict`, its <r~> with standard error, bulk edges and
outliers).

A sub-block is a different matrix from H: its eigenvalues interlace with H's (Cauchy), its edges
are not H's edges, and its level statistics need not be H's (a compression of a Poisson-spectrum
matrix in a generic basis looks GOE). ``docs/subblocks.md`` measures where they agree.

Modes (``--subblocks``): ``none``; ``layers``; ``random``; ``auto`` = ``layers`` when the full
spectrum is not computed densely, else ``none``.
"""

from __future__ import annotations

import time
from typing import Any

import numpy as np

from hessrmt.errors import InputError
from hessrmt.io import to_jsonable

#: The values of ``--subblocks``.
SUBBLOCK_MODES = ("auto", "none", "layers", "random")
#: Fewest eigenvalues for which a block gets local statistics (smaller blocks: edges only).
MIN_BLOCK = 30
#: z of the two-sided 95 % normal interval of <r~>.
Z95 = 1.959963984540054


def resolve_mode(requested: str, method: str) -> tuple[str, str]:
    """(mode used, why) for ``requested`` in :data:`SUBBLOCK_MODES` and the curvature method."""
    if requested not in SUBBLOCK_MODES:
        raise InputError(
            f"--subblocks must be one of {', '.join(SUBBLOCK_MODES)}, got {requested!r}"
        )
    if requested != "auto":
        return requested, f"{requested} requested"
    if method == "dense":
        return "none", "auto: the full spectrum is dense, so its own local statistics are used"
    return "layers", (
        "auto: the full spectrum is not computed densely, so local statistics come from exact "
        "per-layer principal sub-blocks"
    )


def index_sets(op: Any, mode: str, *, size: int, count: int, seed: int) -> list[Any]:
    """The :class:`~hessrmt.curvature.subblocks.IndexSet` list of ``mode`` for ``op``."""
    from hessrmt.curvature.subblocks import layer_index_sets, random_index_sets

    if mode == "layers":
        return layer_index_sets(op, cap=size, rng=seed)
    if mode == "random":
        return random_index_sets(int(op.shape[0]), size=size, count=count, rng=seed)
    return []


def block_step(op: Any, index_set: Any) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
    """Eigenvalues of one sub-block and how they were computed (a run-folder step)."""
    from hessrmt.curvature.subblocks import chunk_columns, subblock_eigenvalues

    t0 = time.perf_counter()
    before = int(getattr(op, "num_matvecs", 0))
    eigs = subblock_eigenvalues(op, index_set)
    itemsize = 8 if "64" in str(op.dtype) else 4
    info = {
        **index_set.describe(),
        "num_matvecs": int(getattr(op, "num_matvecs", 0)) - before,
        "chunk_columns": chunk_columns(int(op.shape[0]), index_set.size, itemsize),
        "seconds": time.perf_counter() - t0,
    }
    return {"eigenvalues": eigs, "indices": index_set.indices}, info


def block_record(eigs: np.ndarray, info: dict[str, Any], *, dtype: str, seed: int) -> dict:
    """One row of the per-layer table: size, edges, outliers, <r~> with its 95 % interval and
    the calibrated verdict (None with ``skipped`` where the block is too small or degenerate)."""
    from hessrmt.rmt.summary import summarize_spectrum

    eigs = np.asarray(eigs, dtype=np.float64)
    rec: dict[str, Any] = {
        k: info.get(k) for k in ("name", "size", "n_total", "subsampled", "parameters", "how")
    }
    rec.update(lambda_min=float(eigs.min()), lambda_max=float(eigs.max()), trace=float(eigs.sum()))
    empty = dict.fromkeys(
        ("bulk_edges", "n_outliers", "outliers", "zero_fraction", "mean_ratio", "mean_ratio_se",
         "mean_ratio_interval", "verdict", "n_levels_used"),
    )  # fmt: skip
    rec.update(empty)
    if eigs.size < MIN_BLOCK:
        rec["skipped"] = f"{eigs.size} eigenvalues; local statistics need at least {MIN_BLOCK}"
        return to_jsonable(rec)
    try:
        s = summarize_spectrum(eigs, rng=seed, dtype=dtype)
    except InputError as exc:
        rec["skipped"] = str(exc)
        return to_jsonable(rec)
    mr, se = float(s.mean_ratio), float(s.mean_ratio_se)
    rec.update(
        bulk_edges=[float(s.bulk_edges[0]), float(s.bulk_edges[1])],
        n_outliers=int(s.n_outliers),
        outliers={"high": list(s.outliers.get("high", [])), "low": list(s.outliers.get("low", []))},
        zero_fraction=float(s.zero_fraction),
        mean_ratio=mr,
        mean_ratio_se=se,
        mean_ratio_interval=[mr - Z95 * se, mr + Z95 * se],
        verdict=s.verdict,
        n_levels_used=int(s.n_ratios),
        rejects=_rejections(s.verdict_tests),
    )
    return to_jsonable(rec)


def _rejections(tests: dict[str, Any]) -> dict[str, list[str]]:
    """Statistics rejecting GOE and Poisson after Holm's correction (from the verdict's tests:
    Holm-adjusted p-value below the verdict's alpha)."""
    alpha = float(tests.get("alpha", 0.01))
    out: dict[str, list[str]] = {}
    for cls in ("GOE", "Poisson"):
        rec = (tests.get("tests") or {}).get(cls)
        if isinstance(rec, dict):
            adj = rec.get("holm_adjusted") or {}
            out[cls] = [k for k, v in adj.items() if v is not None and v < alpha]
    return out


def agreement_counts(blocks: list[dict[str, Any]], reference: dict[str, Any] | None) -> dict:
    """How many blocks share the full spectrum's verdict, and whose <r~> 95 % interval overlaps
    the full spectrum's (None where the full spectrum has no local statistics)."""
    done = [b for b in blocks if b.get("verdict") is not None]
    out: dict[str, Any] = {"n_blocks": len(blocks), "n_with_statistics": len(done)}
    verdicts: dict[str, int] = {}
    for b in done:
        verdicts[b["verdict"]] = verdicts.get(b["verdict"], 0) + 1
    out["verdicts"] = verdicts
    if not reference or reference.get("verdict") is None:
        out["full_spectrum"] = None
        return out
    mr, se = reference.get("mean_ratio"), reference.get("mean_ratio_se")
    lo, hi = mr - Z95 * se, mr + Z95 * se
    out["full_spectrum"] = {"verdict": reference["verdict"], "mean_ratio_interval": [lo, hi]}
    out["same_verdict"] = sum(b["verdict"] == reference["verdict"] for b in done)
    out["ratio_interval_overlaps"] = sum(
        b["mean_ratio_interval"][0] <= hi and lo <= b["mean_ratio_interval"][1] for b in done
    )
    return out


def summary_sentence(section: dict[str, Any]) -> str:
    """One sentence computed from the per-block records (for the report and the command)."""
    blocks = section.get("blocks") or []
    if not blocks:
        return f"No principal sub-blocks ({section.get('reason', 'not requested')})."
    done = [b for b in blocks if b.get("verdict") is not None]
    parts = [
        f"{len(blocks)} principal sub-blocks ({section.get('mode')}; sizes "
        f"{min(b['size'] for b in blocks)}-{max(b['size'] for b in blocks)})"
    ]
    if done:
        counts: dict[str, int] = {}
        for b in done:
            counts[b["verdict"]] = counts.get(b["verdict"], 0) + 1
        parts.append(
            f"{len(done)} with local statistics: "
            + ", ".join(f"{n} {v}" for v, n in sorted(counts.items()))
        )
    else:
        parts.append("none large enough for local statistics")
    ag = section.get("agreement") or {}
    if ag.get("full_spectrum"):
        parts.append(
            f"{ag['same_verdict']} of {len(done)} share the full spectrum's verdict "
            f"({ag['full_spectrum']['verdict']}) and {ag['ratio_interval_overlaps']} have a "
            "95 % <r~> interval overlapping its interval"
        )
    return "; ".join(parts) + "."


def run_subblocks(
    ctx: Any, choice: Any, store: Any, infos: dict[str, Any], log: Any
) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
    """The sub-block steps of the pipeline (``subblock_000`` ...; each checkpointed, so an
    interrupted run resumes block by block). The model must hold the trained state.

    Returns (state: mode, reason, per-block step infos; arrays: eigenvalues and indices of each
    block, keyed ``<i>_<name>`` and ``<i>_<name>_indices``).
    """
    from tqdm.auto import tqdm

    from hessrmt.analysis.spectra import make_operator

    cfg = ctx.config
    mode, reason = resolve_mode(cfg.subblocks, choice.method)
    state: dict[str, Any] = {"mode": mode, "reason": reason, "steps": []}
    arrays: dict[str, np.ndarray] = {}
    if mode == "none":
        return state, arrays
    op = make_operator(
        "hessian", ctx.model, ctx.loss_fn, ctx.full_batches, dtype=ctx.dtype, device=ctx.device
    )
    sets = index_sets(op, mode, size=cfg.subblock_size, count=cfg.subblock_count, seed=cfg.seed)
    ranks = getattr(ctx, "ranks", None)
    if ranks is not None:  # under torchrun: exact full-data products (unchanged in one process)
        op = ranks.wrap(op)
    log(
        cfg,
        f"step subblocks: {len(sets)} exact principal sub-blocks of the trained Hessian "
        f"({reason}); {sum(s.size for s in sets)} Hessian-vector products",
    )
    bar = tqdm(sets, desc="sub-blocks", unit="block", leave=False, disable=not cfg.progress)
    for i, s in enumerate(bar):
        got, info = store.step(f"subblock_{i:03d}", lambda s=s: block_step(op, s))
        key = f"{i:03d}_{s.name}"
        arrays[key] = got["eigenvalues"]
        arrays[key + "_indices"] = got["indices"]
        state["steps"].append({"key": key, **info})
    infos["subblocks"] = {
        "mode": mode,
        "n_blocks": len(sets),
        "num_matvecs": int(sum(st.get("num_matvecs", 0) for st in state["steps"])),
        "seconds": float(sum(st.get("seconds", 0.0) for st in state["steps"])),
    }
    return state, arrays


def subblock_summary(
    state: dict[str, Any],
    arrays: dict[str, np.ndarray],
    infos: dict[str, Any],
    config: Any,
    *,
    reference: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """``summary.json['subblocks']``: settings, one record per block (:func:`block_record`),
    agreement with the full spectrum where that has local statistics, and a computed sentence."""
    blocks = [
        block_record(arrays[st["key"]], st, dtype=config.dtype, seed=config.seed)
        for st in state.get("steps", [])
    ]
    section: dict[str, Any] = {
        "mode": state.get("mode"),
        "reason": state.get("reason"),
        "subblock_size": config.subblock_size,
        "subblock_count": config.subblock_count if state.get("mode") == "random" else None,
        "seed": config.seed,
        "operator": "trained full-data Hessian (the operator of spectrum 'trained')",
        "conventions": "B = H[S, S] from products H e_s for s in S (one per parameter of S), "
        "symmetrised (B + B^T)/2, all eigenvalues by dense eigvalsh; statistics by "
        "hessrmt.rmt.summary.summarize_spectrum (calibrated verdict); <r~> interval = mean "
        f"+- {Z95:.2f} SE (normal, 95 %); a block smaller than {MIN_BLOCK} gets edges only. "
        "A sub-block's edges are not the full Hessian's (Cauchy interlacing bounds them inside)",
        "blocks": blocks,
    }
    section["agreement"] = agreement_counts(blocks, reference)
    section["sentence"] = summary_sentence(section)
    return to_jsonable(section)


def write_subblocks(folder: Any, arrays: dict[str, np.ndarray]) -> None:
    """``subblocks.npz`` (eigenvalues and indices of each block), when there are blocks."""
    from pathlib import Path

    from hessrmt.io import atomic_save_npz

    if arrays:
        atomic_save_npz(Path(folder) / "subblocks.npz", arrays)
