"""Settings of the Pennington-Bahri memorisation run, its quick and full presets and its plan.

Every field is recorded in ``summary.json``; :func:`hessrmt.runfolder.fingerprint`-style hashing
of the fields that change results (:meth:`Config.key`) ties checkpoints to the settings.

Two series of critical-point searches are made (see :mod:`.search`):

* ``critical``: the paper's method on the paper's loss L (minimise |grad L|^2), and, where that
  search stalls at a point that is not critical, eigenvector following from it towards a
  critical point of the index it reached (``rescue_iter`` steps of at most ``rescue_radius``,
  abandoned when |theta| grows by ``rescue_growth``; 0 steps = the paper's method alone);
* ``critical_wd`` (a clearly labelled variant, off when ``variant_weight_decay = 0``): the same
  method on L + (lam / 2) |theta|^2 with lam = ``variant_weight_decay``. The penalty removes the
  critical points at infinity (saturated tanh units) that end most plain searches, so many more
  searches converge; the energy of a point is still its data loss L.

and two series of minimisations (``minimum`` on L, ``minimum_wd`` on the penalised loss) at
``min_phis``, for the minimiser energy against (1 - phi)^2 / 2.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import math
from typing import Any

from hessrmt.errors import InputError

#: The search kinds, in run order.
KINDS = ("critical", "critical_wd", "minimum", "minimum_wd")


@dataclasses.dataclass(frozen=True)
class Config:
    """Settings of one run (all recorded in ``summary.json``)."""

    width: int = 16
    n_in: int | None = None
    n_out: int | None = None
    bias: bool = False
    phis: tuple[float, ...] = (0.25, 0.5, 0.75)
    starts: int = 400
    variant_weight_decay: float = 1e-3
    variant_starts: int = 200
    init_scale: tuple[float, float] = (0.5, 3.0)
    gd_steps_min: int = 10
    gd_steps_max: int = 2000
    gd_lr: float = 0.5
    min_phis: tuple[float, ...] = (0.1, 0.25, 0.5, 0.75, 0.9)
    min_starts: int = 2
    max_iter: int = 400
    stall_window: int = 40
    rescue_iter: int = 150
    rescue_radius: float = 0.1
    rescue_growth: float = 1.5
    min_max_iter: int = 400
    gtol: float = 1e-10
    accept_gtol: float = 1e-8
    accept_xtol: float = 1e-6
    alpha_max: float = 0.3
    hypothesis_gamma: float = 1.5
    bootstrap: int = 200
    autoencoder: bool = True
    seed: int = 0
    quick: bool = False
    threads: int = 1

    def key(self) -> str:
        """A hash of the settings one search reads (each search's checkpoint is tied to it, with
        its kind, phi and seed in its name): everything but :data:`NOT_READ_BY_A_SEARCH`."""
        d = dataclasses.asdict(self)
        for name in NOT_READ_BY_A_SEARCH:
            d.pop(name)
        return hashlib.sha256(json.dumps(d, sort_keys=True).encode()).hexdigest()[:16]


#: Settings no single search reads: which searches run (the plan: phis, numbers of starts), the
#: analysis of their records, the autoencoder and the presets' label (``quick`` itself; its
#: values are the other fields). Changing them (e.g. more ``--starts``) keeps every search done.
NOT_READ_BY_A_SEARCH = (
    "phis", "starts", "variant_starts", "min_phis", "min_starts", "bootstrap", "threads",
    "alpha_max", "hypothesis_gamma", "autoencoder", "quick",
)  # fmt: skip


def quick_config(seed: int = 0) -> Config:
    """A small run for tests and smoke checks: width 5 (P = 50; m = 40, 20, 13 data points, so
    the third phi is 50/65 = 0.769), the paper's three phi, many short searches. Measured on this
    machine: width 5 with ``stall_window`` 40 kept 40 of 750 plain searches, width 6 with 20
    kept 16 of 900. With the eigenvector-following rescue (issue 11) the weight-decay variant
    keeps about half of its searches, but each stalled search now also pays for a rescue
    attempt: with 150 variant starts per phi the quick run took 294 s of CPU (seed 0, loaded
    2-core machine), at the 5-minute limit, so it runs 75."""
    return Config(
        width=5,
        starts=300,
        variant_starts=75,
        min_phis=(0.25, 0.5, 0.75),
        min_starts=3,
        min_max_iter=150,
        bootstrap=100,
        seed=seed,
        quick=True,
    )


def full_config(seed: int = 0, **overrides: Any) -> Config:
    """The paper-sized run: width = n_in = n_out = 16, no biases (P = 512)."""
    return dataclasses.replace(Config(seed=seed), **overrides)


def validate(config: Config) -> None:
    """Raise :class:`InputError` naming the first bad setting."""
    if config.width < 1 or min(config.starts, config.variant_starts, config.min_starts) < 0:
        raise InputError("width must be >= 1 and the numbers of starts >= 0")
    if not (0 <= config.gd_steps_min <= config.gd_steps_max):
        raise InputError("need 0 <= gd_steps_min <= gd_steps_max")
    if not (0 < config.init_scale[0] <= config.init_scale[1]) or config.gd_lr <= 0:
        raise InputError("init_scale must be an interval of positive numbers and gd_lr > 0")
    if config.rescue_iter < 0 or not (config.rescue_radius > 0 and config.rescue_growth > 1):
        raise InputError("rescue_iter must be >= 0, rescue_radius > 0 and rescue_growth > 1")
    if config.stall_window < 1 or config.accept_xtol <= 0:
        raise InputError("stall_window must be >= 1 and accept_xtol > 0")
    for phi in (*config.phis, *config.min_phis):
        if not (math.isfinite(phi) and phi > 0):
            raise InputError(f"every phi must be positive, got {phi}")
    if not (config.accept_gtol > 0 and config.gtol > 0):
        raise InputError("gtol and accept_gtol must be positive")
    if config.max_iter < 1 or config.min_max_iter < 1:
        raise InputError("max_iter must be >= 1")
    if config.threads < 1:
        raise InputError(f"threads must be >= 1, got {config.threads}")
    if not (math.isfinite(config.variant_weight_decay) and config.variant_weight_decay >= 0):
        raise InputError(
            f"variant_weight_decay must be >= 0 (0 = no variant), got {config.variant_weight_decay}"
        )
    if not (0 < config.alpha_max <= 1):
        raise InputError(f"alpha_max must be in (0, 1], got {config.alpha_max}")


def weight_decay_of(config: Config, kind: str) -> float:
    """The penalty lam of a search kind (0 for the paper's loss)."""
    return config.variant_weight_decay if kind.endswith("_wd") else 0.0


def planned_searches(config: Config) -> list[tuple[str, float, int]]:
    """(search kind, phi, seed) of every search, in run order."""
    wd = config.variant_weight_decay > 0
    plan = [("critical", phi, s) for phi in config.phis for s in range(config.starts)]
    if wd:
        plan += [
            ("critical_wd", phi, s) for phi in config.phis for s in range(config.variant_starts)
        ]
    for kind in ("minimum", "minimum_wd") if wd else ("minimum",):
        plan += [(kind, phi, s) for phi in config.min_phis for s in range(config.min_starts)]
    return plan
