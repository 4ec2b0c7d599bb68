"""The report of ``hessrmt reproduce universal``: every sentence computed from the summary.

:func:`conclusions` turns the numbers of a summary into sentences (tested by altering the numbers);
:func:`render_report` wraps them and the tables into a self-contained HTML page.
"""

from __future__ import annotations

import html
import math
from typing import Any

import numpy as np

#: |z| below which a measurement "agrees" with a prediction (about 99 % two-sided).
Z_AGREE = 3.0


def _z(measured: Any, predicted: Any, se: Any) -> np.ndarray:
    m = np.asarray(measured, dtype=float)
    p = np.asarray([np.nan if v is None else v for v in np.ravel(predicted)], dtype=float)
    p = p.reshape(m.shape)
    s = np.asarray(se, dtype=float)
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.abs(m - p) / np.where(s > 0, s, np.nan)


def synthetic_sentences(name: str, syn: dict[str, Any]) -> list[str]:
    rows = syn["sizes"]
    first, last = rows[0], rows[-1]
    z_out = _z(last["top"], syn["predicted_outliers"], last["top_se"])
    z_ov = _z(last["overlap"], syn["predicted_overlaps"], last["overlap_se"])
    z_q = _z(last["quadratic"], syn["predicted_quadratic"], last["quadratic_se"])
    zmax = float(np.nanmax(np.concatenate([z_out.ravel(), z_ov.ravel(), z_q.ravel()])))
    verdict = "agree with" if zmax < Z_AGREE else "disagree with"
    err0 = float(np.nanmax(np.asarray(first["outlier_error"], dtype=float)))
    err1 = float(np.nanmax(np.asarray(last["outlier_error"], dtype=float)))
    trend = "shrank" if err1 < err0 else "did not shrink"
    return [
        f"Synthetic check ({name} noise): at N = {last['n']} the measured outliers, overlaps and "
        f"resolvent quadratic forms {verdict} the subordination predictions (largest |z| = "
        f"{zmax:.2f} over {syn['reps']} draws; agreement means |z| < {Z_AGREE:g}).",
        f"The largest outlier error {trend} from {err0:.4f} at N = {first['n']} to {err1:.4f} at "
        f"N = {last['n']}.",
    ]


def _delocalisation_sentence(key: str, deloc: list[dict[str, Any]]) -> str:
    top = max(deloc, key=lambda r: r["ipr_over_goe"])
    ipr, ipr_se = top["ipr_over_goe"], top.get("ipr_over_goe_se")
    kind = "delocalised like GOE" if ipr < 1.5 else "far more localised than GOE"
    se_text = f" +- {ipr_se:.2f}" if ipr_se is not None and math.isfinite(ipr_se) else ""
    where = f", at b = {top['b']}" if top.get("b") is not None else ""
    zs = [
        abs(r["mean_ratio"] - 0.5307) / max(r["mean_ratio_se"] or 0.0, 1e-12)
        for r in deloc
        if r.get("mean_ratio") is not None
    ]
    if not zs:
        ratio_text = "the noise has too few distinct levels for spacing ratios"
    elif max(zs) < Z_AGREE:
        ratio_text = (
            f"the mean spacing ratio of the noise is consistent with GOE's 0.5307 at every batch "
            f"size (within {max(zs):.1f} standard errors)"
        )
    else:
        ratio_text = (
            f"the mean spacing ratio of the noise differs from GOE's 0.5307 by up to "
            f"{max(zs):.1f} standard errors"
        )
    return (
        f"{key}: the noise eigenvectors are {kind} (inverse participation ratio up to "
        f"{ipr:.2f}{se_text} x GOE's{where}; per eigenspace, independent of the eigenvector "
        f"basis); {ratio_text}."
    )


