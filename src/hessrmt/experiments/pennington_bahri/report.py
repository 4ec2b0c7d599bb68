"""The Pennington-Bahri HTML report: figures, tables and the statements of :mod:`.conclusions`.

Fixed text here only describes methods and definitions; every statement about the results comes
from :func:`.conclusions.conclusions` (computed from ``summary.json``'s numbers).
"""

from __future__ import annotations

import html
from pathlib import Path
from typing import Any

from .conclusions import conclusions
from .search import PointRecord


def _p(sentences: list[str]) -> str:
    return "".join(f"<p>{html.escape(s)}</p>" for s in sentences)


def _interval(iv: Any) -> str:
    return "n/a" if not iv else f"[{iv[0]:.4g}, {iv[1]:.4g}]"


def threshold_rows(entries: list[dict[str, Any]], label: str) -> list[list[Any]]:
    """Rows of the thresholds table (one per phi)."""
    return [
        [
            label,
            t["phi"],
            t["n_points"],
            t["eps0"],
            _interval(t["eps0_interval"]),
            t["predicted"],
            t["eps_c_theory"],
            t["gamma"],
            _interval(t["gamma_interval"]),
            t.get("gamma_bootstrap_p_value"),
            t["gamma_p_value"],
            t["gamma_phi"],
            _interval(t["gamma_phi_interval"]),
        ]
        for t in entries
    ]


POINT_COLUMNS = [
    "search", "phi", "energy", "index", "|grad|", "Newton step", "|theta|", "eps_eff",
    "theory(eps)", "theory(eps_eff)", "free sum",
]  # fmt: skip


def point_rows(records: list[PointRecord]) -> list[list[Any]]:
    """Rows of the kept-points table."""
    fields = (
        "search phi energy index grad_norm newton_step theta_norm eps_eff alpha_theory "
        "alpha_theory_eff alpha_free"
    ).split()
    return [[getattr(r, f) for f in fields] for r in records if r.accepted and r.is_critical_search]


def write(
    path: Path,
    figs: dict[str, Any],
    summary: dict[str, Any],
    records: list[PointRecord],
) -> Path:
    """Write ``report.html`` to ``path`` (atomically)."""
    from hessrmt.report.html import Section, Table, write_report

    c = conclusions(summary)
    cfg = summary["config"]
    rows = threshold_rows(summary["thresholds"], "L (paper)")
    if "thresholds_weight_decay" in summary:
        rows += threshold_rows(
            summary["thresholds_weight_decay"], f"L + {cfg['variant_weight_decay']:g}/2 |theta|^2"
        )
    columns = [
        "loss searched", "phi", "saddles fitted", "eps0", "eps0 95 % CI", "(1 - phi)^2 / 2",
        "theory eps_c", "gamma (all phi)", "gamma 95 % CI",
        f"bootstrap p (gamma = {cfg['hypothesis_gamma']:g})",
        f"F test p (gamma = {cfg['hypothesis_gamma']:g})", "gamma (this phi alone)", "its 95 % CI",
    ]  # fmt: skip
    method = (
        "<p>Method: single-hidden-layer tanh network (width = input = output = "
        f"{cfg['width']}, no biases), Gaussian inputs and targets, phi = P / (m n_out); "
        "critical points by Levenberg-Marquardt minimisation of |grad L|^2 with exact float64 "
        f"Hessians from random starts after a random number of gradient-descent steps; a point "
        f"is kept when |grad| &le; {cfg['accept_gtol']:g}, its Newton step &le; "
        f"{cfg['accept_xtol']:g} and H has no exact zero mode. Fit: alpha = c (eps - eps0)^gamma "
        f"(one gamma, per-phi c and eps0; also per phi alone) on distinct saddles with 0 &lt; "
        f"alpha &le; {cfg['alpha_max']:g} (least squares "
        "in log alpha; 95 % percentile bootstrap intervals; the hypothesised gamma tested by the "
        "bootstrap test dual to that interval, which decides, and by the F test, which assumes "
        "independent, equal-variance scatter in log alpha). "
        "The weight-decay variant searches L + (lam/2)|theta|^2 (a different landscape: "
        "labelled separately, its energy is still L).</p>"
    )
    sections = [
        Section(
            "Findings: thresholds and exponents",
            html=method + _p(c["thresholds"]) + _p(c["exponent"]),
            tables=[Table("Index threshold eps0 and exponent gamma per phi", columns, rows)],
        ),
        Section(
            "Index against energy",
            html=_p(c["yield"]) + _p(c["theory"]),
            figures=[
                ("alpha vs eps: theory (lines), critical points, fits", figs["index_vs_energy"])
            ],
            tables=[Table("Kept critical points", POINT_COLUMNS, point_rows(records))],
        ),
        Section(
            "Minimisers and the runaway of minimisation",
            html=_p(c["minimisers"]) + _p(c["runaway"]),
            figures=[("Minimiser energy against phi", figs["minimiser_energy"])],
        ),
        Section(
            "Theory: density of H0 + H1",
            html="<p>H0 Marchenko-Pastur (ratio phi, mean 1) free-plus a semicircle of variance "
            "2 eps (H1); density from the cubic 2 eps phi G^3 - (2 eps + z phi) G^2 + "
            "(z - 1 + phi) G - 1 = 0 (docs/reference/papers.md section 4.2).</p>",
            figures=[("Theoretical densities for phi in {1/4, 1/2, 3/4}", figs["densities"])],
        ),
    ]
    if "spectra" in figs:
        sections.append(
            Section(
                "Spectra of H0 and H1 at a critical point of the tanh network",
                figures=[("H0 vs MP, H1 vs semicircle, H vs the H0 + H1 theory", figs["spectra"])],
            )
        )
    if "autoencoder" in c:
        sections.append(
            Section(
                "ReLU autoencoder: H0 and H1 spectra",
                html=_p(c["autoencoder"]),
                figures=[("H0 vs Marchenko-Pastur, H1 vs semicircle", figs["autoencoder"])],
            )
        )
    return write_report(
        path,
        "Pennington & Bahri (ICML 2017): Hessians at critical points",
        sections,
        meta={
            "config": summary["config"],
            "conventions": summary["conventions"],
            "run": summary.get("run", {}),
        },
    )
