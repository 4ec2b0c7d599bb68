"""The checkpointed steps of ``hessrmt analyze`` (:mod:`hessrmt.analysis.pipeline` orders them).

:class:`Context` holds what every step shares (data, model, loss, the full-data batches and the
small batches of the batch Hessians, the processes of a ``torchrun`` launch); each ``step_*``
function computes one step's arrays and record from it:

* :func:`step_init`: the full-data Hessian spectrum at the initialisation;
* :func:`step_train`: training with the paper-1 SGD set-up (Baskerville et al., arXiv
  2102.06740) or the weights of ``--checkpoint``; returns the trained ``state_dict`` as arrays;
* :func:`step_trained_dense`: the dense H, its Gauss-Newton part H0 = J^T (d^2 l / d f^2) J and
  H1 = H - H0 after training (Pennington & Bahri, ICML 2017), in one step;
* :func:`spectrum_step`: the spectrum of one operator (H, H0 or H1 over some batches), dense or
  by Lanczos per the resolved method.

The batch-noise step is :mod:`hessrmt.analysis.batch_noise`, the sub-block steps
:mod:`hessrmt.analysis.subblocks`.
"""

from __future__ import annotations

import copy
import time
from typing import Any

import numpy as np

from hessrmt.analysis.config import AnalysisConfig
from hessrmt.analysis.distributed import Ranks
from hessrmt.analysis.method import MethodChoice
from hessrmt.errors import InputError

#: Batch size of the passes over the full data (does not change the operator, only memory use).
FULL_DATA_BATCH = 256


def state_arrays(model: Any) -> dict[str, np.ndarray]:
    """The model's ``state_dict`` as NumPy copies (what step ``train`` checkpoints)."""
    return {k: v.detach().cpu().numpy().copy() for k, v in model.state_dict().items()}


def load_state(model: Any, arrays: dict[str, np.ndarray]) -> None:
    """Load :func:`state_arrays` back into ``model`` (its own dtypes and devices)."""
    import torch

    ref = model.state_dict()
    model.load_state_dict(
        {k: torch.as_tensor(arrays[k]).to(dtype=ref[k].dtype, device=ref[k].device) for k in ref}
    )


class Context:
    """Data, model, losses and batches shared by the steps."""

    def __init__(self, config: AnalysisConfig, ranks: Ranks) -> None:
        import torch

        from hessrmt.analysis.spectra import torch_dtype
        from hessrmt.data import load_dataset
        from hessrmt.nn.data import to_batches
        from hessrmt.nn.losses import default_loss_for, make_loss
        from hessrmt.nn.zoo import build_model, count_parameters

        self.config = config
        self.ranks = ranks
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
        self._check_data(config)
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
        self.init_state = state_arrays(self.model)
        # this rank's shard of the training split (all of it in one process)
        self.full_batches = ranks.train_batches(
            self.dataset, FULL_DATA_BATCH, dtype=self.dtype, device=self.device
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
        self.small_batches = ranks.split_batches(self.small_batches)  # sharded within a batch

    def _check_data(self, config: AnalysisConfig) -> None:
        """Refuse settings the data set cannot support (never clamped: one line, exit status 2).

        ``--n-samples`` at most the data set's size, ``--batch-size`` at most the training
        samples, and ``--batch-hessians`` at most the number of complete batches.
        """
        ds = self.dataset
        if ds.task == "regression" and self.loss_name == "cross-entropy":
            raise InputError(f"{ds.name} is a regression data set; use --loss mse")
        if ds.task == "classification" and self.loss_name == "mse":
            raise InputError(
                f"{ds.name} is a classification data set (integer labels); --loss mse needs a "
                "regression data set: use --loss cross-entropy"
            )
        total = ds.n_train + ds.y_test.shape[0]
        if config.n_samples is not None and config.n_samples > total:
            raise InputError(
                f"--n-samples {config.n_samples} exceeds the {total} samples of {ds.name}; "
                f"use at most {total} or leave it out"
            )
        if config.batch_hessians > 0 and config.batch_size > ds.n_train:
            raise InputError(
                f"--batch-size {config.batch_size} exceeds the {ds.n_train} training samples of "
                f"{ds.name}; use at most {ds.n_train} (or --batch-hessians 0)"
            )
        complete = ds.n_train // config.batch_size
        if config.batch_hessians > complete:
            raise InputError(
                f"--batch-hessians {config.batch_hessians} needs {config.batch_hessians} complete "
                f"batches of --batch-size {config.batch_size}, but the {ds.n_train} training "
                f"samples of {ds.name} give {complete}; use --batch-hessians {complete} or less, "
                "a smaller --batch-size, or more --n-samples"
            )


def spectrum_step(
    ctx: Context, choice: MethodChoice, kind: str, batches: list, desc: str
) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
    from hessrmt.analysis.spectra import dense_spectrum, lanczos_spectrum, make_operator

    op = ctx.ranks.wrap(
        make_operator(kind, ctx.model, ctx.loss_fn, batches, dtype=ctx.dtype, device=ctx.device)
    )
    t0 = time.perf_counter()
    if choice.method == "dense":
        eigs, info = dense_spectrum(op, progress=ctx.config.progress)
    else:
        eigs, info = lanczos_spectrum(
            op,
            ctx.config.lanczos_k,
            seed=ctx.config.seed,
            max_iter=ctx.config.lanczos_restarts,
            progress=ctx.config.progress,
        )
    info["seconds"] = time.perf_counter() - t0
    info["what"] = desc
    conv = getattr(op, "conventions", None)
    if callable(conv):
        info["operator"] = conv()
    return {"eigenvalues": eigs}, info


def step_init(ctx: Context, choice: MethodChoice) -> tuple[dict, dict]:
    """Full-data Hessian spectrum at initialisation."""
    load_state(ctx.model, ctx.init_state)
    return spectrum_step(ctx, choice, "hessian", ctx.full_batches, "full-data Hessian at init")


def step_train(ctx: Context) -> tuple[dict, dict]:
    """Train from the initialisation (or load ``--checkpoint``); returns the trained state."""
    from hessrmt.nn.train import train
    from hessrmt.nn.zoo import load_checkpoint

    cfg = ctx.config
    load_state(ctx.model, ctx.init_state)
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
        total, count = ctx.ranks.all_sum(
            [
                sum(float(ctx.loss_fn(ctx.model(x), y)) * x.shape[0] for x, y in ctx.full_batches),
                sum(x.shape[0] for x, _ in ctx.full_batches),
            ],
            "the full-data loss",
        )
    info["full_data_loss"] = float(total / count)
    return state_arrays(ctx.model), info


def step_trained_dense(ctx: Context) -> tuple[dict, dict]:
    """Dense H, H0 and H1 = H - H0 of the trained full-data loss (one step, two passes)."""
    from hessrmt.analysis.spectra import dense_decomposition

    return dense_decomposition(
        ctx.model,
        ctx.loss_fn,
        ctx.full_batches,
        dtype=ctx.dtype,
        device=ctx.device,
        progress=ctx.config.progress,
        wrap=ctx.ranks.wrap,
    )