def network_sentences(key: str, s: dict[str, Any]) -> list[str]:
    out = []
    net = (s.get("networks") or {}).get(key, {})
    if net.get("path") == "lanczos":
        lz = net.get("lanczos") or {}
        out.append(
            f"{key}: matrix-free path ({net.get('path_reason', 'above the dense limit')}): "
            "outliers and overlaps from Lanczos eigenpairs, the noise scale from Hutchinson's "
            f"estimator of tr((H_b - A)^2) / P with {lz.get('hutchinson_probes')} probes, A's "
            f"bulk from SLQ ({lz.get('slq_probes')} probes x {lz.get('slq_steps')} steps)."
        )
    fit = s["noise_scale"][key]["fit"]
    if fit is not None:
        lo, hi = fit["alpha_interval"]
        consistent = "consistent" if lo <= 0.5 <= hi else "not consistent"
        better = (
            "the finite-population law fits better"
            if fit["fpc_rms_log_residual"] < fit["power_rms_log_residual"]
            else "the free power law fits better"
        )
        out.append(
            f"{key}: the batch noise scale falls as b^-alpha with alpha = {fit['alpha']:.3f} "
            f"(95 % interval [{lo:.3f}, {hi:.3f}]), {consistent} with 1/sqrt(b); {better} (RMS "
            f"log residuals {fit['fpc_rms_log_residual']:.3f} vs "
            f"{fit['power_rms_log_residual']:.3f})."
        )
    deloc = s["delocalisation"][key]["rows"]
    if deloc:
        out.append(_delocalisation_sentence(key, deloc))
    else:
        out.append(
            f"{key}: delocalisation and spacing ratios of the noise: "
            f"{s['delocalisation'][key].get('note', 'not measured')}."
        )
    rows = s["outliers"][key]["rows"]
    agree, disagree = [], []
    worst = 0.0
    for r in rows:
        z = _z(r["measured"], r["predicted"], r["measured_se"])
        zm = float(np.nanmax(z)) if np.isfinite(z).any() else float("nan")
        (agree if zm < Z_AGREE else disagree).append(int(r["b"]))
        rel = np.nanmax(
            np.abs(
                np.asarray(r["measured"], dtype=float)
                - np.asarray([np.nan if v is None else v for v in r["predicted"]], dtype=float)
            )
            / np.abs(np.asarray(r["measured"], dtype=float))
        )
        worst = max(worst, float(rel))
    out.append(
        f"{key}: predicted outliers agree with the measured top eigenvalues of H_b within "
        f"{Z_AGREE:g} standard errors at b = {agree or 'none'} and disagree at b = "
        f"{disagree or 'none'} (largest relative error {100 * worst:.0f} %)."
    )
    damp = s["damping"]["local_law"][key]["rows"]
    if not damp:
        note = s["damping"]["local_law"][key].get("note", "not measured")
        out.append(f"{key}: local-law damping: {note}.")
        return out

    def arr(v: Any) -> np.ndarray:
        a = np.asarray(v, dtype=object)
        return np.where(a == None, np.nan, a).astype(float)  # noqa: E711 (refused: None)

    def rel_error(r: dict[str, Any], what: str) -> float:
        m = arr(r["measured"])
        return float(np.nanmean(np.abs(m - arr(r[what]))) / np.nanmean(m))

    usable = [r for r in damp if np.isfinite(arr(r["measured"])).any()]
    if "max_residual" in damp[0]:
        res = np.concatenate([arr(r["max_residual"]).ravel() for r in damp])
        conv = np.concatenate([np.asarray(r["converged"], dtype=bool).ravel() for r in damp])
        refused = [
            f"{d:.3g} (b = {r['b']})"
            for r in damp
            for d, c in zip(r["delta"], r["converged"])
            if not c
        ]
        out.append(
            f"{key}: u^T (H_b + delta)^-1 u by multi-shift MINRES (products only): largest true "
            f"relative residual {np.nanmax(res):.1e}; {int(conv.sum())} of {conv.size} deltas "
            "converged" + (f", refused (not converged): {', '.join(refused)}." if refused else ".")
        )
    if not usable:
        out.append(f"{key}: local-law damping: no converged quadratic forms to compare.")
        return out
    e_pred = float(np.mean([rel_error(r, "predicted") for r in usable]))
    e_naive = float(np.mean([rel_error(r, "naive") for r in usable]))
    better = "closer to" if e_pred < e_naive else "no closer to"
    out.append(
        f"{key}: the local law's u^T (H_b + delta)^-1 u is {better} the measured values than the "
        f"naive 1/(theta + delta) (mean relative error {100 * e_pred:.1f} % vs "
        f"{100 * e_naive:.1f} %)."
    )
    return out


def _finite(v: Any) -> bool:
    return v is not None and bool(np.isfinite(float(v)))


