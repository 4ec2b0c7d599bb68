"""The "Batch noise" section of the ``hessrmt analyze`` report (``summary["batch_noise"]``).

Every sentence is computed from the run's numbers (:mod:`hessrmt.analysis.batch_noise`): the
noise scale with its interval, the noise's localisation and spacing ratio against GOE, and the
free deformed model's outliers against the measured top eigenvalues of the batch Hessians.
"""

from __future__ import annotations

import html
from collections.abc import Mapping
from typing import Any

from hessrmt.report.html import Table

#: |z| below which a measured value is called consistent with a reference.
Z_CONSISTENT = 3.0
#: IPR ratios within this relative distance of 1 count as GOE-like delocalisation.
IPR_TOLERANCE = 0.1


def _g(x: Any, digits: int = 4) -> str:
    return "n/a" if x is None else f"{x:.{digits}g}"


def _iv(interval: Any, i: int | None = None, digits: int = 4) -> str:
    if not interval:
        return "n/a"
    lo, hi = interval
    if i is not None:
        lo, hi = lo[i], hi[i]
    return f"[{_g(lo, digits)}, {_g(hi, digits)}]"


def batch_noise_sentences(summary: Mapping[str, Any]) -> list[str]:
    """The section's sentences (plain text), computed from ``summary["batch_noise"]``."""
    bn = summary.get("batch_noise")
    if not bn:
        why = (summary.get("skipped") or {}).get("batch_noise", "not computed")
        return [f"The batch-noise analysis was not run: {why}."]
    ns, loc, sr, out = bn["noise_scale"], bn["localisation"], bn["spacing_ratio"], bn["outliers"]
    theta = out["theta"]
    out_s = [
        f"Batch noise X_b = H_b - H over {bn['n_batches']} batches of {bn['batch_size']} samples "
        f"(P = {bn['n_parameters']}): noise scale s = ||X_b||_F / sqrt(P) = {_g(ns['s'])} "
        f"(95 % interval {_iv(ns['s_interval'])}), {_g(100 * ns['s_over_top_spike'], 3)} % of "
        f"the full Hessian's top eigenvalue {_g(theta[0])}."
        if ns.get("s_over_top_spike") is not None
        else f"Batch noise scale s = {_g(ns['s'])} (95 % interval {_iv(ns['s_interval'])})."
    ]
    ipr = loc["ipr_over_goe"]
    iv = loc.get("ipr_over_goe_interval")
    goe_like = abs(ipr - 1) <= IPR_TOLERANCE or bool(iv and iv[0] <= 1 <= iv[1])
    out_s.append(
        f"The noise eigenvectors' inverse participation ratio is {_g(ipr, 3)} x GOE's (95 % "
        f"interval {_iv(iv, digits=3)}) and their components' kurtosis {_g(loc['kurtosis'], 3)} "
        "(Gaussian: 3): "
        + (
            "delocalised as the paper's model assumes."
            if goe_like
            else (
                "more localised than GOE eigenvectors." if ipr > 1 else "less localised than GOE."
            )
        )
    )
    if sr.get("mean_ratio") is None:
        out_s.append("The noise's spacing ratio could not be computed (too few distinct levels).")
    else:
        zg, zp = sr.get("z_goe"), sr.get("z_poisson")
        if zg is not None and abs(zg) < Z_CONSISTENT:
            verdict = "consistent with GOE"
        elif zp is not None and abs(zp) < Z_CONSISTENT:
            verdict = "consistent with Poisson, not GOE"
        else:
            verdict = "consistent with neither GOE nor Poisson"
        out_s.append(
            f"The noise's mean spacing ratio <r~> = {_g(sr['mean_ratio'])} (95 % interval "
            f"{_iv(sr.get('mean_ratio_interval'))}) is {verdict} (GOE {sr['goe']}: z = "
            f"{_g(zg, 3)}; Poisson {_g(sr['poisson'])}: z = {_g(zp, 3)})."
        )
    pred = out["predicted"]
    r = len(theta)
    have = [i for i in range(r) if pred[i] is not None and out["z"][i] is not None]
    n_agree = sum(bool(out["agree"][i]) for i in have)
    none_pred = r - sum(p is not None for p in pred)
    sent = (
        f"Local law: from the full Hessian's top {r} eigenvalues and the measured s, the free "
        f"model predicts {r - none_pred} outliers of H_b"
        + (f" ({none_pred} spikes below the threshold, no outlier)" if none_pred else "")
        + f"; {n_agree} of {len(have)} agree with H_b's measured top eigenvalues within "
        f"{_g(out['z_agree'], 2)} standard errors"
    )
    if have:
        rel = [out["relative_error"][i] for i in have if out["relative_error"][i] is not None]
        worst = max(have, key=lambda i: abs(out["z"][i]))
        sent += (
            f"; largest relative error {_g(100 * max(rel), 3)} %; worst: spike {worst + 1} "
            f"(theta {_g(theta[worst])}) predicted {_g(pred[worst])}, measured "
            f"{_g(out['measured'][worst])} +- {_g(out['measured_se'][worst], 2)} "
            f"(z = {_g(out['z'][worst], 3)})"
        )
    out_s.append(sent + ".")
    ov = bn["overlaps"]
    diffs = [
        abs(m - p)
        for m, p in zip(ov["measured"], ov["predicted"])
        if m is not None and p is not None
    ]
    if diffs:
        out_s.append(
            "Squared overlaps of H's top eigenvectors with H_b's: largest |measured - predicted| "
            f"= {_g(max(diffs), 3)} (predicted 1/omega'(rho))."
        )
    return out_s


def batch_noise_html(summary: Mapping[str, Any]) -> str:
    """The sentences as an HTML list."""
    items = "".join(f"<li>{html.escape(s)}</li>" for s in batch_noise_sentences(summary))
    return f"<ul>{items}</ul>"


def batch_noise_table(summary: Mapping[str, Any]) -> Table | None:
    """Per spike: theta, predicted and measured outlier (+- SE, interval, z), overlaps."""
    bn = summary.get("batch_noise")
    if not bn:
        return None
    out, ov = bn["outliers"], bn["overlaps"]
    rows = []
    for i, th in enumerate(out["theta"]):
        rows.append(
            [
                i + 1,
                _g(th),
                _g(out["predicted"][i]),
                f"{_g(out['measured'][i])} +- {_g(out['measured_se'][i], 2)}",
                _iv(out.get("measured_interval"), i),
                _g(out["z"][i], 3),
                _g(ov["predicted"][i], 3),
                f"{_g(ov['measured'][i], 3)} +- {_g(ov['measured_se'][i], 2)}",
            ]
        )
    return Table(
        "Outliers of the batch Hessians: free-model prediction vs measurement (mean +- SE over "
        "batches; 95 % t interval)",
        [
            "spike",
            "theta (H)",
            "predicted",
            "measured",
            "interval",
            "z",
            "overlap pred.",
            "overlap meas.",
        ],
        rows,
    )
