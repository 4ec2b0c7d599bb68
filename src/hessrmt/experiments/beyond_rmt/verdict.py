"""The verdict of ``hessrmt reproduce beyond-rmt`` per network: the best family by W1, its margin
over semicircle / MP, its refitting-bootstrap p-value (with the bootstrap's floor), and the
sentence the report prints, all computed from the run's fits (:func:`_verdict`).

Moved out of :mod:`hessrmt.experiments.beyond_rmt.pipeline`, which orchestrates the steps.
"""

from __future__ import annotations

import math
from typing import Any

from hessrmt.rmt.family_fit import format_pvalue


def _details(res: dict[str, Any]) -> str:
    """Computed sentences on the fits with each family's own atom, the moment fits' atoms and
    (CNNs) single-probe Lanczos vs SLQ vs the exact spectrum."""
    out = ""
    zf = res.get("zero_fraction")
    if "family_atom" in res and zf is not None:
        ob = res["family_atom"]["families"][0]
        p_txt = format_pvalue(ob)
        p_txt = p_txt if p_txt.startswith("<=") else "= " + p_txt
        out += (
            f" With each family's own atom, {ob['family']} fits best (W1 {ob['w1']:.3g}, KS p "
            f"{p_txt}; its atom {ob['atom_at_zero']:.3f} vs measured {zf:.3f})."
        )
    atoms = [m["atom_at_zero"] for m in res.get("moments", {}).values() if m["atom_at_zero"] > 0]
    if atoms:
        out += (
            f" The moment fits put atoms of {min(atoms):.2f}-{max(atoms):.2f} at zero (the "
            "W1 fits do not)."
        )
    lay = res.get("layered")
    if lay and res["families"]:
        best = res["families"][0]["family"]
        b = lay["laws"].get(best, {})
        if "E" in b:
            n_k = sum(b["layered"])
            out += (
                f" Layered critical points (p = {lay['p']}) with the {best} law: E_inf = "
                f"{b['E_inf']:.4f} against ABC's {lay['abc']['E_inf']:.4f}; "
                + (
                    f"the bands survive for {n_k} of {len(b['E'])} indices"
                    if n_k
                    else "no band survives"
                )
                + f" (Theta_0(-E_inf) = {b['theta_at_threshold'][0]:.4f}, ABC "
                f"{lay['abc']['theta_at_threshold'][0]:.4f})."
            )
    lz = res.get("network", {}).get("lanczos")
    if lz:
        single, slq_w1 = lz["w1_single_to_dense"], lz["w1_slq_to_dense"]
        out += (
            f" Single-probe Lanczos ({lz['steps']} steps, Granziol's method): W1 to the exact "
            f"spectrum {single['mean']:.3g} (range {single['min']:.3g}-{single['max']:.3g} over "
            f"{lz['repeats']} probes) against {slq_w1:.3g} for {lz['probes']}-probe SLQ"
            + (f", {single['mean'] / slq_w1:.1f} times larger" if slq_w1 > 0 else "")
            + f" (spectrum mean absolute deviation {lz['dense_mean_abs_deviation']:.3g})."
        )
    return out


def _verdict(fits: dict[str, Any]) -> dict[str, Any]:
    """Per network: best family by W1, its margin over semicircle / MP, and whether the best
    family itself survives its bootstrap KS test (p above max(0.05, 1/(n_boot + 1)), the
    smallest p-value the bootstrap can give). The claim is said to hold only when the best
    family is a product / percolated one *and* is not rejected."""
    out = {}
    for name, res in fits.items():
        fams = {f["family"]: f for f in res["families"]}
        best = res["families"][0]
        classic = [fams[k]["w1"] for k in ("semicircle", "marchenko-pastur") if k in fams]
        ratio = (min(classic) / best["w1"]) if classic and best["w1"] > 0 else math.nan
        floor = max(0.05, 1.0 / (best["n_boot"] + 1)) if best["n_boot"] else 0.05
        rejected = best["pvalue"] <= floor
        beyond = best["family"] not in ("semicircle", "marchenko-pastur")
        holds = beyond and not rejected
        acc = res.get("network", {}).get("test_accuracy")
        acc_txt = f" (test accuracy {acc:.2f})" if isinstance(acc, float) else ""
        zf_txt = (
            f"; measured zero fraction {res['zero_fraction']:.3f}" if "zero_fraction" in res else ""
        )
        head = (
            f"On {name}{acc_txt} {best['family']} fits best by W1 ({best['w1']:.3g}"
            + (
                f", {ratio:.2f} times closer than the better of semicircle and MP"
                if classic
                else ""
            )
            + (
                f"; atom matched to the measured zero fraction {best['atom_at_zero']:.3f}"
                if "zero_mass" in best["params"]
                else f"; predicted atom {best['atom_at_zero']:.3f}{zf_txt}"
            )
            + ")"
        )
        if rejected and best.get("pvalue_at_floor"):
            b_done = round(1.0 / best["pvalue_floor"]) - 1  # replicates that refitted
            sentence = (
                f"{head}, but its bootstrap KS test rejects it (KS {best['ks']:.3g}, p "
                f"{format_pvalue(best)} = 1/({b_done} + 1): rejected at the resolution of "
                f"{b_done} replicates, the smallest p they can give): no family "
                "fits, so the paper's claim is not supported here."
            )
        elif rejected:
            sentence = (
                f"{head}, but its bootstrap KS test rejects it (KS {best['ks']:.3g}, p = "
                f"{best['pvalue']:.3g}): no family fits, so the paper's claim is not supported "
                "here."
            )
        elif holds:
            how = "clearly" if ratio >= 1.5 else ("only marginally" if ratio < 1.2 else "")
            sentence = f"{head}: the paper's claim holds{' ' + how if how else ''}."
        else:
            sentence = f"{head}: the paper's claim does not hold."
        sentence += _details(res)
        out[name] = {
            "best": best["family"],
            "best_w1": best["w1"],
            "best_pvalue": best["pvalue"],
            "best_rejected": rejected,
            "best_pvalue_floor": best.get("pvalue_floor"),
            "best_pvalue_at_floor": bool(best.get("pvalue_at_floor")),
            "classic_w1": min(classic) if classic else None,
            "classic_over_best": ratio,
            "claim_holds": holds,
            "sentence": sentence,
        }
    return out
