"""Calibrate the full-run estimate of ``hessrmt reproduce universal`` (not a test).

Times, in CPU seconds (``time.process_time``, one thread), the units of the cost model of
:mod:`hessrmt.experiments.universal.estimate`, with the full settings' code and sizes:

* one synthetic draw at N = 4000 (GOE and Wishart noise), as ``run_synthetic`` makes it;
* per full-mode network: the fixed part (training, A, its eigendecomposition), one batch's
  dense Hessian and its two eigendecompositions at the smallest and the largest batch size (their
  mean is ``per_batch``), and the network step with one batch per batch size (8 batch Hessians);
  per batch size (the free-probability predictions) = (step - fixed) / 8 - per_batch;
* damped Newton with one seed and 1 and 3 steps: per step = difference / 4 (two arms), setup
  = the rest.

Prints the units as JSON (copy them into ``UNIT_CPU_SECONDS``) and the resulting estimate of the
full settings; writes them to ``bench/results/universal_estimate.json``.

    OMP_NUM_THREADS=1 PYTHONPATH=src python bench/universal_estimate.py
"""

from __future__ import annotations

import dataclasses
import datetime
import json
import time
from pathlib import Path

import numpy as np
import torch


def cpu(fn) -> float:  # type: ignore[no-untyped-def]
    t = time.process_time()
    fn()
    return time.process_time() - t


def synthetic_draw(noise: str, n: int) -> float:
    """One draw of run_synthetic's loop body at size n."""
    from hessrmt.rmt.ensembles import goe, wishart

    gen = np.random.default_rng(0)
    thetas = np.array([4.0, 2.5, 1.6])
    deltas = np.array([2.5, 3.0, 4.0, 6.0])

    def draw() -> None:
        x = goe(n, rng=gen, variance=1.0) if noise == "goe" else wishart(n, 2 * n, rng=gen)
        h = x.copy()
        h[np.arange(3), np.arange(3)] += thetas
        ev, vec = np.linalg.eigh(h)
        for d in deltas:
            ((vec[:3, :] ** 2) / (ev + d)).sum(axis=1)

    return cpu(draw)


def per_batch_cpu(spec, full, sizes) -> float:  # type: ignore[no-untyped-def]
    """Mean CPU seconds of one dense batch Hessian and its two eigendecompositions over
    ``sizes`` (the heavy part of one batch of the network step)."""
    from hessrmt.experiments.universal.hessians import _dense_hessian, trained_network

    model, _, _, X, y, batches = trained_network(
        spec, full.batch_sizes, seed=full.seed, progress=False
    )
    A = _dense_hessian(model, batches)
    gen = np.random.default_rng(0)

    def one_batch(b: int) -> None:
        idx = torch.as_tensor(gen.choice(X.shape[0], size=b, replace=False))
        Hb = _dense_hessian(model, [(X[idx], y[idx])])
        np.linalg.eigh(Hb - A)
        np.linalg.eigh(Hb)

    return float(np.mean([cpu(lambda b=b: one_batch(b)) for b in sizes]))


def main(skip_synthetic: bool = False) -> None:
    from hessrmt.experiments.universal.damping import run_damped_newton
    from hessrmt.experiments.universal.estimate import estimate_cpu_seconds
    from hessrmt.experiments.universal.hessians import _dense_hessian, trained_network
    from hessrmt.experiments.universal.pipeline import UniversalConfig, _network_step

    torch.set_num_threads(1)
    full = UniversalConfig.create(quick=False)
    units: dict = {"synthetic_draw_ref_n": 4000, "synthetic_draw": {}}
    for noise in ("goe", "wishart") if not skip_synthetic else ():
        units["synthetic_draw"][noise] = synthetic_draw(noise, 4000)
        print(noise, units["synthetic_draw"][noise], flush=True)
    units["network_fixed"], units["network_per_batch"], units["network_per_size"] = {}, {}, {}
    extremes = (min(full.batch_sizes), max(full.batch_sizes))
    one = dataclasses.replace(full, n_batches=1)
    for spec in full.networks:

        def fixed(spec=spec) -> None:
            model, _, _, _, _, batches = trained_network(
                spec, full.batch_sizes, seed=full.seed, progress=False
            )
            np.linalg.eigh(_dense_hessian(model, batches))

        t_fixed = cpu(fixed)
        per_batch = per_batch_cpu(spec, full, extremes)
        t_step = cpu(_network_step(spec, one, False))
        n_sizes = len(full.batch_sizes)
        units["network_fixed"][spec.key] = t_fixed
        units["network_per_batch"][spec.key] = per_batch
        units["network_per_size"][spec.key] = max((t_step - t_fixed) / n_sizes - per_batch, 0.0)
        print(spec.key, t_fixed, per_batch, t_step, flush=True)
    kw = dict(batch_size=full.damping_batch, target_over_noise=full.damping_target_over_noise)
    t1 = cpu(lambda: run_damped_newton(seeds=1, steps=1, **kw))
    t3 = cpu(lambda: run_damped_newton(seeds=1, steps=3, **kw))
    units["damping_per_step"] = (t3 - t1) / 4
    units["damping_setup"] = t1 - 2 * units["damping_per_step"]
    est = estimate_cpu_seconds(full, units)
    quick = estimate_cpu_seconds(UniversalConfig.create(quick=True), units)
    doc = {
        "date": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
        "units_cpu_seconds": units,
        "full_estimate_cpu_seconds": est,
        "quick_estimate_cpu_seconds": quick,
    }
    out = Path(__file__).parent / "results" / "universal_estimate.json"
    out.parent.mkdir(exist_ok=True)
    out.write_text(json.dumps(doc, indent=2))
    print(json.dumps(doc, indent=2))


if __name__ == "__main__":
    main()
