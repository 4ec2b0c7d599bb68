"""Tiny settings of every reproduction, for the kill -9 tests (``test_fault_injection_reproduce``).

:func:`killed_child` runs reproduction ``NAME`` on its tiny settings with
``hessrmt.runfolder.folder.FAULT_ENV`` set, so that the process SIGKILLs itself at a chosen point
inside :mod:`hessrmt.runfolder` (the tests start it from a preloaded fork server, which saves the
import of torch per kill). Each setting keeps at least two checkpointed steps.
"""

from __future__ import annotations

import dataclasses
import os
from pathlib import Path
from typing import Any


def _pennington_bahri(out: Path) -> Any:
    from hessrmt.experiments.pennington_bahri import config as C
    from hessrmt.experiments.pennington_bahri import pipeline

    cfg = dataclasses.replace(
        C.quick_config(0), width=3, phis=(0.5,), starts=3, variant_starts=0, min_phis=(0.5,),
        min_starts=0, max_iter=30, min_max_iter=30, stall_window=10, gd_steps_max=50,
        bootstrap=10, autoencoder=False,
    )  # fmt: skip
    return pipeline.run(cfg, out, progress=False)


def _applicability(out: Path) -> Any:
    from hessrmt.experiments.applicability import pipeline

    def create(*, quick: bool, seed: int = 0, data_root: str | None = None, **_: Any) -> Any:
        return pipeline.RunConfig(
            quick=True, seed=seed, gp_n=30, gp_size=10, decorrelation_epochs=2,
            decorrelation_directions=2, hardness_boot=10, n_null=5, n_boot=5, models=(),
        )  # fmt: skip

    saved = pipeline.RunConfig.__dict__["create"], pipeline._specs
    pipeline.RunConfig.create = staticmethod(create)  # type: ignore[method-assign]
    pipeline._specs = lambda quick: ()  # type: ignore[assignment]
    try:
        return pipeline.run_applicability(out, quick=True, threads=1, progress=False, report=False)
    finally:  # the test process runs other applicability tests afterwards
        pipeline.RunConfig.create, pipeline._specs = saved  # type: ignore[method-assign]


def _spin_glass(out: Path) -> Any:
    from hessrmt.experiments.spin_glass import pipeline

    cfg = dataclasses.replace(
        pipeline.quick_config(0), table_ps=(3,), kmax=1, curve_ps=(3,), finite_ns=(10,),
        finite_samples=20, law_specs=("semicircle",), activations=("relu",), pieces=(2,),
        descent_ns=(8,), descent_p4_ns=(6,), disorder=1, starts=2, max_steps=30,
        net_activations=("relu",), widths=(2,), runs=1, n_samples=20, train_steps=5,
    )  # fmt: skip
    return pipeline.run(cfg, out, log=None)


def _universal(out: Path) -> Any:
    from hessrmt.experiments.universal.networks import NetworkSpec
    from hessrmt.experiments.universal.pipeline import UniversalConfig, run_universal

    cfg = UniversalConfig(
        quick=True, synthetic_sizes=(60, 120), synthetic_reps=2,
        networks=(NetworkSpec("tiny", "mlp:2", epochs=1, lr=0.1, n_samples=100),),
        batch_sizes=(8, 16, 32), n_batches=2, damping_seeds=2, damping_steps=1,
    )  # fmt: skip
    return run_universal(out, config=cfg, progress=False, threads=1)


def _beyond_rmt(out: Path) -> Any:
    from hessrmt.experiments.beyond_rmt.pipeline import BeyondConfig, run_beyond_rmt

    cfg = BeyondConfig(
        law_n=100, law_n_sim=4, product_n=60, percolated_n=100, percolated_degrees=(2.0,),
        percolated_samples=1, law_degrees=(2.0,), networks=((4, 4, 2, 4),),
        fit_networks=((4, 6, 2, 10),), n_boot=3, cavity_population=100,
        cnns=(),
    )  # fmt: skip
    return run_beyond_rmt(out, progress=False, config=cfg)


def _gan(out: Path) -> Any:
    from hessrmt.experiments.gan import pipeline

    cfg = dataclasses.replace(
        pipeline.quick_config(0), n=20, n_samples=3, n_null=2, logdet_sizes=(10, 20),
        logdet_samples=3, logdet_x=(-4.0, 1.5), x_points=20, x1_points=2, u_points=10,
        sigma_grid=(1e-3, 1.0), kappa_grid=(0.3, 0.7), max_index=1,
        gan_repetitions=2, gan_epochs=1, gan_images=64, gan_features=4,
    )  # fmt: skip
    return pipeline.run(cfg, out, progress=False, threads=1)


RUNS = {
    "pennington-bahri": _pennington_bahri,
    "applicability": _applicability,
    "spin-glass": _spin_glass,
    "universal": _universal,
    "beyond-rmt": _beyond_rmt,
    "gan": _gan,
}


def run(name: str, out: str | Path) -> Any:
    """Run reproduction ``name`` on its tiny settings into ``out``."""
    return RUNS[name](Path(out))


def killed_child(name: str, out: str, point: str) -> None:
    """Run ``name`` into ``out`` in a child process that SIGKILLs itself at ``point``."""
    from hessrmt.runfolder.folder import FAULT_ENV

    os.environ[FAULT_ENV] = point
    run(name, out)


def preload() -> list[str]:
    """Modules the fork server imports once: torch, matplotlib and every module of the
    reproductions and the reports (most pipelines import their parts lazily)."""
    import pkgutil

    import hessrmt.experiments
    import hessrmt.report

    names = ["torch", "matplotlib", "matplotlib.pyplot", __name__]
    for pkg in (hessrmt.experiments, hessrmt.report):
        names += [m.name for m in pkgutil.walk_packages(pkg.__path__, pkg.__name__ + ".")]
    return names
