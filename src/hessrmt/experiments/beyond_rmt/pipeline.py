"""``hessrmt reproduce beyond-rmt``: limiting laws checked against sampling, family fits of
network Hessian spectra, the atom at zero against rank theory, and a verdict per network
(Granziol, arXiv 2006.07721; ``docs/reference/papers.md`` §3; issue 13).

Steps (each checkpointed by :class:`hessrmt.runfolder.RunFolder`, kind ``beyond-rmt``):

* ``laws``: for each law, one sampled matrix spectrum of size N: KS distance and simulated-null
  p-value (:func:`hessrmt.rmt.goodness.ks_pvalue_simulated`), measured zero fraction vs the law's
  atom.
* ``atoms_ensemble``: Wishart-product zero counts vs n - min(N_i) (exact), percolated Wigner
  zero fractions vs Bordenave-Lelarge-Salez, and percolated Wishart zero fractions (exact ranks
  by maximum matching, float64 thresholds, graphs with 10^5 rows) vs the bipartite matching
  formula (:mod:`hessrmt.rmt.atoms`).
* ``atoms_network``: exact float64 Hessian and Gauss-Newton zero fractions of ReLU MLPs over a
  grid of widths, input sizes and sample counts vs the derived rank bounds
  (:mod:`.network_atoms`).
* ``fits``: every family fitted (:func:`hessrmt.rmt.family_fit.fit_families`) to the exact
  float64 Hessian spectrum of each network: small ReLU MLPs on Gaussian inputs with random labels
  at initialisation (no BatchNorm), and small VGG-style (with / without BatchNorm) and
  pre-activation ResNet-style CNNs trained on the bundled digits, Hessian over the whole training
  set in batches of 128 with BatchNorm in train mode (:mod:`.cnn_spectra`). Outliers are kept
  apart (``fit_families(..., outliers="remove")``) and listed. Three fits per network: W1 with
  the atom matched to the measured zero fraction (the ranking), W1 with each family's own atom,
  and the moment fits (for comparison); p-values from the refitting parametric bootstrap
  (:mod:`hessrmt.rmt.family_w1`). For the CNNs, Granziol's single-probe 100-step Lanczos density
  and 10-probe SLQ are compared with the exact spectrum by W1 (:mod:`.lanczos_compare`).

The verdict per network: the best family by W1 and the ratio of the best semicircle / MP W1 to
it; the paper's claim ("semicircle and MP do not fit; products / percolated ensembles fit
better") is said to hold on a network when the best family is neither semicircle nor MP.
"""

from __future__ import annotations

import dataclasses
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from hessrmt.io import atomic_write_json, atomic_write_text, to_jsonable
from hessrmt.runfolder import RunFolder, declared_step_settings, limit_threads

from .report import beyond_report
from .verdict import _details, _verdict  # noqa: F401  (_details: old import path)

__all__ = ["BeyondConfig", "run_beyond_rmt"]


