"""``hessrmt reproduce gan``: the theory side of Baskerville, Keating, Mezzadri & Najnudel,
"A spin-glass model for the loss surfaces of generative adversarial networks"
(arXiv 2101.02524; ``docs/reference/papers.md`` section 6, ``docs/reference/oracles.md``
section 14).

Parts (each checkpointed through :class:`hessrmt.runfolder.RunFolder`, kind ``gan``):

* ``density_checks``: the subordination density against sampled spectra for the paper's
  x1 in {1.1, 1.5, 4} (kappa = 0.9, b = 1, b1 = 0.5) and kappa = 0.5, b = b1 = 1, x1 = 0: the
  four moments (1/N-extrapolated, z-scores) and the simulated-null KS test, with the authors'
  quartic next to it (its variance and its KS p-value);
* ``logdet_checks``: Coulomb gas vs Monte-Carlo log|det(H - x)| at several N with the fitted
  a + c/N trend;
* ``thresholds``: theta_D, theta_G at p = q = 5, kappa = 0.9, sigma_z = 1 and the index
  bands (k_D, k_G) in {0..3}^2, with the Theta(u_D, u_G) map;
* ``sweeps``: theta_D, theta_G against sigma_z (logspace(-5, 2)) and against kappa in
  (0.05, 0.95) (and (p, q) variants in full mode);
* ``gan_runs``: a DCGAN-style pair (:mod:`.dcgan`) trained over the same sigma_z grid (at the
  same kappa) and kappa grid (at the same sigma_z) with repetitions; the minimum losses over
  training against theta_D and theta_G by Spearman rank correlation with a bootstrap interval.
  The paper's trend is taken to be a positive rank correlation (min L_D rising with theta_D,
  min L_G with theta_G): unverified against the paper's text; "seen" only when the whole
  95 % interval is above 0.

Quick mode runs in minutes on 2 cores; the full mode uses the issue's sizes (N = 300, 100
spectra; N = 50..400 for the log-determinant) and larger sweep grids (the paper's 2000 x 100
energy grid is available through ``hessrmt theory gan``).
"""

from __future__ import annotations

import dataclasses
import math
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from hessrmt.errors import InputError
from hessrmt.io import atomic_write_json, to_jsonable
from hessrmt.rmt.gan import checks
from hessrmt.rmt.gan import complexity as cx
from hessrmt.rmt.gan import density as gd
from hessrmt.rmt.gan.coulomb import finite_n_trend
from hessrmt.rmt.gan.model import CONVENTIONS, GanHessianModel, sample_spectra
from hessrmt.runfolder import RunFolder, declared_step_settings, limit_threads

#: The paper's spectrum cases (notebooks/rmt.ipynb) and the issue's balanced case.
CASES: dict[str, tuple[float, float, float, float]] = {
    "merged (x1 = 1.1)": (0.9, 1.0, 0.5, 1.1),
    "touching (x1 = 1.5)": (0.9, 1.0, 0.5, 1.5),
    "separate (x1 = 4)": (0.9, 1.0, 0.5, 4.0),
    "kappa = 0.5, b = b1 = 1, x1 = 0": (0.5, 1.0, 1.0, 0.0),
}


#: Fewest settings (sigma_z or kappa values) for which a trend verdict is given: with fewer,
#: Spearman's rho takes only a handful of values and its bootstrap interval is degenerate.
MIN_SETTINGS = 5


@dataclasses.dataclass(frozen=True)
class GanConfig:
    """Everything that determines the numbers (its fingerprint guards the checkpoints)."""

    mode: str
    seed: int
    n: int
    n_samples: int
    n_null: int
    logdet_sizes: tuple[int, ...]
    logdet_samples: int
    logdet_x: tuple[float, ...]
    p: int
    q: int
    kappa: float
    sigma_z: float
    x_points: int
    x1_points: int
    u_points: int
    sigma_grid: tuple[float, ...]
    kappa_grid: tuple[float, ...]
    pq_variants: tuple[tuple[int, int], ...]
    max_index: int = 3
    gan_repetitions: int = 2
    gan_epochs: int = 2
    gan_features: int = 32
    data_root: str | None = None
    gan_images: int | None = None


