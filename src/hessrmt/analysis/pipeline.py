"""The ``hessrmt analyze`` pipeline: from a model and data to an RMT verdict and an HTML report.

Steps (each checkpointed, see :mod:`hessrmt.analysis.checkpointing`):

1. ``init``: curvature spectrum of the full-data Hessian at initialisation;
2. ``train``: training with the paper-1 SGD set-up (:func:`hessrmt.nn.train.train`), or the
   weights of ``--checkpoint``;
3. ``trained``: the full-data Hessian spectrum after training;
4. ``batch_000`` ...: Hessians of the mean loss over single batches of 64 consecutive training
   samples (Baskerville et al.), pooled for local statistics (rows of ``spectrum.npz['batch']``);
5. ``ggn`` and ``residual`` (dense: part of step ``trained``): the Gauss-Newton part
   H0 = J^T (d^2 l / d f^2) J and the residual H1 = H - H0 of the trained full-data Hessian
   (Pennington & Bahri 2017);
6. ``slq``: a stochastic Lanczos quadrature density of the trained Hessian, overlaid on the exact
   histogram as a cross-check;

then the RMT analysis of every spectrum (:mod:`hessrmt.analysis.statistics`) and the run folder:
``summary.json``, ``spectrum.npz`` (one array per spectrum: ``trained``, ``init``, ``batch``,
``ggn``, ``residual``), ``slq.npz``, ``model.pt`` (trained ``state_dict``), ``figures/*.png`` and
``report.html``. The run folder is built under a temporary sibling name and renamed into place,
so it is either complete or absent; checkpoints live in the hidden sibling ``.<name>.partial``
until the run folder exists.

With ``method="lanczos"`` (or ``auto`` above the memory-derived limit) the spectra are the
``lanczos_k`` largest and smallest eigenvalues only, the density comes from SLQ, and batch
Hessians and local statistics are skipped (recorded in ``summary.json``).
"""

from __future__ import annotations

import copy
import dataclasses
import datetime as _dt
import hashlib
import io
import os
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

from hessrmt.analysis.checkpointing import StepStore, partial_dir_for
from hessrmt.analysis.config import AnalysisConfig
from hessrmt.analysis.method import MethodChoice, choose_method
from hessrmt.errors import DataError, InputError
from hessrmt.io import atomic_directory, atomic_save_npz, atomic_write_bytes, atomic_write_json
from hessrmt.results import Metadata, Result, versions

#: Names of the spectra, in report order.
SPECTRA = ("trained", "init", "batch", "ggn", "residual")
#: Batch size of the passes over the full data (does not change the operator, only memory use).
FULL_DATA_BATCH = 256


@dataclasses.dataclass(frozen=True)
class AnalysisResult(Result):
    """What :func:`analyze` returns: the run folder, the summary and the eigenvalues.

    ``summary`` is the content of ``summary.json``; ``spectra`` maps each spectrum name to its
    eigenvalues (ascending; ``batch`` is 2-D, one row per batch).
    """

    kind = "analysis"

    out: str
    summary: dict[str, Any]
    spectra: dict[str, np.ndarray]
    meta: Metadata = dataclasses.field(default_factory=Metadata)

    def verdicts(self) -> dict[str, str | None]:
        """Verdict of the local statistics of each spectrum (None where not computed)."""
        return {name: self.summary[name].get("verdict") for name in self.summary["spectra"]}


def retain_freed_memory() -> bool:
    """Ask glibc's allocator to keep freed blocks of up to 32 MiB instead of unmapping them.

    Batched Hessian-vector products allocate and free many temporaries of a few MiB; by default
    glibc returns them to the system and faults the pages in again on the next allocation, which
    cost about a third of the CPU time of the default run in system time (measured: 3-4 ms of
    page faults per Hessian column against 0.2 ms with this setting). Sets ``M_MMAP_THRESHOLD``
    to 32 MiB and ``M_TRIM_THRESHOLD`` to 1 GiB with ``mallopt`` (process-wide; peak memory is
    unchanged). Returns whether it took effect (False off glibc).
    """
    if not sys.platform.startswith("linux"):
        return False
    try:
        import ctypes

        libc = ctypes.CDLL("libc.so.6")
        return bool(libc.mallopt(-3, 32 << 20)) and bool(libc.mallopt(-1, 1 << 30))
    except (OSError, AttributeError):
        return False


