"""``hessrmt stats FILE [--json] [--key KEY]``: zeros, outliers and spacing-ratio statistics.

Reads eigenvalues (``.npy``, ``.npz`` or text; 1-D = one spectrum, 2-D = rows are independent
spectra), runs :func:`hessrmt.rmt.summary.summarize_spectrum` and prints a table, or with
``--json`` one JSON object (the keys of :data:`hessrmt.rmt.summary.SUMMARY_KEYS`). Never imports
torch.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
from typing import Any


def register(sub: argparse._SubParsersAction) -> None:
    parser = sub.add_parser(
        "stats",
        help="zeros, outliers and spacing-ratio statistics of an eigenvalue file",
        description=(
            "Summarise eigenvalues read from FILE (.npy, .npz or text; 1-D = one spectrum, 2-D "
            "= rows are independent spectra): zero fraction, outliers, bulk edges, mean reduced "
            "spacing ratio with a standard error, KS tests against GOE and Poisson with "
            "simulated-null p-values, fitted beta, Brody q and a verdict. Statistics use the bulk "
            "only (zeros and outliers excluded)."
        ),
    )
    parser.add_argument("file", metavar="FILE", help="eigenvalue file (.npy, .npz or text)")
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    parser.add_argument("--key", default=None, help="array name inside a .npz file")
    parser.add_argument(
        "--zero-rtol",
        type=float,
        default=None,
        help="relative zero tolerance |l| <= RTOL max|l| (default from --dtype)",
    )
    parser.add_argument(
        "--dtype",
        default=None,
        choices=["float64", "float32", "float16", "bfloat16"],
        help="precision the eigenvalues were computed in (default: the file's dtype)",
    )
    parser.add_argument("--seed", type=int, default=0, help="seed of the simulated nulls")
    parser.add_argument(
        "--n-null", type=int, default=100, help="simulated-null replicates (0: asymptotic)"
    )
    parser.set_defaults(handler=run)


def _fmt(x: Any, digits: int = 4) -> str:
    if x is None or (isinstance(x, float) and not math.isfinite(x)):
        return "n/a"
    if isinstance(x, float):
        return f"{x:.{digits}g}"
    return str(x)


def _outliers(d: dict[str, Any]) -> str:
    out = d.get("outliers") or {}
    vals = [*out.get("low", []), *out.get("high", [])]
    if not vals:
        return str(d["n_outliers"])
    shown = ", ".join(_fmt(float(v)) for v in vals[:6]) + (", ..." if len(vals) > 6 else "")
    return f"{d['n_outliers']} at {shown}"


def _test_rows(vt: dict[str, Any]) -> list[tuple[str, str]]:
    """One row per class: its smallest Holm-adjusted p-value and the statistic behind it."""
    if "tests" not in vt:
        return [("verdict tests", vt.get("skipped", "not run"))]
    rows = []
    for name, t in vt["tests"].items():
        adj = {k: v for k, v in t["holm_adjusted"].items() if v is not None}
        if not adj:
            rows.append((f"vs {name}", "no statistic computable"))
            continue
        worst = min(adj, key=adj.__getitem__)
        state = "consistent" if t["consistent"] else f"rejected by {worst.replace('_', ' ')}"
        skipped = len(t["holm_adjusted"]) - len(adj)
        note = f"; {skipped} not computable" if skipped else ""
        rows.append((f"vs {name}", f"min Holm p = {_fmt(adj[worst], 3)} ({state}{note})"))
    rows.append(
        (
            "tests",
            f"5 per class, Holm, family-wise alpha = {vt['alpha']:g}; "
            f"{vt['n_null']} null replicates per class, F-tail p-values",
        )
    )
    return rows


def _levels_row(excluded: dict[str, Any]) -> list[tuple[str, str]]:
    """How many bulk levels the statistics used, and the segments they came from."""
    if "used_levels" not in excluded:
        return []
    sizes = [n for row in excluded["segments"] for n in row]
    if len(sizes) > 6:
        seg = f"{len(sizes)} segments of {min(sizes)} to {max(sizes)}"
    else:
        seg = "segments of " + (", ".join(map(str, sizes)) or "none")
    return [
        (
            "levels used",
            f"{excluded['used_levels']} of {excluded['bulk_levels']} bulk levels ({seg}; "
            "central 80% of those >= 20 levels)",
        )
    ]


def format_table(d: dict[str, Any], warnings: tuple[str, ...] = ()) -> str:
    """Readable text table of a summary dict."""
    ref = d["reference"]
    rows = [
        ("spectra", d["n_spectra"]),
        ("eigenvalues", d["n_eigenvalues"]),
        (
            "zero fraction",
            f"{_fmt(d['zero_fraction'])} ({d['n_zero_exact']} exact, "
            f"{d['n_zero_roundoff']} round-off)",
        ),
        ("outliers", _outliers(d)),
        ("bulk edges", f"[{_fmt(d['bulk_edges'][0])}, {_fmt(d['bulk_edges'][1])}]"),
        ("mean r~", f"{_fmt(d['mean_ratio'])} +- {_fmt(d['mean_ratio_se'], 2)}"),
        (
            "reference <r~>",
            ", ".join(f"{k} {v:.4f}" for k, v in ref.items()),
        ),
        (
            "KS vs GOE",
            f"D = {_fmt(d['ks_goe']['statistic'])}, p = {_fmt(d['ks_goe']['pvalue'], 3)} "
            "(r~ only; not in the verdict)",
        ),
        (
            "KS vs Poisson",
            f"D = {_fmt(d['ks_poisson']['statistic'])}, p = {_fmt(d['ks_poisson']['pvalue'], 3)} "
            "(r~ only; not in the verdict)",
        ),
        (
            "fitted beta",
            f"{_fmt(d['beta_fit']['beta'], 3)} "
            f"[{_fmt(d['beta_fit']['low'], 3)}, {_fmt(d['beta_fit']['high'], 3)}]",
        ),
        (
            "Brody q",
            f"{_fmt(d['brody_q'], 3)} [{_fmt(d['brody_q_interval'][0], 3)}, "
            f"{_fmt(d['brody_q_interval'][1], 3)}] (95%)",
        ),
        *_test_rows(d.get("verdict_tests") or {}),
        ("verdict", d["verdict"]),
        (
            "excluded",
            f"{d['excluded']['zeros']} zeros, {d['excluded']['outliers']} outliers, "
            f"{d['excluded']['degenerate_merged']} merged near-degenerate levels",
        ),
        *_levels_row(d["excluded"]),
    ]
    width = max(len(k) for k, _ in rows)
    lines = [f"{k:<{width}}  {v}" for k, v in rows]
    vt = d.get("verdict_tests") or {}
    lines.append(
        "statistics on one selection: " + vt["selection"]
        if "selection" in vt
        else "statistics on the bulk: zeros and outliers excluded"
    )
    if "unfolding" in vt:
        lines.append(f"unfolding: {vt['unfolding']}")
    lines += [f"warning: {w}" for w in warnings]
    return "\n".join(lines)


def run(args: argparse.Namespace) -> int:
    from hessrmt.io import to_jsonable
    from hessrmt.rmt.spectrum_io import load_spectrum
    from hessrmt.rmt.summary import summarize_spectrum

    eigs = load_spectrum(args.file, key=args.key)
    summary = summarize_spectrum(
        eigs,
        zero_rtol=args.zero_rtol,
        rng=args.seed,
        dtype=args.dtype,
        n_null=args.n_null,
    )
    d = summary.to_summary_dict()
    if args.json:
        sys.stdout.write(json.dumps(to_jsonable(d), allow_nan=False) + "\n")
        for w in summary.warnings:  # also under conventions["warnings"]
            sys.stderr.write(f"hessrmt: warning: {w}\n")
    else:
        sys.stdout.write(format_table(d, summary.warnings) + "\n")
    return 0
