"""Markdown rendering of a benchmark result and the check of the goals of issue 7."""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

SPEEDUP = (
    "hessrmt speed-up = this tool's median time / hessrmt's median time (default settings row); "
    "> 1 means hessrmt is faster"
)


def _fmt_s(t: dict[str, Any] | None) -> str:
    if not t or t.get("n", 0) == 0:
        return "-"
    med, lo, hi = t["median"], t["min"], t["max"]

    def f(x: float) -> str:
        if x >= 100:
            return f"{x:.0f}"
        if x >= 1:
            return f"{x:.2f}"
        if x >= 0.01:
            return f"{x:.3f}"
        return f"{x:.2e}"

    return f"{f(med)} [{f(lo)}–{f(hi)}] (n={t['n']})"


def _g(x: Any, spec: str = ".2e") -> str:
    if x is None:
        return "-"
    if isinstance(x, bool):
        return "yes" if x else "no"
    if isinstance(x, (int,)) and not isinstance(x, bool):
        return str(x)
    try:
        return format(float(x), spec)
    except (TypeError, ValueError):
        return str(x)


def _first_ok(rows: list[dict[str, Any]], tool: str) -> dict[str, Any] | None:
    for r in rows:
        if r["tool"] == tool and r["status"] == "ok":
            return r
    return None


def _speedup(row: dict[str, Any], ref: dict[str, Any] | None, key: str) -> str:
    if ref is None or row["status"] != "ok" or row is ref:
        return "1 (reference)" if row is ref else "-"
    a, b = row.get(key), ref.get(key)
    if not a or not b:
        return "-"
    return f"{a['median'] / b['median']:.2f}x"


def _status(row: dict[str, Any]) -> str:
    if row["status"] == "ok":
        return ""
    if row["status"] == "failed":
        return f"FAILED: {row.get('error', '')}"
    return row["status"]


def _problem_line(p: dict[str, Any]) -> str:
    return (
        f"**{p.get('name')}**: {p.get('description', '')}; P = {p.get('num_params', '?'):,} "
        f"parameters, {p.get('num_data', '?')} samples in {p.get('num_batches', '?')} batches "
        f"of {p.get('batch_size', '?')}, {p.get('dtype', '?')}"
    )


def _table(header: list[str], lines: list[list[str]]) -> str:
    out = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    out += ["| " + " | ".join(s.replace("|", "/") for s in line) + " |" for line in lines]
    return "\n".join(out)


def _trace_estimate(r: dict[str, Any]) -> str:
    est = _g(r.get("estimate"), ".5g")
    return est + (f" ± {r['stderr']:.2g}" if r.get("stderr") is not None else "")


def _field(key: str, fmt: str = ".2e") -> Callable[[dict[str, Any]], str]:
    return lambda r: _g(r.get(key), fmt)


#: The tasks whose table is (tool, variant, time, task columns..., speed-up, status): each task
#: column is (header, cell of an ok row); rows that are not ok show "-".
TIMED_COLUMNS: dict[str, list[tuple[str, Callable[[dict[str, Any]], str]]]] = {
    "topk": [
        ("matvecs", _field("matvecs")),
        ("max residual / |λ1|", _field("max_residual")),
        ("max |Δλ| / |λ1|", _field("max_eig_err")),
    ],
    "slq": [
        ("matvecs", _field("matvecs")),
        ("W1 to exact (seed 0)", _field("w1")),
        ("W1 / spectral width", _field("w1_relative")),
        ("W1 mean ± SE over seeds", lambda r: _w1_mean(r)),
    ],
    "trace": [
        ("matvecs", _field("matvecs")),
        ("estimate", _trace_estimate),
        ("rel. error", _field("rel_err")),
    ],
    "dense": [
        ("peak RSS, MiB", _field("peak_rss_mib", ".0f")),
        ("peak − baseline, MiB", _field("peak_delta_mib", ".0f")),
        ("rel. diff vs hessrmt", _field("rel_diff_vs_hessrmt")),
    ],
}

#: The sentence after the problem line of each such task.
TIMED_EXTRA: dict[str, Callable[[dict[str, Any]], str]] = {
    "topk": lambda t: f"k = {t['settings']['k']}; target: {t['settings']['target']}.",
    "slq": lambda t: (
        f"{t['settings']['probes']} probes x {t['settings']['steps']} steps; "
        f"{t['settings']['accuracy']}."
    ),
    "trace": lambda t: f"Exact trace: {_g(t['reference'].get('exact_trace'), '.6g')}.",
    "dense": lambda t: t["settings"]["memory"] + ".",
}