def _log(config: AnalysisConfig, message: str) -> None:
    if config.progress:
        sys.stderr.write(f"hessrmt analyze: {message}\n")
        sys.stderr.flush()


def default_out(now: _dt.datetime | None = None) -> Path:
    """``runs/<UTC timestamp>`` (second resolution)."""
    now = now or _dt.datetime.now(_dt.UTC)
    return Path("runs") / now.strftime("%Y%m%dT%H%M%SZ")


def _check_out(out: Path, overwrite: bool) -> None:
    if out.exists():
        if not out.is_dir():
            raise InputError(f"--out {out} exists and is not a folder; choose another --out")
        if any(out.iterdir()) and not overwrite:
            raise InputError(
                f"run folder {out} already exists and is not empty; choose another --out "
                "or pass --overwrite"
            )
    parent = out.parent
    try:
        parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise DataError(
            f"cannot create the parent folder of --out {out}: {exc.strerror or exc}; "
            "choose a writable --out"
        ) from exc
    probe = parent / f".{out.name}.write-test"
    try:
        probe.write_bytes(b"")
        probe.unlink()
    except OSError as exc:
        raise DataError(
            f"--out {out} is not writable ({exc.strerror or exc}); choose a writable --out"
        ) from exc


def _fingerprint(config: AnalysisConfig) -> str:
    h = hashlib.sha256(config.fingerprint().encode())
    if config.checkpoint is not None and Path(config.checkpoint).is_file():
        h.update(Path(config.checkpoint).read_bytes())
    return h.hexdigest()[:16]


def _state_arrays(model: Any) -> dict[str, np.ndarray]:
    return {k: v.detach().cpu().numpy().copy() for k, v in model.state_dict().items()}


def _load_state(model: Any, arrays: dict[str, np.ndarray]) -> None:
    import torch

    ref = model.state_dict()
    model.load_state_dict(
        {k: torch.as_tensor(arrays[k]).to(dtype=ref[k].dtype, device=ref[k].device) for k in ref}
    )


class _Context:
    """Data, model, losses and batches shared by the steps."""

    def __init__(self, config: AnalysisConfig) -> None:
        import torch

        from hessrmt.analysis.spectra import torch_dtype
        from hessrmt.data import load_dataset
        from hessrmt.nn.data import to_batches
        from hessrmt.nn.losses import default_loss_for, make_loss
        from hessrmt.nn.zoo import build_model, count_parameters

        self.config = config
        self.dtype = torch_dtype(config.dtype)
        try:
            self.device = torch.device(config.device)
        except RuntimeError as exc:
            raise InputError(f"--device {config.device!r} is not a torch device: {exc}") from exc
        if self.device.type == "cuda" and not torch.cuda.is_available():
            raise InputError(f"--device {config.device}: CUDA is not available on this machine")
        self.dataset = load_dataset(
            config.data, root=config.data_root, seed=config.seed, n_samples=config.n_samples
        )
        self.loss_name = config.loss or default_loss_for(self.dataset.task)
        self.loss_fn = make_loss(self.loss_name, reduction="mean")
        if self.dataset.task == "regression" and self.loss_name == "cross-entropy":
            raise InputError(f"{self.dataset.name} is a regression data set; use --loss mse")
        self.model = build_model(
            config.model,
            input_shape=self.dataset.input_shape,
            n_outputs=self.dataset.n_outputs,
            seed=config.seed,
            dtype=self.dtype,
        ).to(self.device)
        self.model.eval()
        if config.checkpoint is not None:  # fail now, not after the first Hessian
            from hessrmt.nn.zoo import load_checkpoint

            load_checkpoint(copy.deepcopy(self.model), config.checkpoint)
        self.n_params = int(count_parameters(self.model))
        if self.n_params == 0:
            raise InputError(f"model {config.model!r} has no trainable parameters")
        self.init_state = _state_arrays(self.model)
        self.full_batches = to_batches(
            self.dataset, FULL_DATA_BATCH, split="train", dtype=self.dtype, device=self.device
        )
        self.small_batches = to_batches(
            self.dataset,
            config.batch_size,
            split="train",
            dtype=self.dtype,
            device=self.device,
            drop_last=True,
            max_batches=max(config.batch_hessians, 1),
        )[: config.batch_hessians]


