"""Settings of the ``hessrmt analyze`` pipeline.

:class:`AnalysisConfig` is a frozen dataclass holding every choice that affects the numbers of a
run (model, data, training, curvature method, dtype, seed, sizes). Its :meth:`fingerprint` is a
hash of those choices: a checkpoint left by an interrupted run is reused only when the
fingerprint matches, so a resumed run gives the same numbers as an uninterrupted one.

The defaults are the built-in default run: the zoo's ``mlp`` on scikit-learn's bundled ``digits``
data, trained with the paper-1 SGD schedule (Baskerville et al., arXiv 2102.06740) for
:data:`DEFAULT_EPOCHS` epochs, exact float64 Hessians (full data and batches of 64).
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import re
from pathlib import Path
from typing import Any

from hessrmt.errors import InputError
from hessrmt.validation import MAX_SEED

#: Epochs of training in the default run (digits, batch 128, paper-1 schedule).
DEFAULT_EPOCHS = 60
#: Batch Hessians (batch 64) pooled for local statistics in the default run.
DEFAULT_BATCH_HESSIANS = 6

METHODS = ("auto", "dense", "lanczos")
SUBBLOCK_MODES = ("auto", "none", "layers", "random")
DTYPES = ("float64", "float32")
#: Quadrature rules of the SLQ density (:func:`hessrmt.curvature.slq`'s ``quadrature``).
SLQ_QUADRATURES = ("gauss", "radau")
_MODEL_RE = re.compile(r"^[A-Za-z_][\w-]*$|^[A-Za-z_][\w.]*:[A-Za-z_]\w*$")

#: Fields that do not change the numbers of a run (excluded from the fingerprint).
_NOT_NUMERIC = frozenset(
    {"out", "progress", "overwrite", "device", "max_dense_params", "collective_timeout"}
)
#: Groups of numeric settings by the checkpointed steps that read them (:func:`unread_settings`).
#: The statistics settings are read only after the last step, from the stored spectra.
_STATISTICS = frozenset({"zero_rtol", "fit_null", "family_fit", "family_boot"})
_SLQ = frozenset({"slq_probes", "slq_steps", "slq_quadrature"})
#: Settings added after run folders existed, with the value they had implicitly before: left out
#: of :meth:`AnalysisConfig.numeric_settings` at that value, so older folders keep their
#: fingerprint (and resume).
_ADDED_LATER = {"slq_quadrature": "gauss"}
_SUBBLOCKS = frozenset({"subblocks", "subblock_size", "subblock_count"})
_LANCZOS = frozenset({"lanczos_k", "lanczos_restarts"})
_BATCH_SIZE = frozenset({"batch_size"})
_BATCH_COUNT = frozenset({"batch_hessians"})


def unread_settings(step: str) -> frozenset[str]:
    """Numeric settings that the checkpointed step ``step`` of ``hessrmt analyze`` does not read,
    neither itself nor through the steps before it whose results it uses (left out of the
    step's own settings, so that an ``--overwrite`` run that changes only them reuses it).

    Every step uses the trained model, which depends on none of these groups. ``slq`` reads only
    its probes and steps; ``subblock_*`` only the sub-block options; the spectra (``init``,
    ``trained``, ``ggn``, ``residual``, ``batch_*``) the Lanczos options; ``batch_*`` the batch
    size (batch i is the same prefix batch whatever the number of batches); ``batch_noise``
    both batch settings. The statistics settings are read by no step. Anything not listed
    here (model, data, training, method, dtype, seed...) is read by every step, and a step not
    named here reads every setting.
    """
    everything = _STATISTICS | _SLQ | _SUBBLOCKS | _LANCZOS | _BATCH_SIZE | _BATCH_COUNT
    if step == "slq":
        return everything - _SLQ
    if step.startswith("subblock_"):
        return everything - _SUBBLOCKS
    if step == "batch_noise":
        return everything - _BATCH_SIZE - _BATCH_COUNT
    if step.startswith("batch_"):
        return everything - _LANCZOS - _BATCH_SIZE
    if step == "train":
        return everything
    if step in ("init", "trained", "ggn", "residual"):
        return everything - _LANCZOS
    return frozenset()  # a step not listed here reads everything


#: Seconds a collective waits for the other processes of a torchrun launch (the value of
#: :data:`hessrmt.curvature.distributed.DEFAULT_TIMEOUT_S`; not imported: no torch here).
DEFAULT_COLLECTIVE_TIMEOUT = 600.0


#: Settings that ``hessrmt analyze`` exposes as options (messages name the option).
_CLI_OPTIONS = frozenset(
    {"epochs", "batch_hessians", "seed", "fit_null", "batch_size", "slq_probes", "slq_steps",
     "lanczos_k", "n_samples", "zero_rtol", "slq_quadrature"}
)  # fmt: skip


def _option(name: str) -> str:
    """``--batch-size`` for a setting the command line exposes, else the field name."""
    return "--" + name.replace("_", "-") if name in _CLI_OPTIONS else name


@dataclasses.dataclass(frozen=True)
class AnalysisConfig:
    """Every setting of one analysis run (see the module docstring for the defaults).

    Attributes:
        model: zoo name (``logreg``, ``mlp``, ``deep-mlp``, ``lenet``, ``regression-mlp``) or
            ``"package.module:function"`` returning an ``nn.Module`` (called with ``input_shape``,
            ``n_outputs``, ``seed``, ``dtype`` keywords by :func:`hessrmt.nn.zoo.build_model`).
        data: data set name for :func:`hessrmt.data.load_dataset`.
        data_root: folder holding local data files (mnist, fashion-mnist, cifar10, bike).
        n_samples: cap on the number of samples loaded (None: all).
        checkpoint: a ``state_dict`` file (``torch.save``) replacing training; None: train.
        epochs: training epochs (0: the trained point is the initialisation).
        loss: loss name for :func:`hessrmt.nn.losses.make_loss`; None: cross-entropy for
            classification, mean squared error for regression. Always mean-reduced.
        method: ``dense`` (exact eigenvalues), ``lanczos`` (extremes + SLQ density) or ``auto``
            (dense when the P x P matrix fits in memory, see
            :func:`hessrmt.analysis.method.dense_parameter_limit`).
        batch_hessians: number of batch Hessians (batches of ``batch_size`` training samples, in
            order, no shuffling) pooled for local statistics; 0 skips them.
        batch_size: batch size of the batch Hessians (64, as in Baskerville et al.).
        train_batch_size: SGD batch size.
        dtype: ``float64`` (default) or ``float32`` for model, Hessian and eigenvalues.
        device: torch device (``cpu``, ``cuda``...).
        seed: seed of data split, initialisation, training order, SLQ probes and statistics.
        slq_probes, slq_steps: stochastic Lanczos quadrature settings.
        slq_quadrature: ``gauss`` (the Gauss rule every SLQ tool uses) or ``radau`` (the
            Gauss-Radau rule with a node at 0, from the same products: it keeps the Hessian's
            near-null mass at 0 and records that mass; see :func:`hessrmt.curvature.slq`).
        lanczos_k: extremal eigenvalues per end computed by the Lanczos method.
        lanczos_restarts: restart cycles allowed per Lanczos run (convergence is recorded).
        zero_rtol: relative tolerance for eigenvalues counted as zero (None: the default of
            :func:`hessrmt.rmt.bulk.split_spectrum`).
        fit_null: simulated-null replicates for the plausibility of the semicircle and MP fits
            (0: distances only; costly for large spectra).
        family_fit: fit the random-matrix families of :mod:`hessrmt.rmt.family_fit` (W1, atom
            matched to the measured zero fraction, outliers kept apart) to the trained
            Hessian's exact spectrum (dense path only) and show the table in the report.
        family_boot: refitting parametric-bootstrap replicates of those fits (p-values and
            intervals; 0: distances only).
        max_dense_params: override the memory-derived parameter limit of ``method="auto"``.
            Not part of :meth:`fingerprint`; the run folder fingerprints the method ``auto``
            resolved to instead (:func:`hessrmt.analysis.pipeline.run_settings`), so a resume
            that would switch between dense and Lanczos is refused as other settings.
        subblocks: local statistics of exact principal sub-blocks H[S, S] of the trained
            full-data Hessian (:mod:`hessrmt.analysis.subblocks`): ``layers`` (one block per
            layer), ``random`` (``subblock_count`` seeded random parameter subsets), ``none``, or
            ``auto`` (``layers`` when the full spectrum is not dense, else ``none``).
        subblock_size: parameters per block: the cap of a layer block (a larger layer is
            subsampled, seeded) and the size of a random block. Cost: one product per parameter.
        subblock_count: number of random blocks.
        out: run folder (None: ``runs/analyze-<UTC timestamp>``).
        overwrite: discard checkpoints of other settings and replace an existing run folder made
            by hessrmt (never a folder without hessrmt's marker; see :mod:`hessrmt.runfolder`).
        progress: show progress bars (stderr).
        collective_timeout: seconds a collective may wait for the other processes when the
            run is launched by ``torchrun`` (see :mod:`hessrmt.analysis.distributed`); not part
            of the fingerprint.
    """

    model: str = "mlp"
    data: str = "digits"
    data_root: str | None = None
    n_samples: int | None = None
    checkpoint: str | None = None
    epochs: int = DEFAULT_EPOCHS
    loss: str | None = None
    method: str = "auto"
    batch_hessians: int = DEFAULT_BATCH_HESSIANS
    batch_size: int = 64
    train_batch_size: int = 128
    dtype: str = "float64"
    device: str = "cpu"
    seed: int = 0
    slq_probes: int = 8
    slq_steps: int = 80
    slq_quadrature: str = "gauss"
    lanczos_k: int = 20
    lanczos_restarts: int = 100
    zero_rtol: float | None = None
    fit_null: int = 0
    family_fit: bool = True
    family_boot: int = 19
    max_dense_params: int | None = None
    subblocks: str = "auto"
    subblock_size: int = 1000
    subblock_count: int = 4
    out: str | None = None
    overwrite: bool = False
    progress: bool = True
    collective_timeout: float = DEFAULT_COLLECTIVE_TIMEOUT

    def __post_init__(self) -> None:
        self.validate()

    def validate(self) -> None:
        """Raise :class:`InputError` naming the first invalid setting."""
        if not isinstance(self.model, str) or not _MODEL_RE.match(self.model):
            raise InputError(
                f"--model {self.model!r} is neither a zoo name (logreg, mlp, deep-mlp, lenet) "
                "nor of the form package.module:function"
            )
        if self.method not in METHODS:
            raise InputError(f"--method must be one of {', '.join(METHODS)}, got {self.method!r}")
        if self.subblocks not in SUBBLOCK_MODES:
            raise InputError(
                f"--subblocks must be one of {', '.join(SUBBLOCK_MODES)}, got {self.subblocks!r}"
            )
        if self.slq_quadrature not in SLQ_QUADRATURES:
            raise InputError(
                f"--slq-quadrature must be one of {', '.join(SLQ_QUADRATURES)}, "
                f"got {self.slq_quadrature!r}"
            )
        if self.dtype not in DTYPES:
            raise InputError(f"--dtype must be one of {', '.join(DTYPES)}, got {self.dtype!r}")
        for name in ("epochs", "batch_hessians", "seed", "fit_null", "family_boot"):
            value = getattr(self, name)
            if not isinstance(value, int) or isinstance(value, bool) or value < 0:
                raise InputError(f"{_option(name)} must be a non-negative integer, got {value!r}")
        for name in (
            "batch_size", "train_batch_size", "slq_probes", "slq_steps", "lanczos_k",
            "lanczos_restarts", "subblock_size", "subblock_count",
        ):  # fmt: skip
            value = getattr(self, name)
            if not isinstance(value, int) or isinstance(value, bool) or value < 1:
                raise InputError(f"{_option(name)} must be a positive integer, got {value!r}")
        if self.seed > MAX_SEED:
            raise InputError(f"--seed must be at most 2^63 - 1 = {MAX_SEED}, got {self.seed}")
        if self.n_samples is not None and (
            not isinstance(self.n_samples, int) or self.n_samples < 10
        ):
            raise InputError(
                f"--n-samples must be an integer >= 10 (or left out), got {self.n_samples!r}"
            )
        if self.max_dense_params is not None and self.max_dense_params < 1:
            raise InputError(f"max_dense_params must be positive, got {self.max_dense_params!r}")
        t = self.collective_timeout
        if isinstance(t, bool) or not isinstance(t, (int, float)) or not 0 < t < float("inf"):
            raise InputError(
                f"--collective-timeout must be a positive number of seconds, got {t!r}"
            )
        if self.zero_rtol is not None and not (0 < self.zero_rtol < 1):
            raise InputError(f"--zero-rtol must lie in (0, 1), got {self.zero_rtol!r}")

    def replace(self, **changes: Any) -> AnalysisConfig:
        """A copy with ``changes`` applied (validated)."""
        unknown = set(changes) - {f.name for f in dataclasses.fields(self)}
        if unknown:
            raise InputError(f"unknown analysis setting(s): {', '.join(sorted(unknown))}")
        return dataclasses.replace(self, **changes)

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> AnalysisConfig:
        names = {f.name for f in dataclasses.fields(cls)}
        return cls(**{k: v for k, v in data.items() if k in names})

    def numeric_settings(self) -> dict[str, Any]:
        """The settings that determine the numbers (everything but output and display)."""
        d = {k: v for k, v in self.to_dict().items() if k not in _NOT_NUMERIC}
        for name, before in _ADDED_LATER.items():
            if d.get(name) == before:
                del d[name]
        if self.checkpoint is not None:
            d["checkpoint"] = str(Path(self.checkpoint).resolve())
        if self.data_root is not None:
            d["data_root"] = str(Path(self.data_root).resolve())
        return d

    def fingerprint(self) -> str:
        """SHA-256 (first 16 hex digits) of :meth:`numeric_settings`."""
        text = json.dumps(self.numeric_settings(), sort_keys=True)
        return hashlib.sha256(text.encode()).hexdigest()[:16]