@dataclass(frozen=True)
class BeyondConfig:
    """Everything that determines the numbers (fingerprinted for resumption)."""

    seed: int = 0
    law_n: int = 1500
    law_n_sim: int = 100
    product_n: int = 600
    percolated_n: int = 2000
    percolated_degrees: tuple[float, ...] = (1.0, 2.0, 4.0, 8.0)
    percolated_samples: int = 3
    law_degrees: tuple[float, ...] = (2.0, 4.0, 8.0)
    # percolated Wishart (phi, c): laws against one sampled W of size law_n; atoms at p rows
    law_wishart: tuple[tuple[float, float], ...] = ((0.5, 2.0), (1.0, 4.0))
    wishart_atom_p: int = 1000
    wishart_atom_cases: tuple[tuple[float, float], ...] = (
        (0.5, 1.0),
        (0.5, 2.0),
        (1.0, 2.0),
        (1.0, 5.0),
        (2.0, 3.0),
    )
    networks: tuple[tuple[int, int, int, int], ...] = (
        (10, 8, 3, 4),
        (10, 8, 3, 60),
        (20, 16, 5, 8),
        (5, 30, 4, 16),
        (30, 20, 10, 3),
        (20, 20, 10, 40),
    )
    fit_networks: tuple[tuple[int, int, int, int], ...] = ((20, 20, 10, 40), (8, 30, 4, 64))
    # 100 refitting replicates: p floor 1/101 = 0.0099; measured 0.02-0.2 s of CPU per replicate per
    # network for all families (quick-run spectra, P = 212-464), so about +1-2 min over 50
    n_boot: int = 100
    cavity_population: int = 2000
    cnns: tuple[str, ...] = ("vgg-small", "vgg-small-bn", "preresnet-small")
    cnn_width: int = 4
    cnn_samples: int = 600
    cnn_epochs: int = 20
    lanczos_steps: int = 100
    lanczos_probes: int = 10
    lanczos_repeats: int = 5
    families: tuple[str, ...] = ()  # families fitted to the networks; () = DEFAULT_FAMILIES
    # opt-in families fitted too when ``families`` is () (the quick run leaves them out: cost)
    extra_families: tuple[str, ...] = ("percolated-wishart",)
    data_root: str | None = None  # folder with CIFAR-10 (cifar-10-batches-bin or -py)
    # the CIFAR sets found under data_root (cifar10, cifar100: fine labels), set by run_beyond_rmt
    cifar_sets: tuple[str, ...] = ("cifar10",)
    cifar_width: int = 1
    cifar_samples: int = 400
    version: int = 4


def quick_config(seed: int = 0) -> BeyondConfig:
    return BeyondConfig(
        seed=seed,
        law_n=500,
        law_n_sim=40,
        product_n=300,
        percolated_n=600,
        percolated_degrees=(1.0, 2.0, 4.0),
        percolated_samples=2,
        law_degrees=(2.0, 4.0),
        law_wishart=((0.5, 2.0),),
        wishart_atom_p=300,
        wishart_atom_cases=((0.5, 2.0), (1.0, 5.0), (2.0, 3.0)),
        extra_families=(),
        networks=((10, 8, 3, 4), (10, 8, 3, 60), (5, 30, 4, 16)),
        fit_networks=((8, 16, 4, 40),),
        n_boot=20,
        cavity_population=600,
        cnns=("vgg-small-bn", "preresnet-small"),
        cnn_width=2,
        cnn_samples=300,
        cnn_epochs=5,
    )


#: The settings each checkpointed step reads (``_<step>_step(cfg)`` and the functions it calls;
#: its checkpoint is keyed by them, so that an ``--overwrite`` run changing only others, e.g.
#: more bootstrap replicates for the fits, reuses the rest). Checked against the code by
#: ``tests/experiments/test_beyond_rmt_pipeline.py``.
STEP_SETTINGS: dict[str, tuple[str, ...]] = {
    "laws": ("seed", "law_n", "law_n_sim", "law_degrees", "law_wishart", "cavity_population"),
    "atoms_ensemble": ("seed", "product_n", "percolated_n", "percolated_degrees",
                       "percolated_samples", "wishart_atom_p", "wishart_atom_cases"),
    "atoms_network": ("seed", "networks"),
    "fits": ("seed", "fit_networks", "n_boot", "families", "extra_families", "cnns", "cnn_width",
             "cnn_samples", "cnn_epochs", "lanczos_steps", "lanczos_probes", "lanczos_repeats",
             "data_root", "cifar_sets", "cifar_samples", "cifar_width"),
}  # fmt: skip