def _spectrum_step(
    ctx: _Context, choice: MethodChoice, kind: str, batches: list, desc: str
) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
    from hessrmt.analysis.spectra import dense_spectrum, lanczos_spectrum, make_operator

    op = make_operator(kind, ctx.model, ctx.loss_fn, batches, dtype=ctx.dtype, device=ctx.device)
    t0 = time.perf_counter()
    if choice.method == "dense":
        eigs, info = dense_spectrum(op, progress=ctx.config.progress)
    else:
        eigs, info = lanczos_spectrum(
            op, ctx.config.lanczos_k, seed=ctx.config.seed, max_iter=ctx.config.lanczos_restarts
        )
    info["seconds"] = time.perf_counter() - t0
    info["what"] = desc
    conv = getattr(op, "conventions", None)
    if callable(conv):
        info["operator"] = conv()
    return {"eigenvalues": eigs}, info


def step_init(ctx: _Context, choice: MethodChoice) -> tuple[dict, dict]:
    """Full-data Hessian spectrum at initialisation."""
    _load_state(ctx.model, ctx.init_state)
    return _spectrum_step(ctx, choice, "hessian", ctx.full_batches, "full-data Hessian at init")


def step_train(ctx: _Context) -> tuple[dict, dict]:
    """Train from the initialisation (or load ``--checkpoint``); returns the trained state."""
    from hessrmt.nn.train import train
    from hessrmt.nn.zoo import load_checkpoint

    cfg = ctx.config
    _load_state(ctx.model, ctx.init_state)
    t0 = time.perf_counter()
    if cfg.checkpoint is not None:
        load_checkpoint(ctx.model, cfg.checkpoint)
        ctx.model.to(ctx.device)
        info: dict[str, Any] = {"source": f"checkpoint {cfg.checkpoint}", "epochs": 0}
    else:
        hist = train(
            ctx.model,
            ctx.dataset,
            epochs=cfg.epochs,
            batch_size=cfg.train_batch_size,
            seed=cfg.seed,
            loss=ctx.loss_name,
            progress=cfg.progress,
        )
        info = {
            "source": "trained",
            "epochs": cfg.epochs,
            "final_loss": float(hist.loss[-1]) if hist.loss.size else None,
            "train_accuracy": float(hist.train_accuracy[-1]) if hist.loss.size else None,
            "test_accuracy": float(hist.test_accuracy[-1]) if hist.loss.size else None,
            "settings": dict(hist.settings),
        }
    ctx.model.eval()
    info["seconds"] = time.perf_counter() - t0
    with __import__("torch").no_grad():
        op_loss = sum(
            float(ctx.loss_fn(ctx.model(x), y)) * x.shape[0] for x, y in ctx.full_batches
        ) / sum(x.shape[0] for x, _ in ctx.full_batches)
    info["full_data_loss"] = op_loss
    return _state_arrays(ctx.model), info


