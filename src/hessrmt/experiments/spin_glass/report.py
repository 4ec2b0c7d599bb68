"""Figures and ``report.html`` of the spin-glass reproduction; every sentence from the numbers."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import numpy as np

from hessrmt.io import atomic_write_bytes
from hessrmt.report.html import Section, Table, figure_to_png, write_report

__all__ = ["write_outputs"]


def _fmt(x: Any, nd: int = 4) -> str:
    if x is None or (isinstance(x, float) and not math.isfinite(x)):
        return "none"
    return f"{x:.{nd}f}" if isinstance(x, float) else str(x)


def _fig_abc(summary: dict, arrays: dict):
    import matplotlib.pyplot as plt

    ps = summary["config"]["curve_ps"]
    fig, axes = plt.subplots(1, len(ps), figsize=(5 * len(ps), 3.6), squeeze=False)
    for ax, p in zip(axes[0], ps, strict=True):
        u = arrays[f"abc/u_p{p}"]
        for k, color in ((0, "C0"), (1, "C3")):
            ax.plot(u, arrays[f"abc/theta_p{p}_k{k}"], color=color, lw=2, label=f"Theta_{k},{p}")
            for n in summary["config"]["finite_ns"]:
                ax.plot(u, arrays[f"abc/theta_N_p{p}_k{k}_N{n}"], color=color, lw=0.8,
                        alpha=0.3 + 0.7 * n / max(summary["config"]["finite_ns"]))  # fmt: skip
        ax.axhline(0, color="k", lw=0.5)
        ax.set_title(f"p = {p}: finite-N Kac-Rice (thin, N = {summary['config']['finite_ns']})")
        ax.set_xlabel("u")
        ax.legend(fontsize=7)
    fig.tight_layout()
    return fig


def _fig_descent(summary: dict, arrays: dict):
    import matplotlib.pyplot as plt

    d = summary["pspin_descent"]
    fig, ax = plt.subplots(figsize=(6, 3.6))
    for row in d["per_N"]:
        e = arrays[f"descent/energy_N{row['N']}"]
        ax.hist(e, bins=30, alpha=0.5, label=f"N = {row['N']}")
    ax.axvline(-d["E_0"], color="k", ls="-", lw=1, label="-E_0")
    ax.axvline(-d["E_inf"], color="k", ls="--", lw=1, label="-E_inf")
    ax.set_xlabel("stopping energy per site")
    ax.legend(fontsize=7)
    fig.tight_layout()
    return fig


def _fig_networks(summary: dict, arrays: dict):
    import matplotlib.pyplot as plt

    acts = summary["config"]["net_activations"]
    fig, axes = plt.subplots(1, len(acts), figsize=(3.2 * len(acts), 3), squeeze=False)
    for ax, act in zip(axes[0], acts, strict=True):
        for w in summary["config"]["widths"]:
            ax.hist(np.log10(arrays[f"networks/loss_{act}_w{w}"] + 1e-12), bins=15, alpha=0.5,
                    label=f"w = {w}")  # fmt: skip
        ax.set_title(act)
        ax.set_xlabel("log10 final training loss")
        ax.legend(fontsize=7)
    fig.tight_layout()
    return fig


def write_outputs(tmp: Path, summary: dict, arrays: dict) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figs = {"abc_finite_n": _fig_abc, "pspin_descent": _fig_descent, "networks": _fig_networks}
    (tmp / "figures").mkdir(exist_ok=True)
    pngs = {}
    for name, make in figs.items():
        fig = make(summary, arrays)
        try:
            pngs[name] = figure_to_png(fig)
        finally:
            plt.close(fig)
        atomic_write_bytes(tmp / "figures" / f"{name}.png", pngs[name])
    write_report(tmp / "report.html", "Spin-glass complexity of loss surfaces",
                 _sections(summary, pngs), meta={"config": summary["config"],
                 "conventions": summary["conventions"], "versions": summary["versions"]},
                 subtitle=f"hessrmt reproduce spin-glass ({summary['mode']})")  # fmt: skip


def _descent_text(d: dict) -> str:
    return "".join(
        f"<p>p = {d['p']}, N = {r['N']} ({r['runs']} descents, {r['converged_fraction']:.0%} "
        f"converged): mean stopping energy {_fmt(r['energy_mean'])} ± {_fmt(r['energy_stderr'])}; "
        f"fraction below -E_0 = {_fmt(-d['E_0'])}: {_fmt(r['below_minus_E0']['fraction'], 3)} ± "
        f"{_fmt(r['below_minus_E0']['stderr'], 3)}; within {d['band']} of -E_inf = "
        f"{_fmt(-d['E_inf'])}: {_fmt(r['within_band_of_minus_E_inf']['fraction'], 3)} ± "
        f"{_fmt(r['within_band_of_minus_E_inf']['stderr'], 3)}; index counts "
        f"{r['index_counts']}.</p>"
        for r in d["per_N"]
    )


def _sections(s: dict, pngs: dict) -> list[Section]:
    a = s["abc"]
    tab = Table("ABC thresholds (closed form + Brent)", ["p", "E_inf", *[f"E_{k}" for k in
                range(s["config"]["kmax"] + 1)]],
                [[p, _fmt(v["E_inf"], 5), *[_fmt(e, 5) for e in v["E"]]]
                 for p, v in a["E_table"].items()])  # fmt: skip
    rate_rows = []
    for c in a["finite_N"]["curves"]:
        for j, u in enumerate(c["u"]):
            errs = [row[j] for row in c["error_at_u"]]
            rate_rows.append([c["p"], c["k"], u, ", ".join(_fmt(e, 4) for e in errs),
                              _fmt(c["rate_exponent"][j], 2)])  # fmt: skip
    rates = [r[4] for r in rate_rows]
    abc_text = (
        f"<p>Finite-N Kac-Rice (ABC's identity, {a['finite_N']['samples']} GOE spectra per N) "
        f"against Theta_k,p: fitted exponents of |Theta_N - Theta| in N: {', '.join(rates)} "
        "(one per row below).</p>"
    )
    laws = s["laws"]
    law_rows = [[r["law"], _fmt(r["right_edge_standardised"]), _fmt(r["abc"]["E_inf"]),
                 ", ".join(_fmt(e) for e in r["abc"]["E"]), r["abc"]["verdict"],
                 ", ".join(_fmt(e) for e in r["total"]["E"]), r["total"]["verdict"]]
                for r in laws["laws"]]  # fmt: skip
    act = s["activations"]
    act_rows = [
        [r["activation"], r["pieces"], _fmt(r["s_bar"]), _fmt(r["c_bar"]), _fmt(r["theta"]),
         ", ".join(_fmt(e) for e in r["E"])]
        for r in act["rows"]
    ]  # fmt: skip
    d = s["pspin_descent"]
    d_text = _descent_text(d) + "".join(_descent_text(o) for o in d.get("other_p", []))
    n = s["networks"]
    net_rows = [[r["activation"], r["width"], r["n_params"], _fmt(r["loss_mean"]),
                 _fmt(r["loss_stderr"]), _fmt(r["loss_std"]), _fmt(r["index_fraction_mean"])]
                for r in n["rows"]]  # fmt: skip
    narrow = "; ".join(
        f"{k}: std {_fmt(v['std_small'])} (w = {v['width_small']}) -> {_fmt(v['std_large'])} "
        f"(w = {v['width_large']}), {'narrows' if v['narrows'] else 'does not narrow'}"
        for k, v in n["narrowing"].items()
    )
    return [
        Section("ABC complexity and finite-N Kac-Rice", abc_text,
                figures=[("Theta_k,p(u) and finite-N estimates", pngs["abc_finite_n"])],
                tables=[tab, Table("Convergence", ["p", "k", "u", "Theta_N - Theta per N",
                                                   "exponent"], rate_rows)]),
        Section("Bands for other limiting laws",
                "<p>Laws standardised to mean 0, variance 1; edge rate: edge-matched GOE "
                "approximation (docs/reference/spin-glass.md).</p>",
                tables=[Table(f"p = {laws['p']}", ["law", "right edge", "E_inf", "E (ABC C)",
                              "verdict", "E (total held)", "verdict"], law_rows)]),
        Section("General activations (GOE + theta e e^T)", f"<p>{act['leading_complexity']}.</p>",
                tables=[Table(f"p = {act['p']}", ["activation", "pieces", "s_bar", "c_bar",
                              "theta", "E_0..E_K"], act_rows)]),
        Section(f"Gradient descent on the {d['p']}-spin", d_text,
                figures=[("stopping energies", pngs["pspin_descent"])]),
        Section("Networks per activation and width", f"<p>{n['setup']}. Loss band: {narrow}.</p>",
                figures=[("final training losses", pngs["networks"])],
                tables=[Table("trainings", ["activation", "width", "P", "mean loss", "se",
                              "std", "mean index fraction"], net_rows)]),
    ]  # fmt: skip
