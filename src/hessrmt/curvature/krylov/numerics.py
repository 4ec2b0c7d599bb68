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

from hessrmt.curvature.adapters import as_linear_operator
from hessrmt.curvature.linop import CurvatureOperator
from hessrmt.errors import InputError
from hessrmt.rng import as_generator, seed_of

WORK_DTYPE = torch.float64
PROBE_KINDS = ("rademacher", "gaussian")
#: the default of ``rng`` in every Krylov algorithm: seed 0 (reproducible unless asked otherwise)
DEFAULT_SEED = 0


class _Unset:
    def __repr__(self) -> str:
        return "<unset>"


#: marks ``seed=`` as not given (``seed=None`` is a request for fresh OS entropy)
UNSET: Any = _Unset()


def as_operator(op: Any, size: int | None = None) -> CurvatureOperator:
    """Any accepted linear operator as a CurvatureOperator (see
    :func:`hessrmt.curvature.adapters.as_linear_operator`)."""
    return as_linear_operator(op, size)


def resolve_rng(rng: Any, seed: Any = UNSET) -> tuple[np.random.Generator, int | None, str]:
    """The NumPy generator of a Krylov algorithm, the seed to record, and how it was made.

    ``rng``: an int seed, a :class:`numpy.random.Generator`, a :class:`torch.Generator` (one
    64-bit seed is drawn from it, advancing it, and recorded) or None (fresh OS entropy, not
    reproducible). ``seed``: the older name of the same argument; giving both is an error unless
    ``rng`` is left at its default.
    """
    if seed is not UNSET:
        if not (isinstance(rng, int) and rng == DEFAULT_SEED and type(rng) is int):
            raise InputError("give rng= or its alias seed=, not both")
        rng = seed
    if isinstance(rng, torch.Generator):
        drawn = int(torch.randint(0, 2**62, (1,), generator=rng, device=rng.device).item())
        return np.random.default_rng(drawn), drawn, f"seed {drawn} drawn from a torch.Generator"
    if isinstance(rng, bool):
        raise InputError(f"rng must be an int seed, a Generator or None, got {rng!r}")
    gen = as_generator(rng)
    if isinstance(rng, np.random.Generator):
        how = "numpy Generator passed by the caller (its state advances)"
    elif rng is None:
        how = "fresh OS entropy (not reproducible)"
    else:
        how = f"seed {int(rng)}"
    return gen, seed_of(rng), how


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