def step_trained_dense(ctx: _Context) -> tuple[dict, dict]:
    """Dense H, H0 and H1 = H - H0 of the trained full-data loss (one step, two passes)."""
    from hessrmt.analysis.spectra import dense_decomposition

    return dense_decomposition(
        ctx.model,
        ctx.loss_fn,
        ctx.full_batches,
        dtype=ctx.dtype,
        device=ctx.device,
        progress=ctx.config.progress,
    )


def _analysis_conventions(ctx: _Context, choice: MethodChoice) -> dict[str, str]:
    cfg = ctx.config
    return {
        "loss": f"{ctx.loss_name}, mean over samples (make_loss reduction='mean')",
        "hessian": "Hessian of the full-data training loss (the mean over all training samples; "
        "batches weighted by their sizes) with respect to all trainable parameters, ordered as "
        "torch.nn.utils.parameters_to_vector; BatchNorm/dropout in eval mode",
        "batch": f"Hessians of the mean loss over single batches of {cfg.batch_size} "
        "consecutive training samples (no shuffling, incomplete batches dropped); rows of "
        "spectrum.npz['batch'] are batches, analysed as independent spectra",
        "ggn": "Gauss-Newton part H0 = J^T (d^2 loss / d outputs^2) J of the trained full-data "
        "Hessian; residual H1 = H - H0 (Pennington & Bahri, ICML 2017): dense path: "
        "eigenvalues of the difference of the dense H and H0; Lanczos path: ResidualOperator",
        "eigenvalues": f"ascending; computed in {cfg.dtype}, stored as float64"
        + ("" if choice.method == "dense" else "; Lanczos: extremal eigenvalues only"),
        "statistics": "local statistics (reduced ratios r~ = min(r, 1/r), unfolded spacings) "
        "on the bulk: zeros (|lambda| <= zero_tolerance) and outliers excluded",
        "trace": "sum of eigenvalues; batch: mean over batches",
        "n_negative": "eigenvalues below -zero_tolerance (round-off not counted); "
        "n_negative_raw counts all lambda < 0",
        "fits": "semicircle and Marchenko-Pastur fitted by moments to all eigenvalues (zeros "
        "included); ks_statistic and wasserstein say how badly each fits"
        + (
            f"; plausible: KS within the {cfg.fit_null}-replicate simulated-null threshold"
            if cfg.fit_null
            else " (no simulated-null test: fit_null = 0)"
        ),
        "slq": "stochastic Lanczos quadrature of the trained full-data Hessian "
        f"({cfg.slq_probes} probes, {cfg.slq_steps} steps, seed {cfg.seed}); "
        "wasserstein_to_exact = W1 between its quadrature measure and the exact spectrum",
    }


def _slq_trace(arrays: dict[str, np.ndarray], n: int) -> tuple[float, float]:
    """Trace estimate n * sum_j w_pj theta_pj per probe (unit probes), mean and standard error."""
    w = np.atleast_2d(arrays["weights"])
    w = w / w.sum(axis=1, keepdims=True)
    per = n * (w * np.atleast_2d(arrays["nodes"])).sum(axis=1)
    se = float(per.std(ddof=1) / np.sqrt(per.size)) if per.size > 1 else float("nan")
    return float(per.mean()), se


