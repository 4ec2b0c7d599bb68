"""The linear-operator protocol shared by the curvature operators and the algorithms on them.

A :class:`CurvatureOperator` is a symmetric P x P linear map applied to torch tensors. Subclasses
implement :meth:`CurvatureOperator._matmat` (a P x k block in, a P x k block out, on the operator's
device and dtype); the base class validates input, counts matrix-vector products (one per column)
and offers what users of SciPy's ``LinearOperator`` and of curvlinops expect:

* ``A @ v`` / ``A @ V`` for a vector (P,) or a block (P, k) (a torch tensor, a NumPy array or a
  nested list), and ``A @ [t_1, ..., t_m]`` for a list of parameter-shaped tensors (each of the
  parameter's shape, or that shape with a trailing column dimension k, curvlinops' list format),
  which returns a list of the same shapes. Products are torch tensors on the operator's device in
  its dtype; ``matvec(v, numpy=True)`` / ``matmat(V, numpy=True)`` return NumPy arrays.
* ``A + B``, ``A - B``, ``a * A``, ``A * a``, ``A / a``, ``-A``, ``sum([A, B, ...])``: lazy
  sums and scalings (:class:`SumOperator`, :class:`ScaledOperator`), products computed term by
  term.
* ``A.T``, ``A.H``, ``A.adjoint()``, ``A.transpose()``: the operator itself (symmetric, real).
* :meth:`CurvatureOperator.to_scipy`: a :class:`scipy.sparse.linalg.LinearOperator`.

Anything else (a wrong shape, a string, an operator of another size, dtype or device) is an
:class:`hessrmt.errors.InputError` naming what is wrong. Operators compute in float32 or
float64 only (:func:`check_dtype`): float16 and bfloat16 have too few digits for curvature
(products lose 3-4 digits and overflow), so they are refused up front.
"""

from __future__ import annotations

import abc
import numbers
from typing import Any

import numpy as np
import torch

from hessrmt.errors import InputError

#: The dtypes an operator computes in.
SUPPORTED_DTYPES = (torch.float32, torch.float64)


def check_dtype(dtype: Any, what: str = "dtype") -> torch.dtype:
    """``dtype`` if it is float32 or float64, else an :class:`InputError` saying what to pass."""
    if dtype in (torch.float16, torch.bfloat16):
        raise InputError(
            f"{what} is {str(dtype).replace('torch.', '')}, too few digits for curvature "
            "(products overflow and lose most digits); compute in float32 or float64 "
            "(dtype=torch.float32 casts the parameters and data)"
        )
    if dtype not in SUPPORTED_DTYPES:
        raise InputError(f"{what} must be float32 or float64 (a torch dtype), got {dtype}")
    return dtype