def training_sentences(t: dict[str, Any]) -> list[str]:
    """The damped-Newton sentence. With one seed there is no standard error (it is recorded as
    None): the difference is printed with "no interval (1 seed)" and no significance is claimed."""
    out = _solver_sentences(t.get("solver") or {})
    d, se = t["final_difference"]
    delta_m, delta_se = t["local_law_delta"]
    delta_text = f"{delta_m:.4g}" + (f" +- {delta_se:.2g}" if _finite(delta_se) else "")
    head = (
        f"Damped Newton (target effective damping {t['target_effective_damping']:g}, local-law "
        f"delta {delta_text}): final training loss difference (local law minus naive) {d:.4g}"
    )
    if not _finite(se):
        return [
            f"{head}, no interval ({t['seeds']} seed): no significance test is possible; run "
            "more seeds for one.",
            *out,
        ]
    z = abs(d) / se if se > 0 else float("inf")
    if z < 2:
        what = "no significant difference"
    else:
        what = (
            "a lower final loss with local-law damping"
            if d < 0
            else "a lower final loss with naive damping"
        )
    return [f"{head} +- {se:.2g} over {t['seeds']} seeds: {what}.", *out]


def _solver_sentences(solver: dict[str, Any]) -> list[str]:
    """How the damped-Newton steps were solved, when not densely."""
    if solver.get("method") != "minres":
        return []
    res = solver.get("max_residual")
    return [
        f"Damped Newton steps solved matrix-free by MINRES ({solver.get('reason')}): largest "
        f"true relative residual {res if res is None else format(res, '.1e')}, "
        f"{solver.get('unconverged_steps')} of {solver.get('steps')} solves above 10 x "
        f"{solver.get('rtol'):g}."
    ]


def conclusions(summary: dict[str, Any]) -> list[str]:
    """Every conclusion of the report, computed from ``summary``."""
    out: list[str] = []
    for name, syn in summary["synthetic"].items():
        out += synthetic_sentences(name, syn)
    for key in summary["noise_scale"]:
        out += network_sentences(key, summary)
    out += training_sentences(summary["damping"]["training"])
    return out


def _table(rows: list[dict[str, Any]], keys: list[str]) -> str:
    def fmt(v: Any) -> str:
        if isinstance(v, float):
            return f"{v:.4g}"
        if isinstance(v, list):
            return ", ".join(fmt(x) for x in v[:6]) + (" ..." if len(v) > 6 else "")
        return html.escape(str(v))

    head = "".join(f"<th>{html.escape(k)}</th>" for k in keys)
    body = "".join(
        "<tr>" + "".join(f"<td>{fmt(r.get(k))}</td>" for k in keys) + "</tr>" for r in rows
    )
    return f"<table><tr>{head}</tr>{body}</table>"


def render_report(summary: dict[str, Any]) -> str:
    """Self-contained HTML page: conclusions, then the tables behind them."""
    parts = [
        "<!doctype html><html><head><meta charset='utf-8'><title>hessrmt: universal "
        "characteristics (arXiv 2205.08601)</title><style>body{font-family:sans-serif;"
        "max-width:60em;margin:auto}td,th{border:1px solid #ccc;padding:2px 6px}"
        "table{border-collapse:collapse;margin:1em 0}</style></head><body>",
        f"<h1>Universal characteristics of loss surfaces: {html.escape(summary['paper'])}</h1>",
        "<h2>Conclusions (computed from this run)</h2><ul>",
        *(f"<li>{html.escape(s)}</li>" for s in conclusions(summary)),
        "</ul>",
    ]
    for key in summary["noise_scale"]:
        parts.append(f"<h2>{html.escape(key)}</h2><h3>Noise scale s(b)</h3>")
        parts.append(
            _table(
                summary["noise_scale"][key]["rows"], ["b", "s", "s_se", "n_batches", "s_probe_se"]
            )
        )
        parts.append("<h3>Delocalisation and local statistics of X_b</h3>")
        parts.append(
            _table(
                summary["delocalisation"][key]["rows"],
                ["b", "ipr_over_goe", "ipr_over_goe_se", "kurtosis", "mean_ratio", "mean_ratio_se"],
            )
        )
        parts.append("<h3>Outliers of H_b: predicted vs measured</h3>")
        parts.append(
            _table(
                summary["outliers"][key]["rows"],
                ["b", "theta", "predicted", "measured", "measured_se"],
            )
        )
        parts.append("<h3>Overlaps with A's top eigenvectors</h3>")
        parts.append(
            _table(summary["overlaps"][key]["rows"], ["b", "predicted", "measured", "measured_se"])
        )
        parts.append("<h3>Effective damping</h3>")
        parts.append(
            _table(
                summary["damping"]["local_law"][key]["rows"],
                ["b", "delta", "effective_delta", "max_residual", "converged"],
            )
        )
    parts.append(
        "<h2>Configuration</h2><pre>" + html.escape(str(summary["config"])) + "</pre></body></html>"
    )
    return "\n".join(parts)
