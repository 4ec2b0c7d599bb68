"""The linear-operator protocol shared by the curvature operators and the algorithms on them.

A :class:`CurvatureOperator` is a symmetric P x P linear map applied to torch tensors. Subclasses
implement :meth:`CurvatureOperator._matmat` (a P x k block in, a P x k block out, on the operator's
device and dtype); the base class validates input, counts matrix-vector products (one per column)
and offers ``@``, :meth:`matvec`, and export to :class:`scipy.sparse.linalg.LinearOperator`.
"""

from __future__ import annotations

import abc
from typing import Any

import numpy as np
import torch

from hessrmt.errors import InputError


class CurvatureOperator(abc.ABC):
    """A symmetric linear operator on R^P acting on torch tensors.

    Attributes:
        shape: (P, P).
        dtype: torch dtype of inputs and outputs.
        device: torch device of inputs and outputs.
        num_matvecs: number of operator-vector products applied so far (k per P x k block).
    """

    shape: tuple[int, int]
    dtype: torch.dtype
    device: torch.device

    def __init__(self, size: int, dtype: torch.dtype, device: torch.device | str) -> None:
        if size <= 0:
            raise InputError(f"operator size must be positive, got {size}")
        self.shape = (int(size), int(size))
        self.dtype = dtype
        self.device = torch.device(device)
        self.num_matvecs = 0

    @abc.abstractmethod
    def _matmat(self, V: torch.Tensor) -> torch.Tensor:
        """Apply the operator to a (P, k) block on ``self.device`` in ``self.dtype``."""

    def matmat(self, V: torch.Tensor) -> torch.Tensor:
        """Apply the operator to the columns of ``V`` (shape (P, k)); one data pass for all."""
        if not isinstance(V, torch.Tensor):
            V = torch.as_tensor(np.asarray(V))
        if V.ndim != 2 or V.shape[0] != self.shape[0]:
            raise InputError(
                f"expected a ({self.shape[0]}, k) block of vectors, got shape {tuple(V.shape)}"
            )
        V = V.to(device=self.device, dtype=self.dtype)
        out = self._matmat(V)
        self.num_matvecs += V.shape[1]
        return out

    def matvec(self, v: torch.Tensor) -> torch.Tensor:
        """Apply the operator to one vector of length P."""
        if not isinstance(v, torch.Tensor):
            v = torch.as_tensor(np.asarray(v))
        if v.ndim != 1 or v.shape[0] != self.shape[0]:
            raise InputError(f"expected a vector of length {self.shape[0]}, got {tuple(v.shape)}")
        return self.matmat(v[:, None])[:, 0]

    def __matmul__(self, other: torch.Tensor) -> torch.Tensor:
        return self.matvec(other) if other.ndim == 1 else self.matmat(other)

    def to_scipy(self) -> Any:
        """A :class:`scipy.sparse.linalg.LinearOperator` (float64 NumPy in and out)."""
        from scipy.sparse.linalg import LinearOperator

        def mm(X: np.ndarray) -> np.ndarray:
            X2 = np.asarray(X).reshape(self.shape[0], -1)
            out = self.matmat(torch.as_tensor(X2))
            return out.detach().cpu().to(torch.float64).numpy().reshape(np.shape(X))

        return LinearOperator(
            self.shape, matvec=mm, matmat=mm, rmatvec=mm, rmatmat=mm, dtype=np.float64
        )

    def conventions(self) -> dict[str, Any]:
        """Conventions in force (loss reduction, BatchNorm mode, ...), for result metadata."""
        return {"operator": type(self).__name__, "dtype": str(self.dtype).replace("torch.", "")}


class DenseOperator(CurvatureOperator):
    """A symmetric matrix held in memory, as an operator (tests, small problems, baselines)."""

    def __init__(self, matrix: torch.Tensor | np.ndarray, *, check_symmetric: bool = True) -> None:
        M = torch.as_tensor(matrix)
        if M.ndim != 2 or M.shape[0] != M.shape[1]:
            raise InputError(f"expected a square matrix, got shape {tuple(M.shape)}")
        if not torch.isfinite(M).all():
            raise InputError("matrix has non-finite entries")
        if check_symmetric:
            scale = M.abs().max().clamp_min(torch.finfo(M.dtype).tiny)
            asym = (M - M.T).abs().max() / scale
            if asym > 100 * torch.finfo(M.dtype).eps:
                raise InputError(f"matrix is not symmetric (relative asymmetry {float(asym):.2e})")
        super().__init__(M.shape[0], M.dtype, M.device)
        self.matrix = M

    def _matmat(self, V: torch.Tensor) -> torch.Tensor:
        return self.matrix @ V