def render_task(t: dict[str, Any]) -> str:
    if t["task"] == "rmt":
        head = (
            f"**{t['problem']['name']}** (`{t['settings']['command']}`, {t['status']}, "
            f"{t['seconds']:.1f} s):"
        )
        return "\n".join([head, "", "```", t["stdout"].rstrip(), "```", ""])
    if t["task"] == "slq-w1":
        from hessbench.slq_w1 import render_slq_w1

        return render_slq_w1(t, _problem_line(t["problem"]))
    rows = t["rows"]
    ref = _first_ok(rows, "hessrmt")
    task = t["task"]
    lines: list[list[str]] = []
    if task == "hvp":
        header = [
            "tool",
            "variant",
            "1 HVP, s",
            "block of 10, s",
            "HVP / gradient (medians; minima)",
            "block / HVP",
            "rel. error",
            "hessrmt speed-up (1 / 10)",
            "status",
        ]
        for r in rows:
            ok = r["status"] == "ok"
            lines.append(
                [
                    r["tool"],
                    r.get("variant", ""),
                    _fmt_s(r.get("time_1")),
                    _fmt_s(r.get("time_10")),
                    (
                        f"{r['hvp_over_grad']:.2f}; "
                        f"{r['time_1']['min'] / t['reference']['gradient_time']['min']:.2f}"
                    )
                    if ok
                    else "-",
                    _g(r.get("block10_over_hvp"), ".2f") if ok else "-",
                    _g(r.get("rel_err")) if ok else "-",
                    f"{_speedup(r, ref, 'time_1')} / {_speedup(r, ref, 'time_10')}",
                    _status(r),
                ]
            )
        extra = (
            f"Gradient baseline (plain reverse mode): {_fmt_s(t['reference']['gradient_time'])} s."
        )
    elif task in TIMED_COLUMNS:
        columns = TIMED_COLUMNS[task]
        header = ["tool", "variant", "time, s"] + [c for c, _ in columns]
        header += ["hessrmt speed-up", "status"]
        for r in rows:
            ok = r["status"] == "ok"
            cells = [cell(r) if ok else "-" for _, cell in columns]
            lines.append(
                [
                    r["tool"],
                    r.get("variant", ""),
                    _fmt_s(r.get("time")),
                    *cells,
                    _speedup(r, ref, "time"),
                    _status(r),
                ]
            )
        extra = TIMED_EXTRA[task](t)
    else:  # pragma: no cover
        return ""
    if t.get("from_run"):
        extra += f" (Measured in the run of {t['from_run']}.)"
    return "\n".join([_problem_line(t["problem"]) + ". " + extra, "", _table(header, lines), ""])


TASK_TITLES = {
    "hvp": "Hessian-vector products",
    "topk": "Top-k eigenpairs to a residual target (k and target in each problem line)",
    "slq": "SLQ spectral density",
    "slq-w1": "SLQ spectral density at equal W1 against a long-Lanczos reference",
    "trace": "Hutchinson trace",
    "dense": "Dense Hessian",
    "rmt": "RMT layer (bench/bench_rmt_*.py, owned by the RMT engineers)",
}


def _w1_mean(r: dict[str, Any]) -> str:
    if r.get("w1_mean") is None:
        return "-"
    n = len(r.get("w1_seeds") or [])
    se = r.get("w1_stderr")
    return f"{r['w1_mean']:.3g}" + (f" ± {se:.2g}" if se is not None else "") + f" (n={n})"


def _w1_no_worse(h: dict[str, Any], r: dict[str, Any]) -> tuple[bool, str]:
    """hessrmt's W1 no worse than ``r``'s: mean over seeds within 10 % or 2 combined SEs.

    Falls back to the single seed-0 W1 (within 10 %) for results from older runs.
    """
    if h.get("w1_mean") is not None and r.get("w1_mean") is not None:
        se = math.hypot(h.get("w1_stderr") or 0.0, r.get("w1_stderr") or 0.0)
        ok = h["w1_mean"] <= max(1.1 * r["w1_mean"], r["w1_mean"] + 2.0 * se)
        n = len(h.get("w1_seeds") or [])
        return ok, (
            f", mean W1 over {n} seeds {h['w1_mean']:.2e} vs {r['w1_mean']:.2e} "
            f"(combined SE {se:.1e})"
        )
    if h.get("w1") is not None and r.get("w1") is not None:
        return h["w1"] <= 1.1 * r["w1"], f", W1 (seed 0) {h['w1']:.2e} vs {r['w1']:.2e}"
    return True, ""


def load_note(machine: dict[str, Any]) -> str:
    """Whether other jobs loaded the machine, from the 1-minute load averages: before the run
    (other jobs only) above half the cores, or at its end above its own threads plus half."""
    cores = machine.get("cores") or 1
    start, end = machine.get("load_average_start"), machine.get("load_average_end")
    own = machine.get("torch_threads") or 1
    busy = bool(start and start[0] > 0.5 * cores) or bool(end and end[0] > own + 0.5 * cores)
    if busy:
        return (
            "The machine was SHARED and LOADED by other jobs during this run (1-minute load "
            "above half the core count before it, or above this run's own threads plus half "
            "the cores at its end): absolute times are inflated and noisy; ratios measured "
            "within one task are more reliable."
        )
    return "The machine was quiet during this run (the load at its end includes its own threads)."