class CurvatureOperator(abc.ABC):
    """A symmetric linear operator on R^P acting on torch tensors.

    Attributes:
        shape: (P, P).
        dtype: torch dtype of inputs and outputs (float32 or float64).
        device: torch device of inputs and outputs.
        num_matvecs: number of operator-vector products applied so far (k per P x k block).
        on_products: optional callable, called with k after each P x k block (progress bars).
        param_shapes: the shapes of the parameter blocks of a vector (for ``A @ list``);
            one block (P,) unless a subclass sets it.
    """

    shape: tuple[int, int]
    dtype: torch.dtype
    device: torch.device
    param_shapes: list[torch.Size]
    #: NumPy defers to the operator's reflected methods (``x @ A``, ``x + A``) instead of
    #: broadcasting over it element by element
    __array_ufunc__ = None
    #: called with the number of products after each block (e.g. a progress bar); None: nothing
    on_products: Any = None

    def __init__(self, size: int, dtype: torch.dtype, device: torch.device | str) -> None:
        if size <= 0:
            raise InputError(f"operator size must be positive, got {size}")
        self.shape = (int(size), int(size))
        self.dtype = check_dtype(dtype)
        self.device = torch.device(device)
        self.num_matvecs = 0
        if not hasattr(self, "param_shapes"):
            self.param_shapes = [torch.Size([int(size)])]

    @abc.abstractmethod
    def _matmat(self, V: torch.Tensor) -> torch.Tensor:
        """Apply the operator to a (P, k) block on ``self.device`` in ``self.dtype``."""

    def _as_tensor(self, V: Any, what: str) -> torch.Tensor:
        if isinstance(V, torch.Tensor):
            return V
        if isinstance(V, (np.ndarray, list, tuple, numbers.Number)):
            try:
                arr = np.asarray(V)
            except (ValueError, TypeError) as exc:
                raise InputError(f"cannot read {what} as an array: {exc}") from None
            if arr.dtype.kind in "fiub":
                return torch.as_tensor(arr)
            if arr.dtype.kind == "c":
                raise InputError(f"{what} is complex; the operator acts on real vectors")
            raise InputError(f"{what} must be numeric, got an array of {arr.dtype}")
        raise InputError(
            f"expected a torch tensor, a NumPy array or a list of parameter-shaped tensors as "
            f"{what}, got {type(V).__name__}"
        )

    def _finish(self, out: torch.Tensor, numpy: bool) -> Any:
        return out.detach().cpu().numpy() if numpy else out

    def matmat(self, V: Any, *, numpy: bool = False) -> Any:
        """Apply the operator to the columns of ``V`` (shape (P, k)); one data pass for all."""
        V = self._as_tensor(V, "the block")
        if V.is_complex():
            raise InputError("the block is complex; the operator acts on real vectors")
        if V.ndim != 2 or V.shape[0] != self.shape[0]:
            raise InputError(
                f"expected a ({self.shape[0]}, k) block of vectors, got shape {tuple(V.shape)}"
            )
        V = V.to(device=self.device, dtype=self.dtype)
        out = self._matmat(V)
        self.num_matvecs += V.shape[1]
        if self.on_products is not None:
            self.on_products(V.shape[1])
        return self._finish(out, numpy)

    def matvec(self, v: Any, *, numpy: bool = False) -> Any:
        """Apply the operator to one vector of length P."""
        v = self._as_tensor(v, "the vector")
        if v.ndim != 1 or v.shape[0] != self.shape[0]:
            raise InputError(f"expected a vector of length {self.shape[0]}, got {tuple(v.shape)}")
        return self._finish(self.matmat(v[:, None])[:, 0], numpy)

    def _matmul_list(self, vs: list[Any]) -> list[torch.Tensor]:
        shapes = self.param_shapes
        if len(vs) != len(shapes) or not all(isinstance(t, torch.Tensor) for t in vs):
            raise InputError(
                f"expected a list of {len(shapes)} tensors of the parameter shapes "
                f"{[tuple(s) for s in shapes]}, got {len(vs)} item(s)"
            )
        k = None
        if all(tuple(t.shape) == tuple(s) for t, s in zip(vs, shapes)):
            k = 0
        elif all(
            t.ndim == len(s) + 1 and tuple(t.shape[:-1]) == tuple(s) for t, s in zip(vs, shapes)
        ):
            ks = {int(t.shape[-1]) for t in vs}
            if len(ks) == 1:
                k = ks.pop()
        if k is None:
            raise InputError(
                "each tensor of the list must have its parameter's shape "
                f"{[tuple(s) for s in shapes]}, or that shape with one trailing column "
                f"dimension k (the same k for all); got {[tuple(t.shape) for t in vs]}"
            )
        cols = max(k, 1)
        V = torch.cat(
            [t.to(device=self.device, dtype=self.dtype).reshape(-1, cols) for t in vs], dim=0
        )
        out = self.matmat(V)
        res, start = [], 0
        for s in shapes:
            n = s.numel()
            block = out[start : start + n]
            res.append(block.reshape(*s) if k == 0 else block.reshape(*s, k))
            start += n
        return res

    def __matmul__(self, other: Any) -> Any:
        if isinstance(other, CurvatureOperator):
            raise InputError("operator @ operator is not supported; apply them one after another")
        if isinstance(other, list) and other and isinstance(other[0], torch.Tensor):
            return self._matmul_list(other)
        V = self._as_tensor(other, "the right-hand side")
        if V.ndim == 1:
            return self.matvec(V)
        if V.ndim == 2:
            return self.matmat(V)
        raise InputError(f"expected a vector (P,) or a block (P, k), got shape {tuple(V.shape)}")

    def __rmatmul__(self, other: Any) -> Any:  # v @ A = (A^T v)^T = A v (symmetric)
        V = self._as_tensor(other, "the left-hand side")
        if V.ndim == 1:
            return self.matvec(V)
        if V.ndim == 2:
            return self.matmat(V.T).T
        raise InputError(f"expected a vector (P,) or a block (k, P), got shape {tuple(V.shape)}")

    # -- algebra ------------------------------------------------------------------------------

    @property
    def T(self) -> CurvatureOperator:
        """The transpose: the operator itself (symmetric)."""
        return self

    @property
    def H(self) -> CurvatureOperator:
        """The adjoint: the operator itself (real symmetric)."""
        return self

    def adjoint(self) -> CurvatureOperator:
        """The adjoint: the operator itself (real symmetric)."""
        return self

    def transpose(self) -> CurvatureOperator:
        """The transpose: the operator itself (symmetric)."""
        return self

    def _addend(self, other: Any) -> CurvatureOperator | None:
        if isinstance(other, CurvatureOperator):
            return other
        if isinstance(other, (numbers.Number, torch.Tensor, np.ndarray)):
            raise InputError(
                f"cannot add a {type(other).__name__} to an operator: add operators (A + B), "
                "scale them (a * A), or add a multiple of the identity as "
                "DenseOperator(c * torch.eye(P))"
            )
        return None

    def __add__(self, other: Any) -> CurvatureOperator:
        op = self._addend(other)
        return NotImplemented if op is None else SumOperator(self, op)

    def __radd__(self, other: Any) -> CurvatureOperator:
        if isinstance(other, numbers.Number) and not isinstance(other, bool) and other == 0:
            return self  # sum([A, B, ...]) starts from 0
        op = self._addend(other)
        return NotImplemented if op is None else SumOperator(op, self)

    def __sub__(self, other: Any) -> CurvatureOperator:
        op = self._addend(other)
        return NotImplemented if op is None else SumOperator(self, ScaledOperator(op, -1.0))

    def __mul__(self, other: Any) -> CurvatureOperator:
        if isinstance(other, CurvatureOperator):
            raise InputError("operator * operator is not supported; use a scalar factor")
        return ScaledOperator(self, other)

    __rmul__ = __mul__

    def __truediv__(self, other: Any) -> CurvatureOperator:
        scalar = _real_scalar(other)
        if scalar == 0:
            raise InputError("division of an operator by zero")
        return ScaledOperator(self, 1.0 / scalar)

    def __neg__(self) -> CurvatureOperator:
        return ScaledOperator(self, -1.0)

    def closed_form_matrix(self) -> tuple[torch.Tensor, str] | None:
        """The dense P x P matrix in closed form and its method's name, where the operator knows
        one (:func:`hessrmt.curvature.dense.dense_matrix` then skips the products); None here."""
        return None

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