def _laws_step(cfg: BeyondConfig) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
    from hessrmt.rmt import ensembles as E
    from hessrmt.rmt.goodness import ks_pvalue_simulated, zero_fraction
    from hessrmt.rmt.percolation import PercolatedWigner
    from hessrmt.rmt.percolation_wishart import PercolatedWishart
    from hessrmt.rmt.products import WignerWishartProduct, wishart_product_from_dims

    n = cfg.law_n
    rng = np.random.default_rng(cfg.seed)
    cases = [
        (
            "wishart-product",
            {"dims": [n, n // 2, 2 * n]},
            lambda: E.product_wishart((n, n // 2, 2 * n), rng=rng),
            wishart_product_from_dims((n, n // 2, 2 * n)),
        ),
        (
            "wigner-wishart-product",
            {"n": n, "m": n // 2},
            lambda: E.wigner_wishart_product(n, n // 2, rng=rng),
            WignerWishartProduct(2.0),
        ),
    ]
    for c in cfg.law_degrees:
        law = PercolatedWigner(c, population=cfg.cavity_population, rng=cfg.seed)
        cases.append(
            (
                f"percolated-wigner-c{c:g}",
                {"n": n, "c": c},
                lambda c=c: E.percolated_wigner(n, c / n, rng=rng),
                law,
            )
        )
    for phi, c in cfg.law_wishart:
        law = PercolatedWishart(phi, c, population=cfg.cavity_population, rng=cfg.seed)
        m = max(1, round(n / phi))
        cases.append(
            (
                f"percolated-wishart-phi{phi:g}-c{c:g}",
                {"p": n, "n": m, "c": c},
                lambda c=c, m=m: E.percolated_wishart(n, m, c / m, rng=rng),
                law,
            )
        )
    out = []
    for name, setup, sample, law in cases:
        eigs = np.linalg.eigvalsh(sample())
        ks, p = ks_pvalue_simulated(eigs, law, n_sim=cfg.law_n_sim, rng=rng)
        atom = float(sum(m for a, m in law.atoms() if a == 0.0))
        out.append(
            {
                "law": name,
                "setup": setup,
                "conventions": law.conventions(),
                "ks": ks,
                "pvalue": p,
                "zero_fraction": zero_fraction(eigs),
                "atom": atom,
                "consistent": bool(p > 0.05),
            }
        )
    return {}, {"laws": out}


def _atoms_ensemble_step(cfg: BeyondConfig) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
    from hessrmt.rmt.atoms import (
        percolated_atom_grid,
        percolated_wishart_atom_grid,
        product_atom_grid,
    )

    n = cfg.product_n
    inner = [
        (n // 4, 2 * n),
        (n // 2, 2 * n),
        (3 * n // 4, n),
        (2 * n, n // 3),
        (n, n // 2, n // 5),
    ]
    inner += [(n, 2 * n)]
    prod = product_atom_grid(n, inner, rng=cfg.seed)
    perc = percolated_atom_grid(
        cfg.percolated_n, cfg.percolated_degrees, samples=cfg.percolated_samples, rng=cfg.seed + 1
    )
    wish = percolated_wishart_atom_grid(
        cfg.wishart_atom_p,
        cfg.wishart_atom_cases,
        samples=cfg.percolated_samples,
        rng=cfg.seed + 2,
    )
    return {}, {"products": prod, "percolated": perc, "percolated_wishart": wish}


def _atoms_network_step(cfg: BeyondConfig) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
    from .network_atoms import MLPCase, network_atom_row

    rows = [network_atom_row(MLPCase(*case, seed=cfg.seed)) for case in cfg.networks]
    return {}, {"networks": rows}


def _fit_network(eigs: np.ndarray, cfg: BeyondConfig) -> dict[str, Any]:
    """W1 fits with the atom matched to the measured zero fraction (the ranking used by the
    verdict), W1 fits with each family's own atom, and the moment fits (no bootstrap) for
    comparison; outliers kept apart in all three."""
    from hessrmt.rmt.family_fit import DEFAULT_FAMILIES, fit_families
    from hessrmt.rmt.goodness import zero_fraction

    fams = list(cfg.families) or [*DEFAULT_FAMILIES, *cfg.extra_families]
    res = fit_families(eigs, fams, n_boot=cfg.n_boot, rng=cfg.seed, outliers="remove")
    own = fit_families(
        eigs, fams, n_boot=cfg.n_boot, rng=cfg.seed, outliers="remove", atom="family"
    )
    mom = fit_families(eigs, fams, n_boot=0, rng=cfg.seed, outliers="remove", method="moments")
    res["family_atom"] = {k: own[k] for k in ("families", "best", "skipped")}
    res["moments"] = {
        f["family"]: {"w1": f["w1"], "atom_at_zero": f["atom_at_zero"], "params": f["params"]}
        for f in mom["families"]
    }
    res["zero_fraction"] = zero_fraction(eigs)
    from .layered import layered_bands

    res["layered"] = layered_bands(eigs, [f["family"] for f in res["families"]])
    return res


def cnn_cases(cfg: BeyondConfig) -> list[tuple[str, str, int, int]]:
    """(architecture, data set, width, samples) of every CNN: each of ``cfg.cnns`` on the
    bundled digits, and on each of ``cfg.cifar_sets`` as well when ``cfg.data_root`` is given (its
    files must be there: a missing file is a DataError naming it)."""
    cases = [(a, "digits", cfg.cnn_width, cfg.cnn_samples) for a in cfg.cnns]
    if cfg.data_root is not None:
        for ds in cfg.cifar_sets:
            cases += [(a, ds, cfg.cifar_width, cfg.cifar_samples) for a in cfg.cnns]
    return cases


def cifar_sets_under(root: str | Path) -> tuple[str, ...]:
    """The CIFAR sets whose folders are under ``root`` ("cifar10": cifar-10-batches-bin / -py or
    their files in ``root``; "cifar100": cifar-100-python / -binary or their files), each loaded
    once now so that a damaged file fails before the run (DataError naming it); none found is a
    DataError naming what was looked for."""
    from hessrmt.data.cifar100 import find_cifar100
    from hessrmt.data.datasets import load_dataset
    from hessrmt.errors import DataError

    rootp = Path(root)
    has10 = any(
        (rootp / name).exists()
        for name in (
            "cifar-10-batches-bin",
            "cifar-10-batches-py",
            "data_batch_1",
            "data_batch_1.bin",
        )
    )
    sets = (("cifar10",) if has10 else ()) + (("cifar100",) if find_cifar100(rootp) else ())
    if not sets:
        raise DataError(
            f"no CIFAR-10 (cifar-10-batches-bin or cifar-10-batches-py) or CIFAR-100 "
            f"(cifar-100-python or cifar-100-binary) under {rootp}; point --data-root at the "
            "folder holding them (nothing is downloaded)"
        )
    for ds in sets:
        load_dataset(ds, root=rootp)
    return sets


def _fits_step(cfg: BeyondConfig) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
    from .network_atoms import MLPCase, gauss_newton_and_hessian

    arrays: dict[str, np.ndarray] = {}
    fits = {}
    for case_t in cfg.fit_networks:
        case = MLPCase(*case_t, seed=cfg.seed)
        name = f"mlp-d{case.d}-h{case.h}-C{case.classes}-b{case.samples}"
        eigs = np.linalg.eigvalsh(gauss_newton_and_hessian(case)["hessian"])
        arrays[name] = eigs
        res = _fit_network(eigs, cfg)
        res["network"] = dataclasses.asdict(case)
        res["n_params"] = case.n_params
        fits[name] = res
    if cfg.cnns:
        from .cnn_spectra import cnn_hessian_spectrum

        for arch, dataset, width, n_samples in cnn_cases(cfg):
            eigs, meta = cnn_hessian_spectrum(
                arch,
                width=width,
                n_samples=n_samples,
                epochs=cfg.cnn_epochs,
                seed=cfg.seed,
                dataset=dataset,
                root=cfg.data_root,
                lanczos={
                    "steps": cfg.lanczos_steps,
                    "probes": cfg.lanczos_probes,
                    "repeats": cfg.lanczos_repeats,
                },
            )
            name = f"{arch}-w{width}-{dataset}"
            arrays[name] = eigs
            res = _fit_network(eigs, cfg)
            res["network"] = meta
            res["n_params"] = meta["n_params"]
            fits[name] = res
    return arrays, {"fits": fits}


def run_beyond_rmt(
    out: str | Path | None,
    *,
    quick: bool = False,
    seed: int = 0,
    threads: int | None = None,
    overwrite: bool = False,
    progress: bool = True,
    config: BeyondConfig | None = None,
    data_root: str | Path | None = None,
) -> dict[str, Any]:
    """Run the reproduction into ``out`` (a run folder); returns the summary dict.
    ``data_root``: a folder with CIFAR-10 (binary or python batches) and/or CIFAR-100 (python
    or binary; fine labels): the CNNs are also trained and analysed on each set found
    (``cifar_width``, ``cifar_samples`` of the configuration)."""
    import sys

    cfg = config or (quick_config(seed) if quick else BeyondConfig(seed=seed))
    if data_root is not None:
        from hessrmt.validation import existing_dir

        root = existing_dir(data_root, "--data-root")
        sets = cifar_sets_under(root)  # fail now (DataError) rather than mid-run
        cfg = dataclasses.replace(cfg, data_root=str(root.resolve()), cifar_sets=sets)

    def log(msg: str) -> None:
        if progress:
            sys.stderr.write(f"beyond-rmt: {msg}\n")

    t0 = time.perf_counter()
    steps = [
        ("laws", _laws_step),
        ("atoms_ensemble", _atoms_ensemble_step),
        ("atoms_network", _atoms_network_step),
        ("fits", _fits_step),
    ]
    with (
        limit_threads(threads),
        RunFolder(
            out,
            kind="beyond-rmt",
            settings=cfg,
            overwrite=overwrite,
            log=log,
            step_settings=declared_step_settings(STEP_SETTINGS, cfg),
        ) as run,
    ):
        infos: dict[str, Any] = {}
        arrays: dict[str, np.ndarray] = {}
        for name, fn in _progress(steps, progress):
            arr, info = run.step(name, lambda fn=fn: fn(cfg))
            infos.update(info)
            arrays.update(arr)
        summary = {
            "paper": "Granziol, Beyond random matrix theory for deep networks, arXiv 2006.07721",
            "quick": quick,
            "seed": seed,
            "config": dataclasses.asdict(cfg),
            "laws": infos["laws"],
            "atoms": {
                "products": infos["products"],
                "percolated": infos["percolated"],
                "percolated_wishart": infos["percolated_wishart"],
                "networks": infos["networks"],
            },
            "fits": infos["fits"],
            "verdict": _verdict(infos["fits"]),
            "resumed_steps": list(run.resumed_steps),
            "computed_steps": list(run.computed_steps),
            "duration_s": time.perf_counter() - t0,
            "conventions": {
                "loss": "mean cross-entropy over b samples",
                "batchnorm": "none (MLPs); train mode, batch statistics per batch of 128 (CNNs)",
                "precision": "float64, exact dense Hessians",
                "zero_threshold": "|l| < 1e-9 max(1, max|l|)",
            },
        }
        with run.finalize() as tmp:
            atomic_write_json(tmp / "summary.json", to_jsonable(summary))
            atomic_write_text(tmp / "report.md", beyond_report(summary))
            np.savez(tmp / "spectra.npz", **arrays)
            from .layered import layered_figure

            layered_figure(
                {k: v["layered"] for k, v in summary["fits"].items() if "layered" in v},
                tmp / "layered.png",
            )
    return summary


def _progress(items: list[Any], enabled: bool) -> Any:
    if not enabled:
        return items
    from tqdm.auto import tqdm

    return tqdm(items, desc="beyond-rmt", unit="step")