def check_goals(results: dict[str, Any]) -> list[dict[str, Any]]:
    """The goals of issue 7, each with its measured figure and a verdict per problem."""
    goals: list[dict[str, Any]] = []
    for t in results["tasks"]:
        rows, name = t["rows"], t["problem"].get("name")
        if t["task"] == "slq-w1":
            from hessbench.slq_w1 import goals_slq_w1

            goals += goals_slq_w1(t)
            continue
        h = _first_ok(rows, "hessrmt")
        if h is None:
            continue
        if t["task"] == "hvp":
            ratio = h["hvp_over_grad"]
            rmin = h["time_1"]["min"] / t["reference"]["gradient_time"]["min"]
            goals.append(
                {
                    "goal": "HVP / gradient <= 2.5 (hessrmt default; medians)",
                    "problem": name,
                    "measured": f"{ratio:.2f} (ratio of minima {rmin:.2f})",
                    "met": ratio <= 2.5,
                }
            )
        elif t["task"] == "slq":
            for tool, factor in (("pyhessian", 3.0), ("curvlinops", 1.0)):
                r = _first_ok(rows, tool)
                if r is None:
                    continue
                sp = r["time"]["median"] / h["time"]["median"]
                acc_ok, acc = _w1_no_worse(h, r)
                cmp = ">=" if factor > 1 else ">"
                goals.append(
                    {
                        "goal": f"SLQ {cmp} {factor:g}x faster than {tool} at equal or better W1 "
                        "(mean over probe seeds, within 10 % or 2 standard errors)",
                        "problem": name,
                        "measured": f"{sp:.2f}x{acc}",
                        "met": (sp >= factor if factor > 1 else sp > factor) and acc_ok,
                    }
                )
        elif t["task"] == "topk":
            arp = next((r for r in rows if r["tool"] == "curvlinops" and r["status"] == "ok"), None)
            pw = next(
                (
                    r
                    for r in rows
                    if r["tool"] == "pyhessian"
                    and r["status"] == "ok"
                    and not r.get("budget_of_5x")
                ),
                None,
            )
            pw5 = next((r for r in rows if r.get("budget_of_5x") and r["status"] == "ok"), None)
            if arp is not None:
                goals.append(
                    {
                        "goal": "top-k matvecs <= ARPACK (eigsh)",
                        "problem": name,
                        "measured": f"{h['matvecs']} vs {arp['matvecs']}",
                        "met": h["matvecs"] <= arp["matvecs"],
                    }
                )
            if pw5 is not None:
                # decisive: power iteration run for exactly 5x hessrmt's products (tol = 0)
                reached = bool(pw5["reached_target"])
                goals.append(
                    {
                        "goal": "top-k matvecs >= 5x fewer than power iteration",
                        "problem": name,
                        "measured": (
                            f"power iteration with 5x hessrmt's products ({pw5['matvecs']} vs "
                            f"{h['matvecs']}) ends at residual {pw5['max_residual']:.2g} |λ1| "
                            + (
                                "(within 10x of the target: it needs at most about 5x)"
                                if reached
                                else "(not even within 10x of the target: it needs more than 5x)"
                            )
                        ),
                        "met": not reached,
                    }
                )
            elif pw is not None:
                note = "" if pw["reached_target"] else " (power iteration did not reach the target)"
                goals.append(
                    {
                        "goal": "top-k matvecs >= 5x fewer than power iteration",
                        "problem": name,
                        "measured": f"{pw['matvecs'] / h['matvecs']:.1f}x{note}",
                        "met": 5 * h["matvecs"] <= pw["matvecs"],
                    }
                )
        elif t["task"] == "dense":
            tf = _first_ok(rows, "torch.func")
            if tf is not None:
                goals.append(
                    {
                        "goal": "dense Hessian at least as fast as torch.func.hessian",
                        "problem": name,
                        "measured": f"{tf['time']['median'] / h['time']['median']:.2f}x",
                        "met": h["time"]["median"] <= tf["time"]["median"],
                    }
                )
                goals.append(
                    {
                        "goal": "dense Hessian peak memory <= torch.func.hessian's",
                        "problem": name,
                        "measured": f"{h['peak_delta_mib']:.0f} vs "
                        f"{tf['peak_delta_mib']:.0f} MiB above baseline",
                        "met": h["peak_delta_mib"] <= tf["peak_delta_mib"],
                    }
                )
    return goals


