"""How long a Pennington-Bahri run takes: a model from micro-benchmarks before the run, and a
calibration on the run's own first searches.

* :func:`estimate_seconds` (before any search): the measured cost of one finder iteration
  (closed-form Hessian, eigendecomposition, two gradients) and of one gradient-descent step at
  each phi, times :data:`MEAN_SEARCH_ITERATIONS` + :data:`MEAN_RESCUE_ITERATIONS` for
  critical-point searches (``min_max_iter`` + 50 for minimisations) and the mean of the
  log-uniform number of descent steps, plus :data:`SEARCH_OVERHEAD_SECONDS`.
* :func:`calibration_order` puts the first ``k`` searches of every (kind, phi) group at the head
  of the plan, and :func:`estimate_from_records` multiplies the mean measured duration of each
  group's finished searches by the group's remaining count. Searches are seeded, so the
  calibration searches are ordinary searches of the run (checkpointed, not repeated).
"""

from __future__ import annotations

import math
import time
from collections import defaultdict
from collections.abc import Iterable

import numpy as np
import torch

from . import task as T
from .config import Config, planned_searches

#: Mean finder iterations per critical-point search (measured: 97 in the quick run, where most
#: searches stall after ``stall_window`` = 40 steps without progress; 73 for the successful ones).
MEAN_SEARCH_ITERATIONS = 100
#: Mean eigenvector-following iterations per critical-point search that the |grad L|^2 search
#: leaves unconverged (most walks run to the 150-step limit or leave the |theta| bound; 60
#: width-5 searches at phi = 50/65 took 14.0 s of CPU with the rescue against 0.116 s each
#: without, i.e. about as many iterations again).
MEAN_RESCUE_ITERATIONS = 100
#: Fixed cost per search in seconds (start, checkpoint, record; spectra of the few kept points):
#: the quick run took 81 s of CPU for 600 searches against 50 s from the per-iteration costs.
SEARCH_OVERHEAD_SECONDS = 0.05

Plan = list[tuple[str, float, int]]


def estimate_seconds(config: Config) -> float:
    """Expected duration of the whole plan on this machine, one thread (module docstring), in
    CPU seconds (the wall time on an idle core; measured with ``time.process_time`` so that a
    busy machine does not inflate the micro-benchmarks)."""
    from torch.func import grad, hessian

    previous_threads = torch.get_num_threads()
    torch.set_num_threads(config.threads)
    per_phi: dict[float, tuple[float, float]] = {}
    try:
        for phi in sorted(set(config.phis) | set(config.min_phis)):
            task = T.make_task(phi, width=config.width, n_in=config.n_in, n_out=config.n_out,
                               bias=config.bias, seed=config.seed)  # fmt: skip
            fun = T.flat_loss(task)
            g_fn, h_fn = (grad(fun), hessian(fun)) if task.bias else T.flat_derivatives(task)
            theta = T.initial_parameters(task, np.random.default_rng(0))
            h_fn(theta)  # warm-up (the first call pays one-off set-up costs)
            t_iter, t_grad = [], []
            for _ in range(3):
                t0 = time.process_time()
                torch.linalg.eigh(h_fn(theta))
                t1 = time.process_time()
                g_fn(theta)
                t2 = time.process_time()
                t_iter.append(t1 - t0 + 2 * (t2 - t1))
                t_grad.append(t2 - t1)
            per_phi[phi] = (min(t_iter), min(t_grad))
    finally:
        torch.set_num_threads(previous_threads)
    lo, hi = config.gd_steps_min, config.gd_steps_max
    mean_gd = (hi - lo) / math.log((1 + hi) / (1 + lo)) if hi > lo else float(hi)
    total = 0.0
    for kind, phi, _ in planned_searches(config):
        t_iter, t_grad = per_phi[phi]
        iters = config.min_max_iter + 50
        if kind.startswith("critical"):
            rescue = min(MEAN_RESCUE_ITERATIONS, config.rescue_iter)
            iters = MEAN_SEARCH_ITERATIONS + rescue
        total += t_iter * iters + t_grad * mean_gd + SEARCH_OVERHEAD_SECONDS
    return total


def calibration_order(plan: Plan, k: int) -> Plan:
    """The plan with the first ``k`` searches of every (kind, phi) group moved to the front
    (same searches, same seeds; only the order changes)."""
    seen: dict[tuple[str, float], int] = defaultdict(int)
    head, tail = [], []
    for item in plan:
        group = (item[0], item[1])
        (head if seen[group] < k else tail).append(item)
        seen[group] += 1
    return head + tail


def estimate_from_records(
    done: Iterable[tuple[str, float, float]], remaining: Plan
) -> float | None:
    """Seconds for ``remaining`` from ``done`` = (kind, phi, seconds) of finished searches:
    each group's mean duration times its remaining count (None if a group has no sample)."""
    sums: dict[tuple[str, float], list[float]] = defaultdict(list)
    for kind, phi, seconds in done:
        sums[(kind, phi)].append(seconds)
    total = 0.0
    for kind, phi, _ in remaining:
        samples = sums.get((kind, phi))
        if not samples:
            return None
        total += float(np.mean(samples))
    return total
