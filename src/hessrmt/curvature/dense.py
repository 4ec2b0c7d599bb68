"""Dense curvature matrices and their eigenvalues.

:func:`dense_matrix` builds the P x P matrix of any :class:`CurvatureOperator` column block by
column block (operator applied to chunks of identity columns: one data pass per chunk, all
columns of a chunk in one vmapped pass), then symmetrises it, M <- (M + M^T) / 2, and measures the
asymmetry it removed (round-off, or a non-deterministic operator). It always returns the matrix
(a torch tensor); :func:`dense_matrix_with_info` returns the matrix and a
:class:`DenseMatrixInfo` (asymmetry, chunks, timing). Where the operator knows its matrix in
closed form (:meth:`hessrmt.curvature.linop.CurvatureOperator.closed_form_matrix`: softmax
regression, an ``nn.Linear`` with cross-entropy, :mod:`hessrmt.curvature.softmax`) that is used
instead, unless ``fast_path=False``.

:func:`eigenvalues` diagonalises a symmetric (or complex Hermitian) matrix with
``torch.linalg.eigvalsh`` / ``eigh`` (LAPACK syevd / heevd; on this project's CPU faster than
NumPy: 33 s against 84 s at n = 10,000).
"""

from __future__ import annotations

import dataclasses
import time
import warnings
from typing import Any

import numpy as np
import torch

from hessrmt.curvature.linop import CurvatureOperator
from hessrmt.errors import InputError
from hessrmt.results import Metadata, Result

#: Default number of identity columns per operator application when neither a chunk size nor a
#: memory budget is given. Measured here (2-core CPU, float64 MLP with P = 4,650, N = 512 in
#: batches of 128, double backward): chunks of 32 / 128 / 512 columns took 36 / 24 / 31 s, against
#: 89 s for ``torch.func.hessian`` of the full-data loss.
DEFAULT_CHUNK_SIZE = 128


@dataclasses.dataclass(frozen=True)
class DenseMatrixInfo(Result):
    """How a dense matrix was built, and how symmetric it came out before symmetrisation.

    Attributes:
        num_params: P.
        chunk_size: identity columns per operator application (0 for the closed form).
        num_chunks: operator applications (data passes).
        num_matvecs: matrix-vector products spent.
        asymmetry_max: max |M - M^T| / max |M| of the raw matrix.
        asymmetry_fro: ||M - M^T||_F / (2 ||M||_F) of the raw matrix (the relative size of the
            removed antisymmetric part).
        symmetrized: whether the returned matrix is (M + M^T) / 2.
        method: "operator" or "closed-form softmax regression".
        seconds: wall-clock time.
        meta: metadata (dtype, the operator's conventions).
    """

    num_params: int
    chunk_size: int
    num_chunks: int
    num_matvecs: int
    asymmetry_max: float
    asymmetry_fro: float
    symmetrized: bool
    method: str
    seconds: float
    meta: Metadata = dataclasses.field(default_factory=Metadata)