def analyze(config: AnalysisConfig | None = None, /, **settings: Any) -> AnalysisResult:
    """Run the whole pipeline (see the module docstring); returns an :class:`AnalysisResult`.

    ``config`` is an :class:`AnalysisConfig` (default: the built-in default run); keyword
    ``settings`` override its fields, e.g. ``analyze(epochs=5, batch_hessians=2, out="run")``.
    """
    from hessrmt.analysis.spectra import slq_wasserstein
    from hessrmt.analysis.statistics import partial_record, spectrum_record

    config = (config or AnalysisConfig()).replace(**settings) if settings else config
    config = config or AnalysisConfig()
    out = Path(config.out) if config.out is not None else default_out()
    config = config.replace(out=str(out))
    _check_out(out, config.overwrite)
    t_start = time.perf_counter()
    retain_freed_memory()

    ctx = _Context(config)
    choice = choose_method(
        config.method,
        ctx.n_params,
        dtype=config.dtype,
        device=str(ctx.device),
        max_dense_params=config.max_dense_params,
    )
    _log(config, f"{config.model} on {config.data}: P = {ctx.n_params} parameters; {choice.reason}")
    store = StepStore(partial_dir_for(out), _fingerprint(config))
    if store.discarded:
        _log(config, f"checkpoints in {store.directory} came from other settings: starting anew")
    elif store.completed():
        _log(config, f"resuming: steps {', '.join(store.completed())} already done")
    try:
        spectra, infos, slq_arrays, trained_state = _run_steps(ctx, choice, store)
    except BaseException:
        if store.completed():
            sys.stderr.write(
                f"hessrmt analyze: completed steps kept in {store.directory}; "
                f"rerun with --out {out} to resume\n"
            )
        raise

    # --- analysis -------------------------------------------------------------------------
    _log(config, "analysing spectra")
    summary: dict[str, Any] = {
        "n_params": ctx.n_params,
        "method": choice.method,
        "method_reason": choice.reason,
        "dense_limit": choice.limit,
        "dtype": config.dtype,
        "seed": config.seed,
        "versions": versions(),
        "model": config.model,
        "data": ctx.dataset.describe(),
        "loss": ctx.loss_name,
        "spectra": [name for name in SPECTRA if name in spectra],
        "skipped": {},
    }
    if choice.method == "dense":
        for name in SPECTRA:
            if name in spectra:
                summary[name] = spectrum_record(
                    spectra[name],
                    zero_rtol=config.zero_rtol,
                    seed=config.seed,
                    dtype=config.dtype,
                    fit_null=config.fit_null,
                )
    else:
        tr, se = _slq_trace(slq_arrays, ctx.n_params)
        for name in SPECTRA:
            if name in spectra:
                est = (tr, se) if name == "trained" else (None, None)
                summary[name] = partial_record(spectra[name], trace=est[0], trace_stderr=est[1])
    if "batch" not in spectra:
        summary["skipped"]["batch"] = (
            "batch Hessians need the dense path"
            if choice.method != "dense"
            else "no batch Hessians requested (--batch-hessians 0) or no complete batch"
        )
    if choice.method == "dense" and slq_arrays:
        infos["slq"]["wasserstein_to_exact"] = slq_wasserstein(
            slq_arrays["nodes"], slq_arrays["weights"], spectra["trained"]
        )
    summary["training"] = infos.get("train", {})
    summary["steps"] = {k: v for k, v in infos.items() if k != "train"}
    summary["settings"] = config.to_dict()
    summary["conventions"] = _analysis_conventions(ctx, choice)
    summary["seconds"] = time.perf_counter() - t_start

    # --- run folder -------------------------------------------------------------------------
    _log(config, f"writing {out}")
    _write_run_folder(out, summary, spectra, slq_arrays, trained_state)
    store.remove()
    meta = Metadata.create(
        seed=config.seed,
        dtype=config.dtype,
        conventions=summary["conventions"],
        method=choice.method,
        out=str(out),
    )
    return AnalysisResult(out=str(out), summary=summary, spectra=spectra, meta=meta)