def render(results: dict[str, Any]) -> str:
    meta = results["meta"]
    m = meta["machine"]
    v = meta["versions"]
    out = [
        "# Benchmarks: hessrmt side by side with PyHessian, curvlinops, hessian-eigenthings "
        "and torch.func",
        "",
        f"Produced by `{meta['command']}` on {meta['date_utc']} (UTC), mode **{meta['mode']}**, "
        f"wall-clock {meta.get('wall_s', 0):.0f} s. Raw numbers: `docs/benchmarks.json` "
        "(and `bench/results/`).",
        "",
        f"* Machine: {m['cpu']}, {m['cores']} cores ({m['torch_threads']} torch threads), "
        f"{m.get('memory_gib', '?')} GiB RAM; {m['platform']}.",
        f"* Device: `{m['device']}`"
        + (
            ""
            if m.get("cuda_available")
            else "; no GPU on this machine (the `--device cuda` "
            "path exists in the harness but was not run here)"
        )
        + ".",
        f"* Load average (1/5/15 min) at start {m.get('load_average_start')}, at end "
        f"{m.get('load_average_end')}. " + load_note(m),
        "* Versions: " + ", ".join(f"{k} {val}" for k, val in v.items() if val) + ".",
        f"* Anchors: {meta['anchors_note']}",
    ]
    alloc = meta.get("allocator")
    if alloc:
        out.append(
            "* Allocator (the whole process, every tool): "
            + (
                f"glibc mmap threshold {alloc['mmap_threshold'] // 2**20} MiB, trim threshold "
                f"{alloc['trim_threshold'] // 2**20} MiB (`hessrmt.allocator`, as the `hessrmt` "
                "command sets it)"
                if alloc.get("applied")
                else f"defaults ({alloc.get('reason')})"
            )
            + "."
        )
    merged = meta.get("merged_from")
    if merged:
        runs = merged.get("runs") or {  # results merged by an older harness: one earlier run
            merged["date_utc"]: {"tasks": merged["tasks"], "load_average": merged["load_average"]}
        }
        for date, r in sorted(runs.items()):
            out.append(
                f"* Tasks {', '.join(sorted(r['tasks']))} come from the earlier run of {date} "
                f"(load average at its start and end {r['load_average']})."
            )
        out.append("* The others were measured in this run.")
    out += [
        "",
        "## How to read this",
        "",
        "* Every tool works on the same model, parameters, loss and equal-sized batches (the "
        "full-data mean loss); operators are built outside the timed region; times are "
        "wall-clock medians with [min–max] over n repeats (expensive calls repeat fewer times).",
        f"* {SPEEDUP}.",
        "* Accuracy is measured by the harness, never taken from a tool: HVPs against a plain "
        "autograd double backward; eigenpairs by true residuals and, on the small models, against "
        "`eigvalsh` of the dense float64 Hessian; densities by the 1-Wasserstein distance of each "
        "tool's quadrature measure to the exact spectrum (where there is none, to a long-Lanczos "
        "reference: see that section); traces against the exact trace.",
        "* Known anchor defects handled (see `bench/hessbench/anchors.py`): PyHessian 0.1 calls "
        "the removed `torch.eig` in `density()` — run through a labelled shim that uses `eigh` "
        "(as its repository later did); PyHessian allocates vectors in the global default dtype — "
        "float64 problems run it with the default dtype switched; hessian-eigenthings 1.0.0a5 "
        "`lanczos` drops reorthogonalisation above 50 steps — both settings are reported; "
        "hessian-eigenthings averages batches with equal weights — all batches have equal size.",
        "",
        "## Goals (issues 7 and 18)",
        "",
    ]
    goals = check_goals(results)
    out.append(
        _table(
            ["goal", "problem", "measured", "met"],
            [
                [g["goal"], str(g["problem"]), g["measured"], "yes" if g["met"] else "**no**"]
                for g in goals
            ],
        )
    )
    out.append("")
    if meta.get("findings"):
        out += ["### Findings", ""] + [f"* {f}" for f in meta["findings"]] + [""]
    for task in ("hvp", "topk", "slq", "slq-w1", "trace", "dense", "rmt"):
        ts = [t for t in results["tasks"] if t["task"] == task]
        if not ts:
            continue
        out += [f"## {TASK_TITLES[task]}", ""]
        for t in ts:
            out.append(render_task(t))
    refs = results.get("references", {})
    if refs:
        out += ["## Exact references", ""]
        for name, r in refs.items():
            out.append(
                f"* {name}: {r['how']}; relative difference of the dense matrix times a "
                f"vector to the autograd HVP {r['matrix_vs_autograd_hvp_rel_err']:.1e}; "
                f"{r['seconds']:.0f} s."
            )
        out.append("")
    return "\n".join(out)
