"""Every sentence of the Pennington-Bahri report, computed from a run's ``summary.json`` numbers.

Nothing here is fixed conclusion text: each statement compares numbers of the summary (an
interval against a prediction, a p-value against ``LEVEL``, ratios against 1) and says what the
comparison found, with the sizes. :func:`conclusions` is pure (a dict in, strings out), so the
tests feed it altered numbers and check that the statements change.
"""

from __future__ import annotations

import math
from typing import Any

#: Significance level of the stated test decisions.
LEVEL = 0.05


def _f(x: Any, digits: int = 3) -> str:
    if x is None or (isinstance(x, float) and not math.isfinite(x)):
        return "n/a"
    return f"{x:.{digits}g}"


def _iv(iv: Any) -> str:
    return "no interval" if not iv else f"95 % interval [{_f(iv[0])}, {_f(iv[1])}]"


def threshold_sentence(t: dict[str, Any], label: str = "") -> str:
    """eps0 against (1 - phi)^2 / 2 and against the theory's eps_c at one phi."""
    phi, pred = t["phi"], t["predicted"]
    head = f"{label}phi = {_f(phi)}: "
    if t.get("eps0") is None:
        return head + (
            f"no threshold fitted ({t.get('n_points', 0)} saddles with 0 < alpha <= alpha_max; "
            f"{t.get('reason') or 'fit failed'})."
        )
    e0, iv = t["eps0"], t.get("eps0_interval")
    diff = e0 - pred
    rel = diff / pred if pred else math.inf
    if iv and iv[0] <= pred <= iv[1]:
        verdict = "its interval contains"
    elif iv:
        verdict = "its interval lies " + ("above" if iv[0] > pred else "below")
    else:
        verdict = "(no interval) compared with"
    s = (
        f"{head}eps0 = {_f(e0, 4)} ({_iv(iv)}); {verdict} (1 - phi)^2 / 2 = {_f(pred, 4)} "
        f"(difference {diff:+.3g}, {100 * rel:+.1f} %)"
    )
    if e0 <= 1e-9 * pred:
        s += "; eps0 sits at the fit's bound 0 (the threshold is not determined by these points)"
    ec = t.get("eps_c_theory")
    if ec and e0 > 1e-9 * pred:
        factor, side = (e0 / ec, "smaller") if e0 >= ec else (ec / e0, "larger")
        s += f"; the theory's eps_c = {_f(ec, 4)} is {factor:.3g} times {side} than eps0"
    return s + "."


def gamma_sentence(
    gamma: Any, interval: Any, p: Any, hyp: float, what: str, p_boot: Any = None
) -> str:
    """gamma with its interval and the test decision for gamma = hyp.

    The decision uses ``p_boot``, the bootstrap test dual to the printed interval, when given
    (:func:`.powerlaw.bootstrap_p_value`), so it never contradicts the interval; the F test's
    ``p`` is stated beside it, and a disagreement between the two is said."""
    if gamma is None:
        return f"{what}: no exponent fitted."
    s = f"{what}: gamma = {_f(gamma)} ({_iv(interval)}"
    if interval:
        s += f", width {interval[1] - interval[0]:.2g}; it "
        s += "contains" if interval[0] <= hyp <= interval[1] else "excludes"
        s += f" {_f(hyp)}"
    s += ")"
    if p_boot is not None:
        decision = "rejected" if p_boot < LEVEL else "not rejected"
        s += (
            f"; gamma = {_f(hyp)} is {decision} at the {LEVEL:g} level (bootstrap test dual to "
            f"the interval, p = {p_boot:.2g}"
        )
        if p is None:
            return s + ")."
        s += f"; F test p = {p:.2g}"
        if (p < LEVEL) != (p_boot < LEVEL):
            s += (
                ", which "
                + ("rejects" if p < LEVEL else "does not reject")
                + " it: the F test assumes independent, equal-variance scatter in log alpha, "
                "the bootstrap does not"
            )
        return s + ")."
    if p is None:
        return s + f"; no test of gamma = {_f(hyp)} (no residual degrees of freedom)."
    decision = "rejected" if p < LEVEL else "not rejected"
    return s + f"; gamma = {_f(hyp)} is {decision} at the {LEVEL:g} level (F test p = {p:.2g})."