def _real_scalar(a: Any) -> float:
    if isinstance(a, torch.Tensor) and a.numel() == 1 and not a.is_complex():
        a = a.item()
    elif isinstance(a, np.ndarray) and a.size == 1 and a.dtype.kind in "fiu":
        a = a.item()
    if isinstance(a, bool) or not isinstance(a, numbers.Real):
        raise InputError(f"an operator can be scaled by a real number only, got {type(a).__name__}")
    if not np.isfinite(float(a)):
        raise InputError(f"the scale factor {a} is not finite")
    return float(a)


def _check_compatible(A: CurvatureOperator, B: CurvatureOperator) -> None:
    for what in ("shape", "dtype", "device"):
        if getattr(A, what) != getattr(B, what):
            raise InputError(
                f"cannot add operators of different {what}: {getattr(A, what)} and "
                f"{getattr(B, what)}"
            )


class SumOperator(CurvatureOperator):
    """A + B, applied term by term (each term counts its own products too)."""

    def __init__(self, *terms: CurvatureOperator) -> None:
        flat: list[CurvatureOperator] = []
        for t in terms:
            flat.extend(t.terms if isinstance(t, SumOperator) else [t])
        for t in flat[1:]:
            _check_compatible(flat[0], t)
        self.terms = flat
        self.param_shapes = list(flat[0].param_shapes)
        super().__init__(flat[0].shape[0], flat[0].dtype, flat[0].device)

    def _matmat(self, V: torch.Tensor) -> torch.Tensor:
        out = self.terms[0].matmat(V)
        for t in self.terms[1:]:
            out = out + t.matmat(V)
        return out

    def conventions(self) -> dict[str, Any]:
        return {**super().conventions(), "terms": [t.conventions() for t in self.terms]}


class ScaledOperator(CurvatureOperator):
    """a A for a real number a."""

    def __init__(self, op: CurvatureOperator, scale: Any) -> None:
        a = _real_scalar(scale)
        if isinstance(op, ScaledOperator):
            op, a = op.op, a * op.scale
        self.op = op
        self.scale = a
        self.param_shapes = list(op.param_shapes)
        super().__init__(op.shape[0], op.dtype, op.device)

    def _matmat(self, V: torch.Tensor) -> torch.Tensor:
        return self.op.matmat(V) * self.scale

    def conventions(self) -> dict[str, Any]:
        return {**super().conventions(), "scale": self.scale, "of": self.op.conventions()}


class DenseOperator(CurvatureOperator):
    """A symmetric matrix held in memory, as an operator (tests, small problems, baselines).

    Integer and boolean matrices are read as float64; complex, float16 and bfloat16 matrices are
    refused (the operators are real, in float32 or float64).
    """

    def __init__(self, matrix: Any, *, check_symmetric: bool = True) -> None:
        if isinstance(matrix, torch.Tensor):
            M = matrix
        else:
            try:
                M = torch.as_tensor(np.asarray(matrix))
            except (TypeError, ValueError) as exc:
                raise InputError(f"cannot read the matrix as an array: {exc}") from None
        if M.ndim != 2 or M.shape[0] != M.shape[1]:
            raise InputError(f"expected a square matrix, got shape {tuple(M.shape)}")
        if M.is_complex():
            raise InputError("the matrix is complex; DenseOperator holds real symmetric matrices")
        if not M.is_floating_point():
            M = M.to(torch.float64)
        check_dtype(M.dtype, "the matrix's dtype")
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
