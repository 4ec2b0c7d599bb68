"""``hessrmt theory gan``: the GAN spin glass of Baskerville, Keating, Mezzadri & Najnudel
(arXiv 2101.02524), registered by :mod:`hessrmt.cli.theory`.

Two modes, chosen by the options given:

* density: ``hessrmt theory gan --kappa K --b B --b1 B1 --x1 X1 [--json] [--plot F]``: the
  subordination density of H = b M + [[b1 M1 - x1 I, 0], [0, 0]] (``grid``, ``density``,
  ``support``, ``atoms``, exact moments, and the authors' quartic next to it with its
  discrepancy); kappa in [0, 1] (the ends are the closed-form semicircle limits);
* complexity: ``hessrmt theory gan --p P --q Q --kappa K --sigma-z S [--json] [--plot F]``:
  the exponent f(x, x1) on the authors' grid (or ``--x-points``/``--x1-points``), Theta(u_D, u_G)
  and the thresholds ``theta_D``, ``theta_G``; kappa in (0, 1), sigma_z > 0, p, q >= 2.

Bad input is an :class:`~hessrmt.errors.InputError` (one line, exit status 2).
"""

from __future__ import annotations

import argparse
import io
import json
import math
import sys
from pathlib import Path
from typing import Any

import numpy as np

from hessrmt.errors import InputError