def theory_sentence(th: dict[str, Any], label: str = "") -> str:
    """The measured index against the three theory evaluations (median ratios)."""
    if not th or not th.get("n_points"):
        return f"{label}no saddle with alpha > 0 to compare with the theory."
    parts, best, best_dist = [], None, math.inf
    names = {
        "raw_energy": "at the raw energy (the paper's way)",
        "eps_eff": "at eps_eff = var(H1) / (2 mean(H0)^2) (measured scales)",
        "free_sum": "as the free sum of the measured H0 spectrum and a semicircle with H1's "
        "measured mean and variance",
    }
    for key, text in names.items():
        r = th[key]["median_ratio_measured_to_theory"]
        zero = th[key]["n_theory_zero"]
        parts.append(
            f"{text}: median measured / theory = {_f(r)}"
            + (f" ({zero} points where the theory gives 0)" if zero else "")
        )
        if r is not None and r > 0 and abs(math.log(r)) < best_dist:
            best, best_dist = text, abs(math.log(r))
    s = f"{label}Index against the theory over {th['n_points']} saddles, " + "; ".join(parts)
    if best is not None:
        s += f". Closest to the measured index: the theory {best} (off by a factor "
        s += f"{math.exp(best_dist):.3g})"
    return s + "."


def minimiser_sentence(m: dict[str, Any]) -> str:
    lam = m["weight_decay"]
    what = "minimisation" + (f" with weight decay {_f(lam)}" if lam else "")
    head = f"phi = {_f(m['phi'])}, {what}: {m['n_minimisers']} of {m['n_searches']} converged"
    if m["min_energy"] is not None:
        d = m["min_energy"] - m["paper_curve"]
        head += (
            f"; lowest minimiser energy {_f(m['min_energy'], 4)} against (1 - phi)^2 / 2 = "
            f"{_f(m['paper_curve'], 4)} (difference {d:+.3g})"
        )
    else:
        head += (
            f"; the lowest energy reached was {_f(m['lowest_energy_reached'], 4)} (not a critical "
            f"point), against (1 - phi)^2 / 2 = {_f(m['paper_curve'], 4)}"
        )
    return head + (
        f"; median |theta| = {_f(m['theta_norm_median'])}, median fraction of saturated "
        f"pre-activations {_f(m['saturated_fraction_median'])}, median Hessian zero modes "
        f"{_f(m['zero_modes_median'])}."
    )


def runaway_sentence(summary: dict[str, Any]) -> str:
    """Why plain minimisation runs off: |theta| and saturation of plain against penalised runs."""
    mins = summary.get("minimisers", [])
    plain = [m for m in mins if not m["weight_decay"]]
    wd = [m for m in mins if m["weight_decay"]]

    def agg(ms: list[dict[str, Any]]) -> tuple[int, int, float | None, float | None]:
        conv = sum(m["n_minimisers"] for m in ms)
        n = sum(m["n_searches"] for m in ms)
        th = [m["theta_norm_median"] for m in ms if m["theta_norm_median"] is not None]
        sat = [m["saturated_fraction_median"] for m in ms]
        sat = [v for v in sat if v is not None]
        return conv, n, (max(th) if th else None), (max(sat) if sat else None)

    if not plain:
        return "No plain minimisations were run."
    c, n, th, sat = agg(plain)
    s = (
        f"Plain minimisation of L: {c} of {n} runs converged to a critical point; the largest "
        f"per-phi median |theta| is {_f(th)} with up to {_f(sat)} of the hidden pre-activations "
        "saturated (|a| > 3, tanh' < 0.01)"
    )
    if wd:
        c2, n2, th2, sat2 = agg(wd)
        s += (
            f"; with weight decay {_f(wd[0]['weight_decay'])}: {c2} of {n2} converged, median "
            f"|theta| up to {_f(th2)}, saturated fraction up to {_f(sat2)}"
        )
        lower = sum(
            p["lowest_energy_reached"] < q["lowest_energy_reached"]
            for p in plain
            for q in wd
            if p["phi_target"] == q["phi_target"]
        )
        pairs = sum(p["phi_target"] == q["phi_target"] for p in plain for q in wd)
        if th is not None and th2 is not None:
            s += (
                f". The plain runs end at {th / th2:.3g} times the variant's |theta|, and reach "
                f"a lower L than the variant at {lower} of {pairs} phi"
            )
            if th > 2 * th2 and c2 > c and lower == pairs:
                s += (
                    ": L still falls along directions where tanh units saturate (their "
                    "gradients and Hessian entries vanish), so the infimum is approached at "
                    "infinity, and the penalty makes the minimisers finite"
                )
    return s + "."


