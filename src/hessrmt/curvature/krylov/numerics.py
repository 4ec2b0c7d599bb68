"""Numerics shared by the Krylov algorithms (:mod:`~hessrmt.curvature.krylov.eigensolver`,
:mod:`~hessrmt.curvature.krylov.stochastic_quadrature`, :mod:`~hessrmt.curvature.krylov.traces`).

Numerics policy, in one place:

* Work vectors, Krylov bases, projections and every scalar coefficient are **float64** on the
  operator's device, whatever the operator's own dtype. The operator is applied in its dtype
  (e.g. float32) and its output is promoted to float64 at once (:func:`apply64`), so only the
  matrix-vector product itself carries the operator's rounding error.
* Orthogonalisation is classical Gram-Schmidt applied twice (CGS2, "twice is enough", Giraud et
  al. 2005), written as matrix products.
* Probe vectors are drawn with NumPy from a seeded :class:`numpy.random.Generator` and moved to
  the device, so the same seed gives the same probes on every device.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch

from hessrmt.curvature.linop import CurvatureOperator, DenseOperator
from hessrmt.errors import InputError

WORK_DTYPE = torch.float64
PROBE_KINDS = ("rademacher", "gaussian")


def as_operator(op: Any) -> CurvatureOperator:
    """``op`` itself if a :class:`CurvatureOperator`; a square matrix becomes a DenseOperator."""
    if isinstance(op, CurvatureOperator):
        return op
    if isinstance(op, (np.ndarray, torch.Tensor)):
        return DenseOperator(op)
    raise InputError(
        f"expected a CurvatureOperator or a square matrix, got {type(op).__name__}; wrap your "
        "linear map in a hessrmt.curvature.linop.CurvatureOperator subclass"
    )


def dtype_name(dtype: torch.dtype) -> str:
    """``torch.float32`` -> ``"float32"``."""
    return str(dtype).replace("torch.", "")


def operator_conventions(op: CurvatureOperator) -> dict[str, Any]:
    """The operator's conventions plus its size (for result metadata)."""
    conv = dict(op.conventions())
    conv.setdefault("operator", type(op).__name__)
    conv["size"] = int(op.shape[0])
    conv["operator_dtype"] = dtype_name(op.dtype)
    return conv


def apply64(op: CurvatureOperator, V: torch.Tensor) -> torch.Tensor:
    """``op @ V`` with ``V`` cast to the operator's dtype and the result promoted to float64.

    Raises :class:`InputError` when a product is not finite (NaN/inf: a diverged model, bad
    data, or a float16 operator that overflowed), instead of letting it surface later as a
    LAPACK error or a NaN estimate.
    """
    out = op.matmat(V.to(dtype=op.dtype)).to(dtype=WORK_DTYPE)
    # one cheap reduction: a NaN or inf anywhere makes the float64 sum non-finite; the exact
    # element-wise test runs only then (a finite sum can overflow only past ~1e308)
    if not bool(torch.isfinite(out.sum())) and not bool(torch.isfinite(out).all()):
        raise InputError(
            f"the operator returned non-finite values (nan/inf) for a product in {op.dtype}; "
            "check the model's parameters and data, or use a wider dtype"
        )
    return out


def probe_block(
    n: int, k: int, rng: np.random.Generator, kind: str, device: torch.device
) -> torch.Tensor:
    """An (n, k) float64 block of independent probes with E[z z^T] = I.

    ``"rademacher"``: entries +-1 with probability 1/2; ``"gaussian"``: standard normal entries.
    """
    if kind == "rademacher":
        Z = rng.integers(0, 2, size=(n, k)).astype(np.float64) * 2.0 - 1.0
    elif kind == "gaussian":
        Z = rng.standard_normal((n, k))
    else:
        raise InputError(f"probes must be one of {PROBE_KINDS}, got {kind!r}")
    return torch.as_tensor(Z, dtype=WORK_DTYPE, device=device)


def cgs2(V: torch.Tensor, R: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Orthogonalise the columns of ``R`` against the orthonormal columns of ``V`` (CGS2).

    Returns ``(R - V H, H)`` with ``H = V^T R`` accumulated over both passes.
    """
    if V.shape[1] == 0:
        return R, torch.zeros((0, R.shape[1]), dtype=R.dtype, device=R.device)
    H = V.T @ R
    R = R - V @ H
    H2 = V.T @ R
    R = R - V @ H2
    return R, H + H2


def cgs2_rows(Vt: torch.Tensor, Rt: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """CGS2 in row layout: orthogonalise the rows of ``Rt`` (b, n) against the orthonormal rows
    of ``Vt`` (j, n). Returns ``(Rt - H Vt, H)`` with ``H = Rt Vt^T`` (b, j) over both passes.

    Row layout keeps every basis vector contiguous in memory (fast for large n).
    """
    if Vt.shape[0] == 0:
        return Rt, torch.zeros((Rt.shape[0], 0), dtype=Rt.dtype, device=Rt.device)
    H = Rt @ Vt.T
    Rt = Rt - H @ Vt
    H2 = Rt @ Vt.T
    Rt = Rt - H2 @ Vt
    return Rt, H + H2


def orthonormal_rows(Rt: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Thin QR of the rows: ``Rt = B^T Qt`` with orthonormal rows ``Qt`` (b, n), ``B`` (b, b)
    upper triangular, i.e. ``Rt^T = Qt^T B`` is the QR factorisation of the columns."""
    Q, B = torch.linalg.qr(Rt.T)
    return Q.T.contiguous(), B


def random_orthonormal_rows(
    Vt: torch.Tensor, k: int, rng: np.random.Generator, device: torch.device
) -> torch.Tensor:
    """``k`` orthonormal Gaussian directions (rows, (k, n)) orthogonal to the rows of ``Vt``."""
    n = Vt.shape[1]
    Zt = probe_block(n, k, rng, "gaussian", device).T.contiguous()
    for _ in range(2):
        Zt, _ = cgs2_rows(Vt, Zt)
        Zt, _ = orthonormal_rows(Zt)
    return Zt