def _number(text: str) -> float:
    try:
        value = float(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(f"expected a number, got {text!r}") from exc
    if not math.isfinite(value):
        raise argparse.ArgumentTypeError(f"expected a finite number, got {text!r}")
    return value


def _integer(text: str) -> int:
    try:
        return int(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(f"expected an integer, got {text!r}") from exc


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--kappa", type=_number, required=True, help="discriminator share")
    parser.add_argument("--b", type=_number, help="density mode: full-rank GOE coefficient")
    parser.add_argument("--b1", type=_number, help="density mode: block GOE coefficient")
    parser.add_argument("--x1", type=_number, help="density mode: block shift")
    parser.add_argument("--p", type=_integer, help="complexity mode: discriminator order >= 2")
    parser.add_argument("--q", type=_integer, help="complexity mode: generator order >= 2")
    parser.add_argument("--sigma-z", type=_number, help="complexity mode: latent noise > 0")
    parser.add_argument("--grid", type=int, default=801, help="density grid points (801)")
    parser.add_argument("--x-points", type=int, default=2000, help="x grid (2000, as the paper)")
    parser.add_argument("--x1-points", type=int, default=100, help="x1 grid (100, as the paper)")
    parser.add_argument("--u-points", type=int, default=500, help="(u_D, u_G) grid (500)")
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    parser.add_argument("--plot", metavar="FILE", help="draw into FILE (png, pdf, svg)")
    parser.set_defaults(handler=run)


def _save_figure(fig: Any, path: str) -> None:
    from hessrmt.io import atomic_write_bytes

    fmt = Path(path).suffix.lstrip(".").lower() or "png"
    buf = io.BytesIO()
    fig.savefig(buf, format=fmt, bbox_inches="tight")
    atomic_write_bytes(Path(path), buf.getvalue())


def _check_plot(path: str | None) -> None:
    if path is None:
        return
    fmt = Path(path).suffix.lstrip(".").lower()
    if fmt not in ("png", "pdf", "svg"):
        raise InputError(f"--plot {path}: unsupported file type {fmt!r}; use .png, .pdf or .svg")


def density_summary(kappa: float, b: float, b1: float, x1: float, grid: int) -> dict[str, Any]:
    """Everything the density mode prints (also used by the reproduction's report)."""
    from hessrmt.rmt.gan import density as gd
    from hessrmt.rmt.gan.model import CONVENTIONS, GanHessianModel

    if grid < 3:
        raise InputError(f"--grid must be at least 3, got {grid}")
    model = GanHessianModel(kappa, b, b1, x1)
    ivs = gd.support(model)
    lo, hi = model.spectrum_bounds()
    pad = 0.05 * max(hi - lo, 1e-12)
    x = np.linspace(lo - pad, hi + pad, grid)
    rho = gd.density(model, x)
    nodes, weights = gd.quadrature(model, ivs)
    atoms = gd.atoms(model)
    mass = float(weights.sum()) + sum(m for _, m in atoms)
    moments = [
        float(np.sum(weights * nodes**k) + sum(m * loc**k for loc, m in atoms))
        for k in (1, 2, 3, 4)
    ]
    out: dict[str, Any] = {
        "model": model.to_dict(),
        "grid": x,
        "density": rho,
        "support": [list(iv) for iv in ivs],
        "atoms": [list(a) for a in atoms],
        "mass": mass,
        "moments": moments,
        "exact_moments": model.moments().tolist(),
        "variance": model.variance(),
        "conventions": CONVENTIONS,
    }
    if b > 0 and 0 < kappa < 1:
        rep = gd.repository_density(model, x)
        h = x[1] - x[0]
        rep_mass = float(np.sum(rep) * h)
        rep_mean = float(np.sum(rep * x) * h / rep_mass)
        out["repository_quartic"] = {
            "density": rep,
            "mass": rep_mass,
            "variance": float(np.sum(rep * x * x) * h / rep_mass - rep_mean**2),
            "max_density_difference": float(np.max(np.abs(rep - rho))),
            "note": "the authors' rmt/spectrum.py quartic; it does not match their own sampler "
            "(docs/reference/papers.md section 6.2)",
        }
    return out


def _plot_density(s: dict[str, Any], path: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6, 4))
    try:
        ax.plot(s["grid"], s["density"], lw=1.5, label="subordination (matches sampling)")
        if "repository_quartic" in s:
            ax.plot(
                s["grid"], s["repository_quartic"]["density"], "--", lw=1, label="authors' quartic"
            )
        for loc, mass in s["atoms"]:
            ax.axvline(loc, color="C2", lw=2, label=f"atom {mass:.3g} at {loc:g}")
        m = s["model"]
        ax.set_title(
            f"GAN Hessian: kappa={m['kappa']:g}, b={m['b']:g}, b1={m['b1']:g}, x1={m['x1']:g}"
        )
        ax.set_xlabel("eigenvalue")
        ax.set_ylabel("density")
        ax.legend()
        _save_figure(fig, path)
    finally:
        plt.close(fig)


def complexity_summary(
    p: int, q: int, kappa: float, sigma_z: float, x_points: int, x1_points: int, u_points: int,
    progress: bool = True,
) -> tuple[dict[str, Any], Any, Any]:  # fmt: skip
    """Thresholds and Theta map (also used by the reproduction)."""
    from hessrmt.rmt.gan import complexity as cx

    for name, val, least in (("--x-points", x_points, 2), ("--x1-points", x1_points, 2),
                             ("--u-points", u_points, 2)):  # fmt: skip
        if val < least:
            raise InputError(f"{name} must be at least {least}, got {val}")
    c = cx.GanConstants.of(p, q, sigma_z, kappa)
    x = np.linspace(*cx.PAPER_X[:2], x_points)
    x1 = np.linspace(*cx.PAPER_X1[:2], x1_points)
    wrap = None
    if progress:
        from tqdm.auto import tqdm

        def wrap(it: Any) -> Any:
            return tqdm(it, desc="exponent f(x, x1)", unit="x1", file=sys.stderr, leave=False)

    grid = cx.exponent_grid(c, x, x1, progress=wrap)
    theta_d, theta_g = cx.thresholds(grid)
    tmap = cx.theta_map(grid, points=u_points)
    f = grid.values
    summary = {
        "theta_D": theta_d,
        "theta_G": theta_g,
        "theta_D_at_grid_edge": bool(
            math.isfinite(theta_d) and np.isclose(theta_d, float(c.d_of(x[-1], x1[-1])))
        ),
        "theta_G_at_grid_edge": bool(math.isfinite(theta_g) and np.isclose(theta_g, c.g_of(x[0]))),
        "max_exponent": float(f.max()),
        "constants": {k: v for k, v in c.__dict__.items()},
        "grid": {
            "x": [float(x[0]), float(x[-1]), x_points],
            "x1": [float(x1[0]), float(x1[-1]), x1_points],
            "u_points": u_points,
        },
        "conventions": {
            "theta": "Theta(u_D, u_G) = max f(x, x1) over {x < (p+q) 2^(p+q) u_G, "
            "x1 > R x - p u_D}; theta_D, theta_G = least u_D, u_G with Theta > 0 on the grid",
            "log_det": "Coulomb gas: int log|l - x| dmu_x1(l), subordination density",
        },
    }
    return summary, grid, tmap


def _plot_complexity(summary: dict[str, Any], tmap: Any, path: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6, 5))
    try:
        t = np.where(np.isfinite(tmap.theta), tmap.theta, np.nan)
        cs = ax.contourf(tmap.u_d, tmap.u_g, t, levels=30)
        fig.colorbar(cs, ax=ax, label="Theta(u_D, u_G)")
        if np.nanmax(t) > 0 > np.nanmin(t):
            ax.contour(tmap.u_d, tmap.u_g, t, levels=[0.0], colors="w")
        ax.axvline(summary["theta_D"], color="r", lw=1, label=f"theta_D = {summary['theta_D']:.4g}")
        ax.axhline(summary["theta_G"], color="m", lw=1, label=f"theta_G = {summary['theta_G']:.4g}")
        ax.set_xlabel("u_D")
        ax.set_ylabel("u_G")
        ax.legend(loc="lower right")
        _save_figure(fig, path)
    finally:
        plt.close(fig)


