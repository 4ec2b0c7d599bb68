"""The numbers of a Pennington-Bahri run (the content of ``summary.json``), from its records.

Per search series (``critical``: the paper's loss; ``critical_wd``: the weight-decay variant):

* yield (overall and per phi, and by finder: ``lm`` = the |grad L|^2 search alone, ``lm+ef`` =
  rescued by eigenvector following, :mod:`.search`) and stop reasons;
* ``thresholds`` (paper's series) / ``thresholds_weight_decay`` (variant): one entry per phi
  from the fit alpha = c_phi (eps - eps0_phi)^gamma to the distinct kept saddles with
  0 < alpha <= ``alpha_max`` (:func:`.powerlaw.fit_power_law`; one gamma for all phi; bootstrap
  intervals), next to the paper's (1 - phi)^2 / 2 (``predicted``), the theory's eps_c(phi) and
  the F-test p-value of gamma = ``hypothesis_gamma`` (3/2); ``gamma_phi`` from that phi alone;
* the exponent shared by all phi (``exponent``), with its interval and p-value;
* the index against the theory three ways (raw energy, eps_eff, free sum of the measured H0 and
  H1; see :mod:`.search`): median ratio measured / theory and mean absolute difference;
* minimiser energies per phi, and the runaway of the plain minimisations (|theta|, saturated
  pre-activations, Hessian zero modes) against the variant's.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import numpy as np

from hessrmt.io import to_jsonable
from hessrmt.results import Metadata
from hessrmt.rmt import pennington_bahri as theory

from . import task as T
from .config import Config
from .powerlaw import PowerLawFit, fit_power_law
from .search import PointRecord, distinct_points

SERIES = {"critical": "thresholds", "critical_wd": "thresholds_weight_decay"}


def _median(values: list[float]) -> float | None:
    v = [x for x in values if x is not None and np.isfinite(x)]
    return float(np.median(v)) if v else None


def _fit_points(distinct: list[PointRecord], phi_t: float, config: Config) -> list[PointRecord]:
    return [r for r in distinct if r.phi_target == phi_t and 0 < r.index <= config.alpha_max]


def _groups(distinct: list[PointRecord], config: Config, field: str = "index") -> dict:
    return {
        phi_t: (
            np.array([r.energy for r in _fit_points(distinct, phi_t, config)]),
            np.array([getattr(r, field) for r in _fit_points(distinct, phi_t, config)]),
        )
        for phi_t in config.phis
    }


def thresholds(
    distinct: list[PointRecord],
    config: Config,
    seed_offset: int = 0,
    joint: PowerLawFit | None = None,
) -> list[dict]:
    """One entry per phi: ``eps0`` (with ``eps0_interval``) and ``gamma`` (``gamma_interval``,
    ``gamma_p_value``: F test of gamma = 3/2; ``gamma_bootstrap_p_value``: the bootstrap test dual
    to ``gamma_interval``, which decides) from the joint fit (one gamma, per-phi c and eps0: the
    paper's common 3/2 law, and the best-determined thresholds), next to (1 - phi)^2 / 2
    (``predicted``) and the theory's eps_c; ``gamma_phi`` (interval, p-value) from that phi's
    points alone."""
    if joint is None:
        joint = fit_power_law(
            _groups(distinct, config),
            bootstrap=config.bootstrap,
            seed=config.seed + 1000 * seed_offset + 99,
            test_exponent=config.hypothesis_gamma,
        )
    out = []
    for i, phi_t in enumerate(config.phis):
        pts = _fit_points(distinct, phi_t, config)
        phi = pts[0].phi if pts else phi_t
        own = fit_power_law(
            {phi_t: (np.array([r.energy for r in pts]), np.array([r.index for r in pts]))},
            bootstrap=config.bootstrap,
            seed=config.seed + 1000 * seed_offset + i,
            test_exponent=config.hypothesis_gamma,
        )
        g = joint.groups.get(str(phi_t))
        go = own.groups.get(str(phi_t))
        out.append(
            {
                "phi": phi,
                "phi_target": phi_t,
                "n_points": len(pts),
                "eps0": g.x0 if g else None,
                "eps0_interval": g.x0_interval if g else None,
                "predicted": (1 - phi) ** 2 / 2,
                "eps_c_theory": theory.critical_energy(phi),
                "gamma": joint.exponent if g else None,
                "gamma_interval": joint.exponent_interval if g else None,
                "gamma_p_value": joint.p_value if g else None,
                "gamma_bootstrap_p_value": joint.bootstrap_p_value if g else None,
                "c": g.c if g else None,
                "hypothesis_gamma": config.hypothesis_gamma,
                "gamma_phi": go.exponent if go else None,
                "gamma_phi_interval": go.exponent_interval if go else None,
                "gamma_phi_p_value": own.p_value if go else None,
                "gamma_phi_bootstrap_p_value": own.bootstrap_p_value if go else None,
                "eps0_phi": go.x0 if go else None,
                "fit": "joint: one gamma for all phi, per-phi c and eps0",
                "reason": joint.reason if g is None else None,
            }
        )
    return out


def theory_comparison(points: list[PointRecord]) -> dict[str, Any]:
    """Measured index against the theory three ways, over kept saddles with alpha > 0."""
    pts = [r for r in points if r.index > 0]
    out: dict[str, Any] = {"n_points": len(pts)}
    for name, field in (
        ("raw_energy", "alpha_theory"),
        ("eps_eff", "alpha_theory_eff"),
        ("free_sum", "alpha_free"),
    ):
        pred = [getattr(r, field) for r in pts]
        ratio = [r.index / p for r, p in zip(pts, pred) if p > 0]
        out[name] = {
            "median_ratio_measured_to_theory": _median(ratio),
            "n_theory_zero": sum(p == 0 for p in pred),
            "mean_abs_difference": float(np.mean([abs(r.index - p) for r, p in zip(pts, pred)]))
            if pts
            else None,
        }
    return out


def _series(records: list[PointRecord], kind: str, config: Config, offset: int) -> dict[str, Any]:
    rs = [r for r in records if r.search == kind]
    kept = [r for r in rs if r.accepted]
    distinct = distinct_points(kept)
    shared = fit_power_law(
        _groups(distinct, config),
        bootstrap=config.bootstrap,
        seed=config.seed + 1000 * offset + 99,
        test_exponent=config.hypothesis_gamma,
    )
    theory_groups = _groups(distinct, config, "alpha_theory")
    per_phi = []
    for phi_t in config.phis:
        rp = [r for r in rs if r.phi_target == phi_t]
        kp = [r for r in distinct if r.phi_target == phi_t]
        per_phi.append(
            {
                "phi_target": phi_t,
                "phi": rp[0].phi if rp else phi_t,
                "n_searches": len(rp),
                "n_kept": sum(r.accepted for r in rp),
                "n_kept_by_finder": {
                    f: sum(r.accepted and r.finder == f for r in rp)
                    for f in sorted({r.finder for r in rp})
                },
                "yield": sum(r.accepted for r in rp) / len(rp) if rp else None,
                "n_distinct": len(kp),
                "energy_range": [min(r.energy for r in kp), max(r.energy for r in kp)]
                if kp
                else None,
                "index_counts": sorted({r.index_count for r in kp}),
                "n_fit": len(_fit_points(distinct, phi_t, config)),
                "theory": theory_comparison(kp),
            }
        )
    return {
        "weight_decay": rs[0].weight_decay if rs else None,
        "n_searches": len(rs),
        "n_kept": len(kept),
        "n_distinct": len(distinct),
        "success_rate": len(kept) / len(rs) if rs else None,
        "n_kept_by_finder": {
            f: sum(r.finder == f for r in kept) for f in sorted({r.finder for r in rs})
        },
        "stop_reasons": {
            reason: sum(r.reason.split(":")[0] == reason for r in rs)
            for reason in sorted({r.reason.split(":")[0] for r in rs})
        },
        "per_phi": per_phi,
        "exponent": shared.to_dict(),
        "exponent_theory_at_same_energies": fit_power_law(theory_groups, bootstrap=0).to_dict(),
        "theory": theory_comparison(distinct),
        "thresholds": thresholds(distinct, config, offset, joint=shared),
        "unkept_theta_norm_median": _median([r.theta_norm for r in rs if not r.accepted]),
        "kept_theta_norm_median": _median([r.theta_norm for r in kept]),
        "unkept_saturated_median": _median([r.saturated_fraction for r in rs if not r.accepted]),
        "kept_saturated_median": _median([r.saturated_fraction for r in kept]),
    }


def minimisers(records: list[PointRecord], config: Config) -> list[dict[str, Any]]:
    """Per phi and minimisation series: energies found, the lowest reached and the runaway."""
    out = []
    for kind in ("minimum", "minimum_wd"):
        for phi_t in config.min_phis:
            rs = [r for r in records if r.search == kind and r.phi_target == phi_t]
            if not rs:
                continue
            ok = [r for r in rs if r.accepted]
            energies = [r.energy for r in ok]
            lowest = min(rs, key=lambda r: r.energy)
            out.append(
                {
                    "search": kind,
                    "weight_decay": rs[0].weight_decay,
                    "phi_target": phi_t,
                    "phi": rs[0].phi,
                    "n_searches": len(rs),
                    "n_minimisers": len(ok),
                    "energies": energies,
                    "min_energy": min(energies) if energies else None,
                    "paper_curve": (1 - rs[0].phi) ** 2 / 2,
                    "lowest_energy_reached": lowest.energy,
                    "lowest_reached_is_critical": bool(lowest.accepted),
                    "theta_norm_median": _median([r.theta_norm for r in rs]),
                    "saturated_fraction_median": _median([r.saturated_fraction for r in rs]),
                    "zero_modes_median": _median([float(r.zero_modes) for r in rs]),
                }
            )
    return out


def summarize(records: list[PointRecord], config: Config) -> dict[str, Any]:
    """The content of ``summary.json`` (before the pipeline adds ``run`` and ``autoencoder``)."""
    series = {
        kind: _series(records, kind, config, offset)
        for offset, kind in enumerate(SERIES)
        if any(r.search == kind for r in records)
    }
    main = series.get("critical") or _series([], "critical", config, 0)
    summary: dict[str, Any] = {
        "experiment": "pennington-bahri",
        "mode": "quick" if config.quick else "full",
        "config": dataclasses.asdict(config),
        "config_key": config.key(),
        "conventions": T.task_conventions()
        | {
            "theory": theory.CONVENTIONS,
            "energy": "eps = data loss L at the point (also for the weight-decay variant)",
            "index": "fraction of negative eigenvalues of the searched objective's Hessian",
            "fit": "alpha = c (eps - eps0)^gamma, least squares in log alpha, 0 < alpha <= "
            f"{config.alpha_max}; 95 % percentile bootstrap; F test of gamma = "
            f"{config.hypothesis_gamma}",
        },
        "accept_gtol": config.accept_gtol,
        "n_searches": main["n_searches"],
        "n_kept": main["n_kept"],
        "n_distinct": main["n_distinct"],
        "success_rate": main["success_rate"],
        "thresholds": main["thresholds"],
        "exponent": main["exponent"],
        "series": series,
        "minimisers": minimisers(records, config),
        "critical_points": [r.row() for r in records],
        "max_relative_h_minus_h0_h1": max(
            (r.h_minus_h0_h1 for r in records if r.accepted), default=None
        ),
        "meta": dataclasses.asdict(
            Metadata.create(seed=config.seed, dtype="float64", conventions=T.task_conventions())
        ),
    }
    if "critical_wd" in series:
        summary["thresholds_weight_decay"] = series["critical_wd"]["thresholds"]
    return to_jsonable(summary)
