"""Estimated CPU time of a ``hessrmt reproduce universal`` run, from calibrated unit costs.

Cost model (CPU seconds; every unit measured by ``bench/universal_estimate.py`` on the project's
2-core machine, single-threaded, and recorded in :data:`UNIT_CPU_SECONDS`):

* synthetic check, per noise: ``reps x sum_N draw(N)``, ``draw(N) = draw(N_ref) (N / N_ref)^3``
  (one draw is dominated by the eigendecomposition of an N x N matrix, O(N^3));
* dense network step: ``fixed + n_batch_sizes x (per_size + n_batches x per_batch)``
  (``fixed``: training, the full-data Hessian A and its eigendecomposition; ``per_batch``: one
  dense batch Hessian and its two eigendecompositions, the mean of the smallest and the largest
  batch size of the full settings; ``per_size``: the free-probability predictions of one batch
  size, from the full settings' step with one batch per size);
* damped Newton: ``seeds x (setup + 2 x steps x per_step)`` (two arms).

Networks without calibrated units (the image networks of ``--data-root`` / ``--mnist5k``, the
matrix-free path) are not included; :func:`estimate_cpu_seconds` names them. The model's error is
measured by applying it to the quick settings and comparing with a measured quick run
(:data:`QUICK_CHECK`): the stated range is the estimate times [1 / f, f], f that ratio's
distance from 1 plus the 10 % by which CPU times of the same work varied between runs on the
loaded machine, and at least 1.5.
"""

from __future__ import annotations

from typing import Any

#: CPU seconds of the units (bench/universal_estimate.py, 2026-12-07, the project's 2-core VM at
#: load average 8-12, one thread; docs/reproductions/universal.md "Full run"). mlp-digits'
#: per-size part came out negative (step with one batch per size minus the fixed part, divided
#: by 8, was 15.59 s against 16.16 s for one batch alone): clamped to 0.
UNIT_CPU_SECONDS: dict[str, Any] = {
    "synthetic_draw_ref_n": 4000,
    "synthetic_draw": {"goe": 13.96, "wishart": 16.09},
    "network_fixed": {"mlp12-digits": 3.08, "mlp-digits": 26.60},
    "network_per_batch": {"mlp12-digits": 0.4925, "mlp-digits": 16.16},
    "network_per_size": {"mlp12-digits": 1.643, "mlp-digits": 0.0},
    "damping_setup": 0.845,
    "damping_per_step": 0.0478,
}

#: the quick run (one thread, 2026-12-07): the CPU seconds of its four steps
#: (summary.json step_timings: 1.80 + 2.01 + 10.40 + 2.57) against the model's prediction for
#: the quick settings (:func:`estimate_cpu_seconds`; a test keeps the two in step)
QUICK_CHECK: dict[str, float] = {"measured_cpu_seconds": 16.78, "predicted_cpu_seconds": 18.49}

#: smallest factor of the stated range
MIN_FACTOR = 1.5
#: run-to-run variation of CPU time on the loaded machine: the same quick steps took up to 9 %
#: more or less CPU in two one-thread runs (synthetic GOE 1.80 s vs 1.65 s, damped Newton 2.57 s
#: vs 2.76 s)
RUN_VARIATION = 0.1


def estimate_cpu_seconds(cfg: Any, units: dict[str, Any] | None = None) -> dict[str, Any]:
    """The cost model (module docstring) for the settings ``cfg`` (a ``UniversalConfig``):
    ``{"total", "steps": {step: seconds}, "not_included": [network keys]}``."""
    u = UNIT_CPU_SECONDS if units is None else units
    steps: dict[str, float] = {}
    ref = float(u["synthetic_draw_ref_n"])
    scale = sum((n / ref) ** 3 for n in cfg.synthetic_sizes)
    for noise in ("goe", "wishart"):
        steps[f"synthetic_{noise}"] = cfg.synthetic_reps * scale * u["synthetic_draw"][noise]
    missing = []
    for spec in cfg.networks:
        if all(
            spec.key in u[k] for k in ("network_fixed", "network_per_batch", "network_per_size")
        ):
            steps[f"network_{spec.key}"] = u["network_fixed"][spec.key] + len(cfg.batch_sizes) * (
                u["network_per_size"][spec.key] + cfg.n_batches * u["network_per_batch"][spec.key]
            )
        else:
            missing.append(spec.key)
    steps["damped_newton"] = cfg.damping_seeds * (
        u["damping_setup"] + 2 * cfg.damping_steps * u["damping_per_step"]
    )
    return {"total": sum(steps.values()), "steps": steps, "not_included": missing}


def range_factor(check: dict[str, float] | None = None) -> float:
    """The factor f of the stated range [estimate / f, estimate x f] (module docstring)."""
    c = QUICK_CHECK if check is None else check
    ratio = c["measured_cpu_seconds"] / c["predicted_cpu_seconds"]
    return max(MIN_FACTOR, max(ratio, 1 / ratio) + RUN_VARIATION)


def estimate_text(cfg: Any) -> str:
    """One line for the CLI and the docs: the estimated CPU time of ``cfg``'s run (in minutes,
    or seconds below two minutes)."""
    est = estimate_cpu_seconds(cfg)
    f = range_factor()
    mid = est["total"]
    unit, div = ("s", 1.0) if mid * f < 120 else ("min", 60.0)
    lo, mid, hi = mid / f / div, mid / div, mid * f / div
    text = (
        f"estimated CPU time {mid:.0f} {unit} (range {lo:.0f}-{hi:.0f} {unit}; calibrated on the "
        "project's 2-core machine, one thread; wall time is longer on a loaded machine)"
    )
    if est["not_included"]:
        text += f", not including the networks {', '.join(est['not_included'])}"
    return text