def run(args: argparse.Namespace) -> int:
    from hessrmt.io import to_jsonable

    density_mode = any(v is not None for v in (args.b, args.b1, args.x1))
    complexity_mode = any(v is not None for v in (args.p, args.q, args.sigma_z))
    if density_mode == complexity_mode:
        raise InputError(
            "give either --b, --b1, --x1 (density of the Hessian model) or --p, --q, --sigma-z "
            "(complexity and thresholds), with --kappa"
        )
    _check_plot(args.plot)
    if density_mode:
        missing = [
            n for n, v in (("--b", args.b), ("--b1", args.b1), ("--x1", args.x1)) if v is None
        ]
        if missing:
            raise InputError(f"density mode needs {', '.join(missing)}")
        s = density_summary(args.kappa, args.b, args.b1, args.x1, args.grid)
        if args.plot:
            _plot_density(s, args.plot)
        if args.json:
            sys.stdout.write(json.dumps(to_jsonable(s)) + "\n")
            return 0
        sup = ", ".join(f"[{a:.6g}, {b:.6g}]" for a, b in s["support"]) or "none"
        atoms = ", ".join(f"{m:.6g} at {x:.6g}" for x, m in s["atoms"]) or "none"
        lines = [
            "GAN Hessian model H = b M + [[b1 M1 - x1 I, 0], [0, 0]] (subordination density)",
            f"support    {sup}",
            f"atoms      {atoms}",
            f"mass       {s['mass']:.10f}",
            f"mean, var  {s['moments'][0]:.6g}, {s['moments'][1] - s['moments'][0] ** 2:.6g} "
            f"(exact {s['exact_moments'][0]:.6g}, {s['variance']:.6g})",
        ]
        if "repository_quartic" in s:
            lines.append(f"authors' quartic variance {s['repository_quartic']['variance']:.6g} "
                         "(does not match the sampler)")  # fmt: skip
        sys.stdout.write("\n".join(lines) + "\n")
        return 0
    missing = [
        n for n, v in (("--p", args.p), ("--q", args.q), ("--sigma-z", args.sigma_z)) if v is None
    ]
    if missing:
        raise InputError(f"complexity mode needs {', '.join(missing)}")
    summary, _, tmap = complexity_summary(
        args.p, args.q, args.kappa, args.sigma_z, args.x_points, args.x1_points, args.u_points
    )
    if args.plot:
        _plot_complexity(summary, tmap, args.plot)
        summary["plot"] = args.plot
    if args.json:
        sys.stdout.write(json.dumps(to_jsonable(summary)) + "\n")
        return 0
    edge = " (at the grid edge)"
    sys.stdout.write(
        f"theta_D  {summary['theta_D']:.6g}{edge if summary['theta_D_at_grid_edge'] else ''}\n"
        f"theta_G  {summary['theta_G']:.6g}{edge if summary['theta_G_at_grid_edge'] else ''}\n"
        f"max f    {summary['max_exponent']:.6g}\n"
    )
    return 0
