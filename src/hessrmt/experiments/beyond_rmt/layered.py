"""Layered critical points with the fitted limiting laws (issue 13, item 5; Granziol, arXiv
2006.07721, ``docs/reference/papers.md`` §3: the Auffinger-Ben Arous-Cerny band structure of the
spherical p-spin depends on the exact limiting density of the Hessian).

For each network the families fitted by W1 (atom matched to the measured zero fraction, outliers
kept apart; :mod:`hessrmt.rmt.family_w1`) give laws mu; :func:`hessrmt.rmt.complexity.general.
law_bands` computes, with mu in place of the semicircle (standardised to mean 0, variance 1), the
threshold E_inf(mu) and the band edges E_0(mu)..E_K(mu) (NaN: no index-k critical points at
exponential scale). The layered structure survives for index k when E_k > E_inf, i.e.
Theta_k(-E_inf) > 0. ABC's values (semicircle) are given alongside. The percolated Wigner law has
unbounded support (its table covers a finite window), hence no right edge: it is listed as not
computed rather than given the window's edge.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from hessrmt.errors import ConvergenceError, InputError

__all__ = ["layered_bands", "layered_figure"]


def layered_bands(
    eigs: np.ndarray, families: list[str], *, p: int = 3, kmax: int = 3
) -> dict[str, Any]:
    """Bands of the p-spin complexity with each family's W1-fitted law of ``eigs``."""
    from hessrmt.rmt.bulk import split_spectrum
    from hessrmt.rmt.complexity.coulomb import CoulombGas
    from hessrmt.rmt.complexity.general import law_bands
    from hessrmt.rmt.family_fit import _clean
    from hessrmt.rmt.family_w1 import fit_w1
    from hessrmt.rmt.laws import Semicircle

    x = _clean(eigs)
    x = _clean(x[~split_spectrum(x, dtype="float64").outlier_mask])
    out: dict[str, Any] = {
        "p": p,
        "kmax": kmax,
        "abc": law_bands(p, kmax, CoulombGas(Semicircle(1.0))).to_dict(),
        "laws": {},
        "conventions": "W1-fitted laws (atom matched, outliers removed), standardised to mean "
        "0 and variance 1; ABC normalisation of the complexity",
    }
    for fam in families:
        if fam in ("percolated-wigner", "percolated-wishart"):  # no right edge (table window)
            out["laws"][fam] = {
                "error": "unbounded support (super-exponential tails, tabulated on a finite "
                "window): no right edge, so no threshold"
            }
            continue
        try:
            _, law = fit_w1(fam, x, "matched")
            out["laws"][fam] = law_bands(p, kmax, CoulombGas(law)).to_dict()
        except (InputError, ConvergenceError, ValueError) as exc:
            out["laws"][fam] = {"error": str(exc)}
    return out


def layered_figure(bands: dict[str, dict[str, Any]], path: Path) -> bool:
    """E_k against k for each network's laws (one panel per network), E_inf dashed; False when
    matplotlib is not installed (the ``report`` extra)."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return False
    names = list(bands)
    fig, axes = plt.subplots(1, len(names), figsize=(4.2 * len(names), 3.4), squeeze=False)
    for ax, name in zip(axes[0], names, strict=True):
        rec = bands[name]
        curves = {"semicircle (ABC)": rec["abc"], **rec["laws"]}
        for i, (label, b) in enumerate(curves.items()):
            if "E" not in b:
                continue
            color = f"C{i}"
            ks = np.arange(len(b["E"]))
            ax.plot(ks, np.array(b["E"], dtype=float), "o-", color=color, label=label)
            ax.axhline(b["E_inf"], color=color, ls="--", lw=0.8)
        ax.set_title(name, fontsize=9)
        ax.set_xlabel("index k")
        ax.set_ylabel("band edge E_k (dashed: E_inf)")
        ax.legend(fontsize=6)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return True