#: The settings each checkpointed step reads (its checkpoint is keyed by them, so that an
#: ``--overwrite`` run changing only others, e.g. more GAN repetitions, reuses it). A step
#: reads ``cfg`` only through this module's functions; ``tests/experiments/test_gan_pipeline.py``
#: checks these lists against every ``cfg.<field>`` those functions read.
STEP_SETTINGS: dict[str, tuple[str, ...]] = {
    "density_checks": ("seed", "n", "n_samples", "n_null"),
    "logdet_checks": ("seed", "logdet_sizes", "logdet_samples", "logdet_x"),
    "thresholds": ("p", "q", "kappa", "sigma_z", "x_points", "x1_points", "u_points", "max_index"),
    "sweeps": ("p", "q", "kappa", "sigma_z", "x_points", "x1_points", "sigma_grid", "kappa_grid",
               "pq_variants"),
    "gan_runs": ("seed", "data_root", "gan_epochs", "gan_features", "gan_images",
                 "gan_repetitions", "kappa", "kappa_grid", "sigma_grid", "sigma_z"),
}  # fmt: skip


def quick_config(seed: int = 0) -> GanConfig:
    return GanConfig(
        mode="quick", seed=seed, n=160, n_samples=30, n_null=30,
        logdet_sizes=(40, 80, 160), logdet_samples=30, logdet_x=(-4.0, -1.0, 1.5),
        p=5, q=5, kappa=0.9, sigma_z=1.0, x_points=300, x1_points=8, u_points=120,
        sigma_grid=tuple(np.logspace(-5, 2, 5).tolist()), kappa_grid=(0.1, 0.5, 0.9),
        pq_variants=(), gan_repetitions=3, gan_epochs=2, gan_images=512,
    )  # fmt: skip


def full_config(seed: int = 0) -> GanConfig:
    return GanConfig(
        mode="full", seed=seed, n=300, n_samples=100, n_null=100,
        logdet_sizes=(50, 100, 200, 400), logdet_samples=100,
        logdet_x=(-4.0, -2.0, -1.0, 0.0, 1.5),
        p=5, q=5, kappa=0.9, sigma_z=1.0, x_points=2000, x1_points=100, u_points=500,
        sigma_grid=tuple(np.logspace(-5, 2, 60).tolist()),
        kappa_grid=tuple(np.linspace(0.05, 0.95, 19).tolist()),
        pq_variants=((3, 3), (3, 7), (7, 3), (7, 7)), gan_repetitions=5, gan_epochs=5,
    )  # fmt: skip


def _x_grids(cfg: GanConfig) -> tuple[np.ndarray, np.ndarray]:
    return (
        np.linspace(*cx.PAPER_X[:2], cfg.x_points),
        np.linspace(*cx.PAPER_X1[:2], cfg.x1_points),
    )


