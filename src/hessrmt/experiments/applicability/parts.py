"""The checkpointed parts of the applicability reproduction: computed or resumed through the run
folder (:func:`result_part`, :func:`json_part`), each keyed by the settings it reads
(:func:`step_settings_of`, the :class:`hessrmt.runfolder.RunFolder`'s ``step_settings``), so that
an ``--overwrite`` rerun with other settings keeps the parts those settings do not touch."""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import asdict
from typing import Any

from hessrmt.io import to_jsonable
from hessrmt.runfolder import RunFolder


def step_settings_of(cfg: Any, specs: Sequence[Any]) -> Callable[[str], dict[str, Any] | None]:
    """The run folder's ``step_settings`` for the run config ``cfg`` (a
    :class:`~hessrmt.experiments.applicability.pipeline.RunConfig`) and the model specs it runs
    (``selected_specs(cfg)``): each part's own settings, all it reads.

    ``hardness_*``: the seed and ``hardness_boot``; ``gp_toy``: the seed, ``gp_n``, ``gp_size``;
    ``decorrelation``: the seed and its epochs and directions; ``rank_check_at3``: the seed;
    ``model_<key>``: the seed, ``data_root`` and that model's spec as run (after the batch cap);
    ``stats_<key>``: those of ``model_<key>`` (it uses its result) and ``n_null``, ``n_boot``.
    So an ``--overwrite`` rerun that only changes the bootstrap sizes, or selects other models,
    keeps every part it does not change. Any other name reads everything (None).
    """
    by_key = {spec.key: asdict(spec) for spec in specs}
    seed = {"seed": cfg.seed}
    fixed: dict[str, dict[str, Any]] = {
        "hardness_loss": {**seed, "hardness_boot": cfg.hardness_boot},
        "hardness_error": {**seed, "hardness_boot": cfg.hardness_boot},
        "gp_toy": {**seed, "gp_n": cfg.gp_n, "gp_size": cfg.gp_size},
        "decorrelation": {
            **seed,
            "decorrelation_epochs": cfg.decorrelation_epochs,
            "decorrelation_directions": cfg.decorrelation_directions,
        },
        "rank_check_at3": seed,
    }

    def own(name: str) -> dict[str, Any] | None:
        if name in fixed:
            return fixed[name]
        for prefix in ("model_", "stats_"):
            key = name.removeprefix(prefix)
            if name.startswith(prefix) and key in by_key:
                out = {**seed, "data_root": cfg.data_root, "spec": by_key[key]}
                if prefix == "stats_":
                    out.update(n_null=cfg.n_null, n_boot=cfg.n_boot)
                return out
        return None

    return own


def _logged(name: str, run: RunFolder, compute: Any, log: Any) -> Any:
    """``compute()`` with a one-line log: resumed from the checkpoint, or done in how long."""
    t = time.perf_counter()
    out = compute()
    if name in run.resumed_steps:
        log(f"{name}: resumed from checkpoint")
    else:
        log(f"{name}: done in {time.perf_counter() - t:.1f} s")
    return out


def result_part(run: RunFolder, name: str, cls: type, compute: Any, log: Any) -> Any:
    """A Result part through the run folder's checkpoints, with a one-line log."""
    return _logged(name, run, lambda: run.result(name, cls, compute), log)


def json_part(run: RunFolder, name: str, compute: Any, log: Any) -> dict[str, Any]:
    """A JSON-only part (a dict) through the run folder's checkpoints."""
    return _logged(name, run, lambda: run.step(name, lambda: ({}, to_jsonable(compute())))[1], log)