def yield_sentence(series: dict[str, Any], name: str) -> str:
    s = (
        f"{name}: {series['n_kept']} of {series['n_searches']} searches ended at a critical "
        f"point ({100 * (series['success_rate'] or 0):.1f} %), {series['n_distinct']} distinct; "
        f"stop reasons {series['stop_reasons']}"
    )
    by_finder = series.get("n_kept_by_finder") or {}
    if by_finder.get("lm+ef"):
        s += (
            f"; {by_finder['lm+ef']} of the kept points were reached by eigenvector following "
            "from a stalled |grad L|^2 search"
        )
    per_phi = [
        f"{p['n_kept']} of {p['n_searches']} at phi = {_f(p['phi'])}"
        for p in series.get("per_phi", [])
        if p.get("n_searches")
    ]
    if per_phi:
        s += "; kept per phi: " + ", ".join(per_phi)
    if series.get("unkept_theta_norm_median") is not None:
        s += (
            f"; median |theta| {_f(series['unkept_theta_norm_median'])} and saturated fraction "
            f"{_f(series['unkept_saturated_median'])} where searches failed, against "
            f"{_f(series['kept_theta_norm_median'])} and {_f(series['kept_saturated_median'])} "
            "at kept points"
        )
    return s + "."


def conclusions(summary: dict[str, Any]) -> dict[str, list[str]]:
    """The report's statements, by section, each computed from ``summary``'s numbers."""
    hyp = summary["config"]["hypothesis_gamma"]
    out: dict[str, list[str]] = {"yield": [], "thresholds": [], "exponent": [], "theory": []}
    labels = {"critical": "Paper's loss", "critical_wd": "Weight-decay variant"}
    for kind, ser in summary["series"].items():
        label = labels.get(kind, kind)
        out["yield"].append(yield_sentence(ser, label))
        for t in ser["thresholds"]:
            out["thresholds"].append(threshold_sentence(t, f"{label}, "))
            what = f"{label}, phi = {_f(t['phi'])} alone"
            g, iv, p = t.get("gamma_phi"), t.get("gamma_phi_interval"), t.get("gamma_phi_p_value")
            pb = t.get("gamma_phi_bootstrap_p_value")
            out["exponent"].append(gamma_sentence(g, iv, p, hyp, what, pb))
        ex = ser["exponent"]
        what = f"{label}, one gamma for all phi"
        out["exponent"].append(
            gamma_sentence(
                ex["exponent"],
                ex["exponent_interval"],
                ex["p_value"],
                hyp,
                what,
                ex.get("bootstrap_p_value"),
            )
        )
        out["theory"].append(theory_sentence(ser["theory"], f"{label}: "))
    out["minimisers"] = [minimiser_sentence(m) for m in summary.get("minimisers", [])]
    out["runaway"] = [runaway_sentence(summary)]
    ae = summary.get("autoencoder")
    if ae:
        from .autoencoder import autoencoder_sentences

        out["autoencoder"] = autoencoder_sentences(ae)
    return out