def _density_checks(cfg: GanConfig) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for i, (name, params) in enumerate(CASES.items()):
        model = GanHessianModel(*params)
        seed = cfg.seed * 1000 + i
        big = sample_spectra(model, cfg.n, cfg.n_samples, rng=seed)
        half = sample_spectra(model, cfg.n // 2, cfg.n_samples, rng=seed + 500)
        mc = checks.moment_check(model.moments(), big, half)
        bounds = model.spectrum_bounds()
        ks = checks.ks_check(checks.model_cdf(model), bounds, big, half, n_null=cfg.n_null,
                             rng=seed)  # fmt: skip
        ks_rep = checks.ks_check(checks.repository_cdf(model), bounds, big, half,
                                 n_null=cfg.n_null, rng=seed)  # fmt: skip
        lo, hi = bounds
        x = np.linspace(lo - 0.3, hi + 0.3, 600)
        rep = gd.repository_density(model, x)
        h = x[1] - x[0]
        rep_mean = float(np.sum(rep * x) * h)
        out[name] = {
            "model": model.to_dict(),
            "support": [list(iv) for iv in gd.support(model)],
            "moments": dataclasses.asdict(mc),
            "ks": dataclasses.asdict(ks),
            "repository_quartic": {
                "variance": float(np.sum(rep * x * x) * h - rep_mean**2),
                "ks": dataclasses.asdict(ks_rep),
            },
            "exact_variance": model.variance(),
            "sampled_variance": float(
                np.mean(big.var(axis=1) + (big.mean(axis=1) - big.mean()) ** 2)
            ),
            "plot": {
                "x": x,
                "density": gd.density(model, x),
                "repository": rep,
                "hist": np.histogram(big.ravel(), bins=80, density=True),
            },
        }
    return out


def _logdet_checks(cfg: GanConfig) -> dict[str, Any]:
    model = GanHessianModel(*CASES["touching (x1 = 1.5)"])
    trend = finite_n_trend(model, cfg.logdet_x, sizes=cfg.logdet_sizes,
                           n_samples=cfg.logdet_samples, rng=cfg.seed + 77)  # fmt: skip
    return {"model": model.to_dict(), **dataclasses.asdict(trend)}


def _thresholds(cfg: GanConfig, wrap: Callable | None) -> dict[str, Any]:
    c = cx.GanConstants.of(cfg.p, cfg.q, cfg.sigma_z, cfg.kappa)
    x, x1 = _x_grids(cfg)
    grid = cx.exponent_grid(c, x, x1, progress=wrap)
    td, tg = cx.thresholds(grid)
    tmap = cx.theta_map(grid, points=cfg.u_points)
    bands = []
    for kd in range(cfg.max_index + 1):
        for kg in range(cfg.max_index + 1):
            d, g = cx.thresholds(grid, grid.index_values(kd, kg))
            bands.append({"k_D": kd, "k_G": kg, "theta_D": d, "theta_G": g})
    return {
        "p": cfg.p, "q": cfg.q, "kappa": cfg.kappa, "sigma_z": cfg.sigma_z,
        "theta_D": td, "theta_G": tg,
        "theta_D_at_grid_edge": bool(np.isclose(td, c.d_of(x[-1], x1[-1]))),
        "theta_G_at_grid_edge": bool(np.isclose(tg, c.g_of(x[0]))),
        "constants": dataclasses.asdict(c), "bands": bands,
        "map": {"u_d": tmap.u_d, "u_g": tmap.u_g, "theta": np.where(
            np.isfinite(tmap.theta), tmap.theta, np.nan)},
    }  # fmt: skip


def _gan_runs(cfg: GanConfig, wrap: Callable | None) -> dict[str, Any]:
    from hessrmt.experiments.gan.dcgan import load_images, train_gan

    images = load_images(cfg.data_root, cfg.seed, cfg.gan_images)
    plan = [("sigma_z", float(s), cfg.kappa) for s in cfg.sigma_grid]
    plan += [("kappa", cfg.sigma_z, float(k)) for k in cfg.kappa_grid]
    jobs = [(sweep, s, k, r) for sweep, s, k in plan for r in range(cfg.gan_repetitions)]
    it = jobs if wrap is None else wrap(jobs)
    runs = []
    for sweep, s, k, r in it:
        res = train_gan(images, sigma_z=s, kappa=k, seed=cfg.seed * 10_000 + r,
                        features=cfg.gan_features, epochs=cfg.gan_epochs)  # fmt: skip
        runs.append({"sweep": sweep, **dataclasses.asdict(res)})
    return {
        "data": "digits (bundled, 16 x 16)" if cfg.data_root is None else "CIFAR-10 (16 x 16)",
        "n_images": int(images.shape[0]),
        "runs": runs,
    }


def _gan_summary(cfg: GanConfig, gan: dict[str, Any], sweeps: dict[str, Any]) -> dict[str, Any]:
    from hessrmt.experiments.gan.dcgan import rank_correlation

    rng = np.random.default_rng(cfg.seed + 99)
    out: dict[str, Any] = {
        "status": "run",
        "data": gan["data"],
        "n_images": gan["n_images"],
        "epochs": cfg.gan_epochs,
        "repetitions": cfg.gan_repetitions,
        "features": cfg.gan_features,
        "runs": gan["runs"],
        "correlations": {},
    }
    key = f"p={cfg.p},q={cfg.q}"
    for sweep in ("sigma_z", "kappa"):
        th = sweeps[sweep][key]
        values = [float(v) for v in th["values"]]
        for loss, theta in (("min_loss_d", "theta_D"), ("min_loss_g", "theta_G")):
            table = np.array([[r[loss] for r in gan["runs"] if r["sweep"] == sweep
                               and np.isclose(r[sweep], v)] for v in values])  # fmt: skip
            corr = rank_correlation(np.asarray(th[theta], dtype=float), table, rng)
            if corr["rho"] is None:
                verdict = "undefined (the threshold does not vary on this grid)"
            elif corr["n_settings"] < MIN_SETTINGS:
                verdict = f"not decided (only {corr['n_settings']} settings; need {MIN_SETTINGS})"
            elif corr["low"] is not None and corr["low"] > 0:
                verdict = "seen"
            elif corr["high"] is not None and corr["high"] < 0:
                verdict = "opposite"
            else:
                verdict = "not seen (the interval contains 0)"
            edge = np.asarray(th[f"{theta}_at_grid_edge"], dtype=bool)
            if edge.any():
                verdict += f"; {int(edge.sum())} of {edge.size} thresholds on the grid edge"
            out["correlations"][f"{sweep}: {loss} vs {theta}"] = {
                **corr, "verdict": verdict, "theta": th[theta],
                "mean_loss": table.mean(axis=1).tolist(), "values": values,
            }  # fmt: skip
    return out


def _sweep_dict(s: cx.ThresholdSweep) -> dict[str, Any]:
    return {
        "parameter": s.parameter, "values": s.values, "theta_D": s.theta_d, "theta_G": s.theta_g,
        "theta_D_at_grid_edge": s.d_at_edge, "theta_G_at_grid_edge": s.g_at_edge,
    }  # fmt: skip


def _sweeps(cfg: GanConfig, wrap: Callable | None) -> dict[str, Any]:
    x, x1 = _x_grids(cfg)
    sig = np.asarray(cfg.sigma_grid)
    out: dict[str, Any] = {
        "sigma_z": {f"p={cfg.p},q={cfg.q}": _sweep_dict(cx.threshold_sweep(
            cfg.p, cfg.q, kappa=cfg.kappa, sigma_z=sig, x=x, x1=x1, progress=wrap))},
        "kappa": {f"p={cfg.p},q={cfg.q}": _sweep_dict(cx.threshold_sweep(
            cfg.p, cfg.q, kappa=np.asarray(cfg.kappa_grid), sigma_z=cfg.sigma_z, x=x, x1=x1,
            progress=wrap))},
    }  # fmt: skip
    for p, q in cfg.pq_variants:
        sweep = cx.threshold_sweep(p, q, kappa=cfg.kappa, sigma_z=sig, x=x, x1=x1, progress=wrap)
        out["sigma_z"][f"p={p},q={q}"] = _sweep_dict(sweep)
    return out


def _step(run: RunFolder, name: str, compute: Callable[[], dict[str, Any]], log: Callable) -> Any:
    t = time.perf_counter()
    _, info = run.step(name, lambda: ({}, to_jsonable(compute())))
    log(f"{name}: {'resumed from checkpoint' if name in run.resumed_steps else 'done'} "
        f"({time.perf_counter() - t:.1f} s)")  # fmt: skip
    return info


def _spearman(a: np.ndarray, b: np.ndarray) -> float | None:
    """Spearman's rho, None when fewer than 3 points or either input is constant."""
    from scipy.stats import spearmanr

    if a.size < 3 or np.ptp(a) == 0 or np.ptp(b) == 0:
        return None
    return float(spearmanr(a, b).statistic)


def summarize(cfg: GanConfig, parts: dict[str, Any], seconds: float) -> dict[str, Any]:
    """summary.json: every sentence of the report is computed from these numbers."""
    dens = {}
    for name, d in parts["density_checks"].items():
        dens[name] = {k: v for k, v in d.items() if k != "plot"}
    sweeps = parts["sweeps"]
    trends = {}
    for key, s in sweeps["sigma_z"].items():
        v = np.asarray(s["values"], dtype=float)
        td = np.asarray(s["theta_D"], dtype=float)
        tg = np.asarray(s["theta_G"], dtype=float)
        ok = np.isfinite(td) & np.isfinite(tg)
        trends[key] = {
            "spearman_theta_D_vs_sigma_z": _spearman(v[ok], td[ok]),
            "spearman_theta_G_vs_sigma_z": _spearman(v[ok], tg[ok]),
            "fraction_at_grid_edge_D": float(np.mean(s["theta_D_at_grid_edge"])),
            "fraction_at_grid_edge_G": float(np.mean(s["theta_G_at_grid_edge"])),
        }
    return {
        "mode": cfg.mode,
        "config": dataclasses.asdict(cfg),
        "conventions": CONVENTIONS,
        "density_checks": dens,
        "logdet_checks": parts["logdet_checks"],
        "thresholds": {k: v for k, v in parts["thresholds"].items() if k != "map"},
        "sweeps": {**sweeps, "trends": trends},
        "gan_runs": _gan_summary(cfg, parts["gan_runs"], sweeps),
        "seconds": seconds,
    }


def run(
    cfg: GanConfig,
    out: str | Path | None,
    *,
    overwrite: bool = False,
    progress: bool = True,
    threads: int | None = None,
    report: bool = True,
    log: Callable[[str], None] | None = None,
) -> dict[str, Any]:
    """Run (or resume) the reproduction into ``out``; returns the summary dict."""
    if cfg.n < 4 or cfg.n_samples < 2 or cfg.n_null < 1:
        raise InputError("n >= 4, n_samples >= 2 and n_null >= 1 are needed")
    if cfg.gan_repetitions < 2:
        raise InputError("gan_repetitions must be >= 2 (the interval resamples repetitions)")
    if cfg.data_root is not None and not Path(cfg.data_root).is_dir():
        from hessrmt.errors import DataError

        raise DataError(f"--data-root {cfg.data_root} is not a directory")
    if log is None:

        def log(msg: str) -> None:
            if progress:
                import sys

                print(f"[gan] {msg}", file=sys.stderr, flush=True)

    wrap = None
    if progress:
        import sys

        from tqdm.auto import tqdm

        def wrap(it: Any) -> Any:
            return tqdm(it, file=sys.stderr, leave=False)

    t0 = time.perf_counter()
    keyed = declared_step_settings(STEP_SETTINGS, cfg)
    with limit_threads(threads), RunFolder(out, kind="gan", settings=cfg, overwrite=overwrite,
                                           log=log, step_settings=keyed) as run_:  # fmt: skip
        parts = {
            "density_checks": _step(run_, "density_checks", lambda: _density_checks(cfg), log),
            "logdet_checks": _step(run_, "logdet_checks", lambda: _logdet_checks(cfg), log),
            "thresholds": _step(run_, "thresholds", lambda: _thresholds(cfg, wrap), log),
            "sweeps": _step(run_, "sweeps", lambda: _sweeps(cfg, wrap), log),
            "gan_runs": _step(run_, "gan_runs", lambda: _gan_runs(cfg, wrap), log),
        }
        summary = summarize(cfg, parts, time.perf_counter() - t0)
        with run_.finalize() as tmp:
            atomic_write_json(tmp / "summary.json", to_jsonable(summary))
            if report:
                from hessrmt.experiments.gan.report import write_gan_report

                write_gan_report(tmp / "report.html", summary, parts)
    if not math.isfinite(summary["seconds"]):  # pragma: no cover - defensive
        raise InputError("timing failed")
    return summary
