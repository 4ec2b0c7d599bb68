"""``hessrmt theory spin-glass``: ABC complexity of the spherical p-spin, for any law.

Prints E_inf and the thresholds E_0..E_K (``--k K``, default 5), Theta_k(-E_inf) and whether the
layered structure survives; with ``--u U`` also Theta_{k}(U) for k = 0..K and the total Theta(U).
``--law L`` replaces the semicircle (see :mod:`hessrmt.rmt.complexity.catalogue`); the default is
ABC exactly (closed forms). ``--json`` prints one object with at least ``p``, ``E_inf`` and
``E`` = [E_0, ..., E_K]. Bad input (p < 2, k < 0, a law without a right edge, u outside the
supported range) is an InputError: one line, exit status 2.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
from pathlib import Path
from typing import Any

from hessrmt.errors import InputError

HELP = (
    "Kac-Rice complexity of the spherical p-spin (Auffinger, Ben Arous & Cerny 2013): "
    "E_inf, bands E_k, Theta_k(u), with any limiting law"
)


def _number(text: str) -> float:
    try:
        return float(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(f"expected a number, got {text!r}") from exc


def _integer(text: str) -> int:
    try:
        return int(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(f"expected an integer, got {text!r}") from exc


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--p", type=_number, required=True, help="spin order p >= 2")
    parser.add_argument("--k", type=_integer, default=5, help="largest index K (default 5)")
    parser.add_argument("--u", type=_number, help="energy per site u at which to print Theta")
    parser.add_argument(
        "--law",
        default="semicircle",
        help="Hessian law: semicircle (ABC, default), mp:PHI, uniform, sc+mp:PHI, product:PHI",
    )
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    parser.add_argument("--plot", metavar="FILE", help="draw Theta_k(u) into FILE (png/pdf/svg)")
    parser.set_defaults(handler=run)


def evaluate(p: float, k: int, u: float | None, law: str) -> dict[str, Any]:
    """Everything the command prints, as a JSON-able dict."""
    from hessrmt.rmt.complexity import abc
    from hessrmt.rmt.complexity.general import U_LIMIT, law_bands, law_theta_k, law_theta_total

    p = abc.check_p(p)
    k = abc.check_k(k)
    if u is not None and (not math.isfinite(u) or abs(u) > U_LIMIT):
        raise InputError(
            f"--u {u!r} is beyond the supported energy range [-{U_LIMIT:g}, {U_LIMIT:g}]"
        )
    out: dict[str, Any] = {"p": p, "k": k, "law": law}
    if law.strip().lower() == "semicircle":
        es = abc.thresholds(p, k)
        e_inf = abc.e_inf(p)
        at = [float(abc.theta_k(-e_inf, p, j)) for j in range(k + 1)]
        out.update(
            E_inf=e_inf, E=[float(e) for e in es], theta_at_threshold=at,
            layered=[bool(t > 0) for t in at], method="closed form (ABC)",
        )  # fmt: skip
        if u is not None:
            out["u"] = u
            out["theta_k"] = [float(abc.theta_k(u, p, j)) for j in range(k + 1)]
            out["theta_total"] = float(abc.theta_total(u, p))
        theta = lambda v, j: float(abc.theta_k(v, p, j))  # noqa: E731
    else:
        from hessrmt.rmt.complexity.catalogue import named_law
        from hessrmt.rmt.complexity.coulomb import CoulombGas

        gas = CoulombGas(named_law(law))
        bands = law_bands(p, k, gas)
        out.update(bands.to_dict())
        out["method"] = "Coulomb gas (log-potential by quadrature), edge-matched GOE rate"
        out["conventions"] = gas.conventions()
        if u is not None:
            out["u"] = u
            out["theta_k"] = [law_theta_k(u, p, j, gas) for j in range(k + 1)]
            out["theta_total"] = law_theta_total(u, p, gas)
        theta = lambda v, j: law_theta_k(v, p, j, gas)  # noqa: E731
    out["conventions_energy"] = (
        "H_N on the sphere of radius sqrt(N), E[H(s)H(s')] = N (s.s'/N)^p; u = energy per site; "
        "Theta = lim N^-1 ln E Crt"
    )
    out["_theta"] = theta
    return out


def _plot(res: dict[str, Any], path: str) -> None:
    import io

    import matplotlib
    import numpy as np

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from hessrmt.io import atomic_write_bytes

    fmt = Path(path).suffix.lstrip(".").lower() or "png"
    if fmt not in ("png", "pdf", "svg"):
        raise InputError(f"--plot {path}: unsupported file type {fmt!r}; use .png, .pdf or .svg")
    finite = [e for e in res["E"] if math.isfinite(e)] or [res["E_inf"]]
    lo, hi = -max(finite) - 0.15, -res["E_inf"] + 0.1
    grid = np.linspace(lo, hi, 120)
    fig, ax = plt.subplots(figsize=(6, 4))
    try:
        for j in range(res["k"] + 1):
            ax.plot(grid, [res["_theta"](v, j) for v in grid], lw=1.2, label=f"k = {j}")
        ax.axhline(0.0, color="k", lw=0.5)
        ax.axvline(-res["E_inf"], color="C7", ls="--", lw=0.8, label="-E_inf")
        ax.set_xlabel("energy per site u")
        ax.set_ylabel("Theta_k(u)")
        ax.set_title(f"spherical {res['p']}-spin, law {res['law']}")
        ax.legend(fontsize=7)
        buf = io.BytesIO()
        fig.savefig(buf, format=fmt, bbox_inches="tight")
        atomic_write_bytes(Path(path), buf.getvalue())
    finally:
        plt.close(fig)


def run(args: argparse.Namespace) -> int:
    res = evaluate(args.p, args.k, args.u, args.law)
    if args.plot:
        _plot(res, args.plot)
        res["plot"] = str(args.plot)
    res.pop("_theta")
    if args.json:
        from hessrmt.io import to_jsonable

        sys.stdout.write(json.dumps(to_jsonable(res), indent=2) + "\n")
        return 0

    def f(x: float) -> str:
        return f"{x:.6f}" if math.isfinite(x) else "none (Theta_k < 0 everywhere)"

    lines = [
        f"spherical {res['p']}-spin glass, Hessian law {res['law']} ({res['method']})",
        f"E_inf      {f(res['E_inf'])}",
    ]
    for j, e in enumerate(res["E"]):
        lines.append(
            f"E_{j:<8} {f(e)}   Theta_{j}(-E_inf) = {res['theta_at_threshold'][j]:.6f}"
            f"   layered: {'yes' if res['layered'][j] else 'no'}"
        )
    if "u" in res:
        lines.append(f"u          {res['u']:g}")
        for j, t in enumerate(res["theta_k"]):
            lines.append(f"Theta_{j}(u)  {t:.6f}")
        lines.append(f"Theta(u)   {res['theta_total']:.6f}  (all indices)")
    if args.plot:
        lines.append(f"plot       {args.plot}")
    sys.stdout.write("\n".join(lines) + "\n")
    return 0