def _run_steps(
    ctx: _Context, choice: MethodChoice, store: StepStore
) -> tuple[dict[str, np.ndarray], dict[str, dict], dict[str, np.ndarray], dict[str, np.ndarray]]:
    """Run (or load) every checkpointed step; return spectra, step infos, SLQ arrays, state."""
    from hessrmt.analysis.spectra import make_operator, slq_density

    cfg = ctx.config
    spectra: dict[str, np.ndarray] = {}
    infos: dict[str, dict] = {}

    _log(cfg, "step init: Hessian at initialisation")
    arrays, infos["init"] = store.run("init", lambda: step_init(ctx, choice))
    spectra["init"] = arrays["eigenvalues"]

    _log(cfg, "step train: " + ("loading checkpoint" if cfg.checkpoint else "training"))
    state, infos["train"] = store.run("train", lambda: step_train(ctx))
    _load_state(ctx.model, state)

    if choice.method == "dense":
        _log(
            cfg, "step trained: Hessian H, Gauss-Newton part H0 and residual H - H0 after training"
        )
        arrays, infos["trained"] = store.run("trained", lambda: step_trained_dense(ctx))
        spectra["trained"] = arrays["hessian"]
        spectra["ggn"], spectra["residual"] = arrays["ggn"], arrays["residual"]
    else:
        _log(cfg, "step trained: Hessian after training (Lanczos)")
        arrays, infos["trained"] = store.run(
            "trained",
            lambda: _spectrum_step(ctx, choice, "hessian", ctx.full_batches, "full-data Hessian"),
        )
        spectra["trained"] = arrays["eigenvalues"]

    if choice.method == "dense" and ctx.small_batches:
        rows = []
        batch_infos = []
        from tqdm.auto import tqdm

        items = list(enumerate(ctx.small_batches))
        bar = tqdm(
            items, desc="batch Hessians", unit="batch", leave=False, disable=not cfg.progress
        )
        for i, batch in bar:
            arrays, info = store.run(
                f"batch_{i:03d}",
                lambda b=batch, i=i: _spectrum_step(
                    ctx, choice, "hessian", [b], f"Hessian of batch {i}"
                ),
            )
            rows.append(arrays["eigenvalues"])
            batch_infos.append(info)
        spectra["batch"] = np.vstack(rows)
        infos["batch"] = {
            "n_batches": len(rows),
            "batch_size": cfg.batch_size,
            "requested": cfg.batch_hessians,
            "seconds": float(sum(b.get("seconds", 0.0) for b in batch_infos)),
        }

    if choice.method != "dense":
        for kind in ("ggn", "residual"):
            _log(cfg, f"step {kind} (Lanczos)")
            arrays, infos[kind] = store.run(
                kind,
                lambda kind=kind: _spectrum_step(
                    ctx, choice, kind, ctx.full_batches, f"{kind} part of the full-data Hessian"
                ),
            )
            spectra[kind] = arrays["eigenvalues"]

    _log(cfg, "step slq: stochastic Lanczos quadrature density")

    def _slq() -> tuple[dict, dict]:
        op = make_operator(
            "hessian", ctx.model, ctx.loss_fn, ctx.full_batches, dtype=ctx.dtype, device=ctx.device
        )
        return slq_density(op, num_probes=cfg.slq_probes, num_steps=cfg.slq_steps, seed=cfg.seed)

    slq_arrays, infos["slq"] = store.run("slq", _slq)
    return spectra, infos, slq_arrays, state


def _write_run_folder(
    out: Path,
    summary: dict[str, Any],
    spectra: dict[str, np.ndarray],
    slq_arrays: dict[str, np.ndarray],
    state: dict[str, np.ndarray],
) -> None:
    import torch

    from hessrmt.report.analysis_report import build_report

    with atomic_directory(out, overwrite=True) as tmp:
        atomic_save_npz(tmp / "spectrum.npz", spectra)
        atomic_save_npz(tmp / "slq.npz", slq_arrays)
        buf = io.BytesIO()
        torch.save({k: torch.as_tensor(v) for k, v in state.items()}, buf)
        atomic_write_bytes(tmp / "model.pt", buf.getvalue())
        atomic_write_json(tmp / "summary.json", summary)
        build_report(tmp, summary=summary, spectra=spectra, slq=slq_arrays)
        _share(tmp)


def _share(folder: Path) -> None:
    """Give the run folder the permissions of the umask (temporary files are created 0600)."""
    umask = os.umask(0)
    os.umask(umask)
    for path in [folder, *folder.rglob("*")]:
        path.chmod((0o777 if path.is_dir() else 0o666) & ~umask)