def _chunk_size(P: int, itemsize: int, chunk_size: int | None, memory_budget: int | None) -> int:
    if chunk_size is not None:
        if not isinstance(chunk_size, (int, np.integer)) or chunk_size < 1:
            raise InputError(f"chunk_size must be a positive int, got {chunk_size!r}")
        return int(min(chunk_size, P))
    if memory_budget is not None:
        if memory_budget <= 0:
            raise InputError(f"memory_budget must be positive (bytes), got {memory_budget!r}")
        matrix = P * P * itemsize
        # per column: identity column, output column, accumulator row, flattened temporaries
        per_col = 4 * P * itemsize
        spare = memory_budget - matrix
        if spare < per_col:
            raise InputError(
                f"memory_budget={memory_budget} bytes is too small: the {P} x {P} matrix alone "
                f"takes {matrix} bytes and each column block needs {per_col} more"
            )
        return int(max(1, min(P, spare // per_col)))
    return min(P, DEFAULT_CHUNK_SIZE)


def _scan_(M: torch.Tensor, symmetrize: bool, block: int = 1024) -> dict[str, float | bool]:
    """One blockwise sweep over M (no P x P temporaries): finiteness, max |M|, ||M||_F, max and
    Frobenius norm of M - M^T; with ``symmetrize``, M <- (M + M^T)/2 in place on the way."""
    P = M.shape[0]
    amax, fro2, absmax, norm2, finite = 0.0, 0.0, 0.0, 0.0, True
    for i in range(0, P, block):
        I = slice(i, min(P, i + block))
        for j in range(i, P, block):
            J = slice(j, min(P, j + block))
            A = M[I, J]
            B = M[J, I].T
            finite = finite and bool(torch.isfinite(A).all()) and bool(torch.isfinite(B).all())
            absmax = max(absmax, float(A.abs().max()), float(B.abs().max()))
            D = A - B
            amax = max(amax, float(D.abs().max()))
            mult = 1.0 if i == j else 2.0
            fro2 += mult * float((D * D).sum())
            avg = (A + B) / 2
            norm2 += float((A * A).sum()) + (float((B * B).sum()) if i != j else 0.0)
            if symmetrize:
                M[I, J] = avg
                if i != j:
                    M[J, I] = avg.T
    return {"asym_max": amax, "asym_fro2": fro2, "absmax": absmax, "norm2": norm2, "finite": finite}


def dense_matrix(
    op: CurvatureOperator,
    *,
    chunk_size: int | None = None,
    memory_budget: int | None = None,
    progress: bool = False,
    symmetrize: bool = True,
    fast_path: bool | str = "auto",
    return_info: bool = False,
) -> torch.Tensor:
    """The P x P matrix of ``op`` (a torch tensor on ``op.device`` in ``op.dtype``); the
    arguments are those of :func:`dense_matrix_with_info`, which also returns how it was built.

    ``return_info=True`` is the old way of asking for the info: it still returns
    ``(matrix, info)``, with a DeprecationWarning; use :func:`dense_matrix_with_info`.
    """
    kwargs = {
        "chunk_size": chunk_size,
        "memory_budget": memory_budget,
        "progress": progress,
        "symmetrize": symmetrize,
        "fast_path": fast_path,
    }
    if return_info:
        warnings.warn(
            "dense_matrix(..., return_info=True) is deprecated: use dense_matrix_with_info(...), "
            "which always returns (matrix, info)",
            DeprecationWarning,
            stacklevel=2,
        )
        return dense_matrix_with_info(op, **kwargs)  # type: ignore[return-value]
    return dense_matrix_with_info(op, **kwargs)[0]


def dense_matrix_with_info(
    op: CurvatureOperator,
    *,
    chunk_size: int | None = None,
    memory_budget: int | None = None,
    progress: bool = False,
    symmetrize: bool = True,
    fast_path: bool | str = "auto",
) -> tuple[torch.Tensor, DenseMatrixInfo]:
    """The P x P matrix of ``op``, built from operator applications to identity-column chunks,
    and a :class:`DenseMatrixInfo` saying how (asymmetry removed, chunks, products, timing).

    Args:
        op: any curvature operator (P x P).
        chunk_size: identity columns per application (one data pass each). Default: from
            ``memory_budget`` if given, else :data:`DEFAULT_CHUNK_SIZE`.
        memory_budget: bytes for the matrix plus the column blocks (4 P-vectors per column). The
            autograd activations, which grow with chunk_size x the batch's activations, are not
            counted: lower ``chunk_size`` if those dominate.
        progress: show a tqdm progress bar over the chunks.
        symmetrize: return (M + M^T)/2 (default), else the raw column matrix.
        fast_path: "auto"/True: use the operator's closed form where it has one
            (:meth:`~hessrmt.curvature.linop.CurvatureOperator.closed_form_matrix`: softmax
            regression, ``nn.Linear`` + ``CrossEntropyLoss``); True raises when it has none;
            False: always the products.

    Returns:
        (matrix, info): the matrix a torch tensor on ``op.device`` in ``op.dtype``.
    """
    if not isinstance(op, CurvatureOperator):
        raise InputError(f"expected a CurvatureOperator, got {type(op).__name__}")
    P = op.shape[0]
    itemsize = torch.empty((), dtype=op.dtype).element_size()
    start = time.perf_counter()
    M = None
    method = "operator"
    if fast_path not in (False, "auto", True):
        raise InputError(f"fast_path must be True, False or 'auto', got {fast_path!r}")
    if fast_path:
        closed = op.closed_form_matrix()
        if closed is not None:
            M, method = closed
        elif fast_path is True:
            raise InputError("fast_path=True but the operator is not softmax regression")
    if M is None:
        c = _chunk_size(P, itemsize, chunk_size, memory_budget)
        M = torch.empty(P, P, dtype=op.dtype, device=op.device)
        starts = range(0, P, c)
        if progress:
            from tqdm.auto import tqdm

            starts = tqdm(starts, desc="dense matrix", unit="chunk", total=(P + c - 1) // c)
        for j in starts:
            k = min(c, P - j)
            E = torch.zeros(P, k, dtype=op.dtype, device=op.device)
            E[torch.arange(j, j + k), torch.arange(k)] = 1
            M[:, j : j + k] = op.matmat(E)
        num_chunks, num_matvecs = (P + c - 1) // c, P
    else:
        c, num_chunks, num_matvecs = 0, 0, 0
    scan = _scan_(M, symmetrize)
    if not scan["finite"]:
        raise InputError("the curvature matrix has non-finite entries; check the model and data")
    scale, norm = float(scan["absmax"]), float(scan["norm2"]) ** 0.5
    amax, fro2 = float(scan["asym_max"]), float(scan["asym_fro2"])
    info = DenseMatrixInfo(
        num_params=P,
        chunk_size=int(c),
        num_chunks=int(num_chunks),
        num_matvecs=int(num_matvecs),
        asymmetry_max=amax / scale if scale > 0 else 0.0,
        asymmetry_fro=(fro2**0.5) / (2 * norm) if norm > 0 else 0.0,
        symmetrized=bool(symmetrize),
        method=method,
        seconds=time.perf_counter() - start,
        meta=Metadata.create(
            dtype=str(op.dtype).replace("torch.", ""), conventions=op.conventions()
        ),
    )
    return M, info


def _hermitian_defect(M: torch.Tensor, block: int = 1024) -> float:
    """max |M - M^H| / max |M|, blockwise (no n x n temporaries)."""
    n = M.shape[0]
    amax, scale = 0.0, 0.0
    for i in range(0, n, block):
        I = slice(i, min(n, i + block))
        for j in range(i, n, block):
            J = slice(j, min(n, j + block))
            A, B = M[I, J], M[J, I].mT.conj()
            amax = max(amax, float((A - B).abs().max()))
            scale = max(scale, float(A.abs().max()), float(B.abs().max()))
    return amax / scale if scale > 0 else 0.0


def eigenvalues(
    matrix_or_op: Any,
    *,
    vectors: bool = False,
    **dense_kwargs: Any,
) -> Any:
    """Eigenvalues (ascending) of a symmetric (or complex Hermitian) matrix, or of a curvature
    operator's dense matrix.

    Uses ``torch.linalg.eigvalsh`` (values only) or ``torch.linalg.eigh`` (``vectors=True``),
    which read one triangle; the matrix is first checked to be symmetric (Hermitian) to
    sqrt(eps) of its dtype, relative to its largest entry (round-off passes; a non-symmetric
    matrix, whose eigenvalues these routines do not compute, is refused). Integer and boolean
    matrices are read as float64; float16 and bfloat16 are refused (LAPACK has no such
    routines: cast to float32 or float64).

    Args:
        matrix_or_op: a square torch tensor or NumPy array (real or complex), or a
            :class:`CurvatureOperator` (densified with :func:`dense_matrix`, ``dense_kwargs``
            passed on). A nested list is refused: wrap it in ``np.array``.
        vectors: also return the orthonormal eigenvectors (as columns).

    Returns:
        ``values`` or ``(values, vectors)``: NumPy arrays for a NumPy input, torch tensors
        otherwise. The values are real (the real dtype matching the input's); the
        vectors have the input's dtype (complex for a complex Hermitian matrix).

    Example:
        >>> eigenvalues(np.array([[1, 1j], [-1j, 1]]))
        array([0., 2.])
    """
    as_numpy = isinstance(matrix_or_op, np.ndarray)
    if isinstance(matrix_or_op, CurvatureOperator):
        M = dense_matrix(matrix_or_op, **dense_kwargs)
    elif dense_kwargs:
        raise InputError(f"unexpected arguments {sorted(dense_kwargs)} for a matrix input")
    elif isinstance(matrix_or_op, torch.Tensor):
        M = matrix_or_op
    elif isinstance(matrix_or_op, np.ndarray):
        if matrix_or_op.dtype.kind not in "fciub":
            raise InputError(f"the matrix must be numeric, got an array of {matrix_or_op.dtype}")
        M = torch.as_tensor(matrix_or_op)
    else:
        raise InputError(
            f"expected a matrix (torch tensor or NumPy array) or a CurvatureOperator, got "
            f"{type(matrix_or_op).__name__}"
        )
    if M.ndim != 2 or M.shape[0] != M.shape[1] or M.shape[0] == 0:
        raise InputError(f"expected a non-empty square matrix, got shape {tuple(M.shape)}")
    if M.dtype in (torch.float16, torch.bfloat16, torch.complex32):
        raise InputError(
            f"the matrix is {str(M.dtype).replace('torch.', '')}: no eigensolver works in that "
            "precision; cast it to float32 or float64 (complex64 or complex128)"
        )
    if not (M.is_floating_point() or M.is_complex()):
        M = M.to(torch.float64)
    if not torch.isfinite(M).all():
        raise InputError("the matrix has non-finite entries (nan/inf)")
    tol = torch.finfo(M.real.dtype if M.is_complex() else M.dtype).eps ** 0.5
    defect = _hermitian_defect(M)
    if defect > tol:
        kind = "Hermitian" if M.is_complex() else "symmetric"
        raise InputError(
            f"the matrix is not {kind} (max |M - M^H| / max |M| = {defect:.2e}); eigenvalues() "
            f"needs a {kind} matrix (dense_matrix symmetrises an operator's matrix)"
        )
    if vectors:
        w, V = torch.linalg.eigh(M)
        return (w.numpy(), V.numpy()) if as_numpy else (w, V)
    w = torch.linalg.eigvalsh(M)
    return w.numpy() if as_numpy else w
