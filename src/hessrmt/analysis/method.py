"""Choice between exact dense eigenvalues and Lanczos/SLQ, from the memory at hand.

A dense P x P curvature matrix in a dtype of ``b`` bytes takes ``b P^2`` bytes, and the symmetric
eigensolver needs about as much again for its working copy and workspace. ``method="auto"``
therefore takes the dense path when ``DENSE_COPIES * b * P^2`` is at most ``MEMORY_FRACTION`` of
the memory available now (``MemAvailable`` of ``/proc/meminfo`` on the CPU, free GPU memory on
CUDA), i.e. P <= sqrt(MEMORY_FRACTION * available / (DENSE_COPIES * b))
(DENSE_COPIES = 4: H, H0, H - H0 and the eigensolver's copy).
"""

from __future__ import annotations

import math
import os
import sys
from dataclasses import dataclass
from typing import Any

from hessrmt.errors import InputError

#: Copies of the P x P matrix alive at once (H, its Gauss-Newton part H0, H - H0 and the
#: eigensolver's working copy).
DENSE_COPIES = 4
#: Share of the available memory the dense path may use.
MEMORY_FRACTION = 0.5
#: The methods :func:`choose_method` resolves.
METHODS = ("auto", "dense", "lanczos")


def available_memory(device: str = "cpu") -> int:
    """Bytes of memory available now on ``device`` (host RAM for the CPU)."""
    if str(device).startswith("cuda"):
        import torch

        free, _total = torch.cuda.mem_get_info(torch.device(device))
        return int(free)
    try:
        with open("/proc/meminfo") as fh:
            for line in fh:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    try:
        return int(os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE"))
    except (ValueError, OSError, AttributeError):
        return 4 * 1024**3  # a cautious guess where the system does not say


_ITEMSIZE = {"float64": 8, "float32": 4, "float16": 2, "bfloat16": 2}


def _itemsize(dtype: str) -> int:
    name = str(dtype).removeprefix("torch.")
    if name not in _ITEMSIZE:
        raise InputError(f"dtype {dtype!r} is not supported here; use one of {sorted(_ITEMSIZE)}")
    return _ITEMSIZE[name]


def format_bytes(n: float) -> str:
    """``n`` bytes in binary units (KiB ... PiB), three significant digits."""
    for unit, size in (("PiB", 1024**5), ("TiB", 1024**4), ("GiB", 1024**3), ("MiB", 1024**2)):
        if n >= size:
            return f"{n / size:.3g} {unit}"
    return f"{n / 1024:.3g} KiB"


def dense_parameter_limit(dtype: str = "float64", device: str = "cpu") -> tuple[int, int]:
    """(largest P for the dense path, bytes available) on ``device`` for ``dtype``."""
    itemsize = _itemsize(dtype)
    avail = available_memory(device)
    return math.isqrt(int(MEMORY_FRACTION * avail / (DENSE_COPIES * itemsize))), avail


@dataclass(frozen=True)
class MethodChoice:
    """The curvature method used and why (recorded in summary.json and printed)."""

    method: str
    limit: int
    available_bytes: int | None
    reason: str


def choose_method(
    requested: str,
    n_params: int,
    *,
    dtype: str = "float64",
    device: str = "cpu",
    max_dense_params: int | None = None,
) -> MethodChoice:
    """Resolve ``requested`` (``auto``, ``dense``, ``lanczos``) for a model of ``n_params``.

    ``max_dense_params`` replaces the memory-derived limit of ``auto``. ``dense`` is refused
    (one-line :class:`InputError` naming ``--method lanczos``) when its matrices cannot fit in
    the memory available now, whatever ``max_dense_params`` says.
    """
    if requested not in METHODS:
        raise InputError(f"method {requested!r} is not known; use one of {', '.join(METHODS)}")
    if max_dense_params is not None:
        limit, avail = int(max_dense_params), None
        source = f"the limit of {limit} parameters set by max_dense_params"
    else:
        limit, avail = dense_parameter_limit(dtype, device)
        source = (
            f"{avail / 1024**3:.1f} GiB available on {device} allows a dense {dtype} Hessian "
            f"up to P = {limit}"
        )
    if requested == "dense":
        fits, avail_now = dense_parameter_limit(dtype, device)
        if n_params > fits:
            need = DENSE_COPIES * _itemsize(dtype) * n_params**2
            raise InputError(
                f"--method dense cannot fit: P = {n_params:,} needs about {format_bytes(need)} "
                f"({DENSE_COPIES} copies of a P x P {dtype} matrix) but "
                f"{format_bytes(MEMORY_FRACTION * avail_now)} of {device} memory may be used "
                f"(dense up to P = {fits:,}); use --method lanczos (or auto)"
            )
        return MethodChoice("dense", limit, avail, f"dense requested (P = {n_params}; {source})")
    if requested == "lanczos":
        return MethodChoice("lanczos", limit, avail, f"lanczos requested (P = {n_params})")
    if n_params <= limit:
        return MethodChoice("dense", limit, avail, f"auto: dense, since P = {n_params}; {source}")
    return MethodChoice(
        "lanczos",
        limit,
        avail,
        f"auto: lanczos + SLQ, since P = {n_params} exceeds the dense limit ({source}); "
        "extremes, SLQ density and batch extremes by Lanczos; full-spectrum local statistics "
        "need the dense path (sub-blocks give local ones)",
    )


def plan_text(
    choice: MethodChoice,
    n_params: int,
    *,
    dtype: str,
    dense_hessians: int,
    lanczos_runs: int,
    lanczos_k: int,
    max_restarts: int,
    slq_products: int,
) -> str:
    """One line saying up front what the run computes and what it costs.

    Dense path: ``dense_hessians`` P x P matrices of ``b P^2`` bytes, each built from P
    Hessian-vector products (peak about ``DENSE_COPIES`` matrices with the eigensolver).
    Lanczos path: ``lanczos_runs`` runs (two ends each) of a Krylov basis of ncv = ``max(4k, 40)``
    vectors, kept with their products in the recurrence's float64 (two ncv x P arrays); each end
    fills the basis once and then at most ``max_restarts`` times more, so at most
    ``(max_restarts + 1) ncv`` products per end. Both add the SLQ products.
    """
    P = int(n_params)
    if choice.method == "dense":
        one = _itemsize(dtype) * P**2
        products = dense_hessians * P + slq_products
        avail = (
            f"; {format_bytes(choice.available_bytes)} available"
            if choice.available_bytes is not None
            else ""
        )
        return (
            f"plan: {dense_hessians} dense {P:,} x {P:,} {dtype} matrices of "
            f"{format_bytes(one)} each (peak about {format_bytes(DENSE_COPIES * one)}{avail}), "
            f"{products:,} Hessian-vector products in all"
        )
    from hessrmt.curvature.krylov.numerics import WORK_DTYPE

    ncv = min(P, max(4 * lanczos_k, 40))
    basis = 2 * WORK_DTYPE.itemsize * P * ncv  # basis and its products, float64
    return (
        f"plan: Lanczos, {lanczos_runs} spectra x 2 ends of {lanczos_k} eigenvalues (Krylov "
        f"basis {ncv} vectors and their products, {format_bytes(basis)} in float64; at most "
        f"{2 * lanczos_runs * (max_restarts + 1) * ncv:,} Hessian-vector products) and "
        f"{slq_products:,} SLQ products; no P x P matrix is formed"
    )


def peak_rss_bytes() -> int | None:
    """Peak resident set size of this process so far (``getrusage``; KiB on Linux), or None."""
    try:
        import resource

        rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    except (ImportError, OSError):
        return None
    return int(rss) * (1 if sys.platform == "darwin" else 1024)


def memory_record(
    n_params: int, choice: MethodChoice, config: Any, subblocks: dict[str, Any]
) -> dict[str, Any]:
    """The memory the curvature steps need (by formula) and the peak measured.

    Dense path: ``DENSE_COPIES`` P x P matrices. Lanczos path: the Krylov basis and its kept
    products (two ncv x P arrays, ncv = max(4k, 40)), the SLQ bases (all probes at once:
    probes x steps x P when fully reorthogonalised, else three P-vectors per probe), both in the
    recurrence's float64 whatever the model's dtype (``WORK_DTYPE``), and the operator's kept
    product workspace (at most ``WORKSPACE_MAX_BYTES``); sub-blocks: one chunk of unit vectors
    and products (``SUBBLOCK_MEMORY_BUDGET``) and the largest m x m block. The autograd
    activations of one data batch come on top (not counted).
    """
    from hessrmt.curvature.blocks import WORKSPACE_MAX_BYTES
    from hessrmt.curvature.krylov.numerics import WORK_DTYPE
    from hessrmt.curvature.krylov.stochastic_quadrature import (
        REORTH_MAX_STEPS,
        REORTH_MEMORY_BUDGET,
    )
    from hessrmt.curvature.subblocks import SUBBLOCK_MEMORY_BUDGET

    item = 8 if config.dtype == "float64" else 4
    work = WORK_DTYPE.itemsize  # the Krylov recurrences' dtype (float64)
    mib = 1 << 20
    rec: dict[str, Any] = {"n_params": int(n_params), "method": choice.method}
    if choice.method == "dense":
        rec["dense_matrices_mib"] = DENSE_COPIES * item * n_params**2 / mib
    else:
        ncv = min(n_params, max(4 * config.lanczos_k, 40))
        rec["lanczos_basis_mib"] = 2 * ncv * n_params * work / mib  # basis V and products AV
        steps = max(2, min(config.slq_steps, n_params))  # as analysis.spectra.slq_density
        bases = config.slq_probes * steps * n_params * work
        reorth = steps <= REORTH_MAX_STEPS and bases <= REORTH_MEMORY_BUDGET
        rec["slq_basis_mib"] = (bases if reorth else 3 * config.slq_probes * n_params * work) / mib
        rec["product_workspace_max_mib"] = WORKSPACE_MAX_BYTES / mib
    sizes = [v.size for k, v in subblocks.items() if not k.endswith("_indices")]
    if sizes:
        m = max(sizes)
        rec["subblock_chunk_max_mib"] = SUBBLOCK_MEMORY_BUDGET / mib
        rec["largest_subblock_mib"] = 8 * m * m / mib
    peak = peak_rss_bytes()
    rec["peak_rss_mib"] = None if peak is None else peak / mib
    rec["note"] = (
        "formula terms in MiB (activations of one batch not counted); peak_rss_mib: the "
        "process's peak resident memory (getrusage ru_maxrss), data and model included"
    )
    return rec
