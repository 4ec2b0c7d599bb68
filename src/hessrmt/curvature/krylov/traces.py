"""Randomised trace estimators with standard errors: Hutchinson and Hutch++.

* Hutchinson (1989): for probes ``z`` with ``E[z z^T] = I``, ``E[z^T A z] = tr A``; the estimate
  is the mean of ``N`` samples and its standard error ``std(samples, ddof=1) / sqrt(N)``. For
  Rademacher probes ``Var[z^T A z] = 2 (||A||_F^2 - sum_i A_ii^2)``; for Gaussian probes
  ``2 ||A||_F^2``.
* Hutch++ (Meyer, Musco, Musco & Woodruff 2021, "Hutch++: Optimal stochastic trace estimation",
  SOSA): with ``m`` matrix-vector products split into thirds, ``Q = orth(A S)`` for a random
  ``S`` (n x m/3), then ``tr A ~= tr(Q^T A Q) + (3/m) tr(G^T (I - QQ^T) A (I - QQ^T) G)``. The
  first term is exact given ``Q``; the standard error reported is that of the Hutchinson part
  (the sample standard error of ``g^T (I - QQ^T) A (I - QQ^T) g``), conditional on ``Q``.

Probes are applied in blocks through ``op.matmat`` (``batch_size`` columns per operator
application); probe ``i`` comes from the ``i``-th child stream of the seed's generator, so the
estimate does not depend on ``batch_size``; all sums are in float64.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch

from hessrmt.curvature.krylov.numerics import (
    DEFAULT_SEED,
    PROBE_KINDS,
    UNSET,
    apply64,
    as_operator,
    cgs2_rows,
    dtype_name,
    operator_conventions,
    probe_block,
    resolve_rng,
)
from hessrmt.curvature.linop import CurvatureOperator
from hessrmt.errors import InputError
from hessrmt.results import Metadata, Result


@dataclass(frozen=True)
class TraceResult(Result):
    """A stochastic estimate of tr A.

    Attributes:
        estimate: the trace estimate.
        stderr: its standard error (Hutchinson: sample SE of the mean; Hutch++: SE of the
            Hutchinson part on the deflated operator, conditional on the sketch).
        num_matvecs: operator-vector products spent.
        samples: (N,) the Hutchinson samples ``z^T A z`` (Hutch++: of the deflated operator).
        method: ``"hutchinson"`` or ``"hutch++"``.
        low_rank_part: Hutch++ ``tr(Q^T A Q)`` (0 for Hutchinson).
        meta: seed, dtype, conventions.
    """

    estimate: float
    stderr: float
    num_matvecs: int
    samples: np.ndarray
    method: str
    low_rank_part: float = 0.0
    meta: Metadata = field(default_factory=Metadata)

    kind = "trace"

    def interval(self, z: float = 1.96) -> tuple[float, float]:
        """``estimate -+ z * stderr``."""
        return (self.estimate - z * self.stderr, self.estimate + z * self.stderr)


def _check_common(probes: str, batch_size: int | None) -> None:
    if probes not in PROBE_KINDS:
        raise InputError(f"probes must be one of {PROBE_KINDS}, got {probes!r}")
    if batch_size is not None and (not isinstance(batch_size, (int, np.integer)) or batch_size < 1):
        raise InputError(f"batch_size must be a positive integer or None, got {batch_size!r}")


def _quad_samples(
    op: CurvatureOperator,
    num: int,
    rng: np.random.Generator,
    probes: str,
    batch_size: int,
    Q: torch.Tensor | None = None,
    stop: Callable[[np.ndarray], bool] | None = None,
) -> np.ndarray:
    """Up to ``num`` samples ``z^T P A P z`` with ``P = I - Q Q^T`` (``P = I`` if ``Q`` is None).

    After each batch, ``stop(samples_so_far)`` may end the sampling early.
    """
    n = op.shape[0]
    streams = rng.spawn(num)  # one stream per probe: results do not depend on the batching
    out: list[np.ndarray] = []
    done = 0
    while done < num:
        c = min(batch_size, num - done)
        # probes as rows (c, n), passed as the (n, c) view Z: each probe is contiguous, which
        # is the layout the operators and the float64 casts handle without copies
        rows = torch.stack(
            [probe_block(n, 1, streams[done + i], probes, op.device)[:, 0] for i in range(c)]
        )
        if Q is not None:
            rows, _ = cgs2_rows(Q.T, rows)  # row layout: 2x faster than cgs2 at P = 1e6
        Z = rows.T
        AZ = apply64(op, Z)
        # z_i^T A z_i for each column, as batched dot products (no (n, c) temporary)
        out.append(torch.einsum("ji,ji->i", Z, AZ).cpu().numpy())
        done += c
        if stop is not None and stop(np.concatenate(out)):
            break
    return np.concatenate(out) if out else np.zeros(0)


def _metadata(
    op: CurvatureOperator, seed: int | None, rng_how: str, method: str, **conv: object
) -> Metadata:
    conventions = operator_conventions(op)
    conventions.update({"method": method, "rng": rng_how, **conv})
    return Metadata.create(seed=seed, dtype=dtype_name(op.dtype), conventions=conventions)


def hutchinson_trace(
    op: Any,
    num_probes: int = 100,
    *,
    rng: Any = DEFAULT_SEED,
    probes: str = "rademacher",
    batch_size: int | None = None,
    rtol: float | None = None,
    min_probes: int = 10,
    size: int | None = None,
    seed: Any = UNSET,
) -> TraceResult:
    """Hutchinson's estimate of tr A with its standard error.

    Args:
        op: a symmetric linear operator: a hessrmt operator, a square matrix (torch or NumPy), a
            :class:`scipy.sparse.linalg.LinearOperator`, a curvlinops-style operator or a
            ``matvec`` callable with ``size=`` (see :mod:`hessrmt.curvature.adapters`).
        num_probes: number of probes N (>= 2 for a standard error); the maximum when ``rtol``
            is given.
        rng: randomness of the probes: an int seed (default 0), a NumPy or torch Generator, or
            None (fresh entropy); recorded. Probe ``i`` is the same whatever ``batch_size`` and
            ``rtol``, so an early-stopped run is a prefix of the full one.
        probes: ``"rademacher"`` (default, lower variance) or ``"gaussian"``.
        batch_size: probes per operator application (default ``min(N, 32)``).
        rtol: optional stopping rule on the standard error: stop after the first batch where
            ``stderr <= rtol * |estimate|`` and at least ``min_probes`` probes were used. (A
            data-dependent stopping time makes the SE slightly optimistic; use a generous
            ``min_probes``.)
        min_probes: minimum number of probes before ``rtol`` may stop the sampling.
        size: ``P``, needed only when ``op`` is a plain ``matvec`` callable.
        seed: alias of ``rng`` (the name used before).

    Example:
        >>> import numpy as np
        >>> tr = hutchinson_trace(np.diag([1.0, 2.0, 3.0]), num_probes=10, rng=0)
        >>> tr.estimate, tr.stderr  # Rademacher probes are exact on a diagonal matrix
        (6.0, 0.0)
    """
    op = as_operator(op, size)
    _check_common(probes, batch_size)
    if not isinstance(num_probes, (int, np.integer)) or num_probes < 2:
        raise InputError(
            f"num_probes must be an integer >= 2 (for a standard error), got {num_probes!r}"
        )
    if rtol is not None and not (np.isfinite(rtol) and rtol > 0):
        raise InputError(f"rtol must be a positive number or None, got {rtol!r}")
    if not isinstance(min_probes, (int, np.integer)) or min_probes < 2:
        raise InputError(f"min_probes must be an integer >= 2, got {min_probes!r}")
    bs = int(batch_size or min(num_probes, 32))
    rng, seed_used, rng_how = resolve_rng(rng, seed)
    start = op.num_matvecs

    def stop(x: np.ndarray) -> bool:
        if rtol is None or x.size < max(min_probes, 2):
            return False
        return bool(x.std(ddof=1) / math.sqrt(x.size) <= rtol * abs(x.mean()))

    samples = _quad_samples(op, int(num_probes), rng, probes, bs, stop=stop)
    est = float(samples.mean())
    se = float(samples.std(ddof=1) / math.sqrt(samples.size))
    return TraceResult(
        estimate=est,
        stderr=se,
        num_matvecs=int(op.num_matvecs - start),
        samples=samples,
        method="hutchinson",
        meta=_metadata(
            op,
            seed_used,
            rng_how,
            "hutchinson",
            probe=probes,
            num_probes=int(samples.size),
            max_probes=int(num_probes),
            stopping="fixed N" if rtol is None else f"stderr <= {rtol:g} |estimate|",
            stderr="std(samples, ddof=1) / sqrt(N)",
        ),
    )


def hutchpp_trace(
    op: Any,
    num_matvecs: int,
    *,
    rng: Any = DEFAULT_SEED,
    probes: str = "rademacher",
    batch_size: int | None = None,
    size: int | None = None,
    seed: Any = UNSET,
) -> TraceResult:
    """Hutch++ estimate of tr A (Meyer et al. 2021) using ``num_matvecs`` products.

    ``s = num_matvecs // 3`` (at most P) sketch vectors give ``Q = orth(A S)``; ``s`` more give
    ``A Q``; the remaining ``num_matvecs - 2 s`` (>= 2) are Hutchinson probes of the deflated
    operator ``(I - QQ^T) A (I - QQ^T)``. When ``Q`` spans the whole space the estimate is exact
    and the remaining budget is not spent. With ``s = P`` (``num_matvecs >= 3 P``) ``Q`` is
    completed to a basis of the whole space when ``A S`` lost directions (a singular sketch,
    which Rademacher probes give often in few dimensions, or a singular ``A``), so the estimate
    is then always exact, with at most ``2 P`` products.

    ``op``, ``rng`` (alias ``seed``), ``probes``, ``batch_size`` and ``size`` are as for
    :func:`hutchinson_trace`.

    Example:
        >>> import numpy as np
        >>> A = np.diag([1.0, 2.0, 3.0])
        >>> tr = hutchpp_trace(A, num_matvecs=9, rng=0, probes="gaussian")
        >>> round(tr.estimate, 10), tr.meta.conventions["sketch_size"]  # Q spans R^3: exact
        (6.0, 3)
    """
    op = as_operator(op, size)
    _check_common(probes, batch_size)
    if not isinstance(num_matvecs, (int, np.integer)) or num_matvecs < 4:
        raise InputError(f"num_matvecs must be an integer >= 4 for Hutch++, got {num_matvecs!r}")
    n = op.shape[0]
    s = min(int(num_matvecs) // 3, n)
    rest = int(num_matvecs) - 2 * s
    rng, seed_used, rng_how = resolve_rng(rng, seed)
    start = op.num_matvecs
    S = probe_block(n, s, rng, probes, op.device)
    AS = apply64(op, S)
    Q, R = torch.linalg.qr(AS)
    diag = torch.diagonal(R).abs()
    tiny = 100 * n * float(np.finfo(np.float64).eps) * float(diag.max()) if diag.numel() else 0.0
    Q = Q[:, diag > tiny]
    if s == n and Q.shape[1] < n:
        # A S lost directions (a singular sketch, e.g. Rademacher in few dimensions, or a
        # singular A): complete Q to a basis of the whole space, so that the estimate is exact
        # (s + n <= num_matvecs products in all).
        full, _ = torch.linalg.qr(Q, mode="complete") if Q.shape[1] else (None, None)
        extra = full[:, Q.shape[1] :] if full is not None else torch.eye(n, dtype=Q.dtype)
        Q = torch.cat([Q, extra.to(Q.device)], dim=1)
    AQ = apply64(op, Q) if Q.shape[1] else Q
    low = float((Q * AQ).sum())
    if Q.shape[1] >= n:
        samples = np.zeros(0)
        est, se = low, 0.0
    else:
        bs = int(batch_size or min(rest, 32))
        samples = _quad_samples(op, rest, rng, probes, bs, Q=Q)
        est = low + float(samples.mean())
        se = float(samples.std(ddof=1) / math.sqrt(samples.size))
    return TraceResult(
        estimate=est,
        stderr=se,
        num_matvecs=int(op.num_matvecs - start),
        samples=samples,
        method="hutch++",
        low_rank_part=low,
        meta=_metadata(
            op,
            seed_used,
            rng_how,
            "hutch++",
            probe=probes,
            sketch_size=int(Q.shape[1]),
            num_hutchinson=int(samples.size),
            stderr="SE of the Hutchinson part on (I - QQ^T) A (I - QQ^T), conditional on Q",
        ),
    )
