"""Any symmetric linear operator as a :class:`~hessrmt.curvature.linop.CurvatureOperator`.

:func:`as_linear_operator` is the one entry point of the Krylov algorithms (``lanczos``,
``slq``, ``hutchinson_trace``, ``hutchpp_trace``). It accepts

* a hessrmt operator (any :class:`~hessrmt.curvature.linop.CurvatureOperator`), as is;
* a square matrix: a :class:`torch.Tensor` or a :class:`numpy.ndarray` (integer, boolean and
  half-precision entries are converted exactly to float64 / float32: the algorithms need
  floating-point products; complex matrices are refused);
* a :class:`scipy.sparse.linalg.LinearOperator` or a SciPy sparse matrix / array (applied to
  NumPy arrays);
* a curvlinops-style operator: any object with ``shape == (P, P)`` and ``matmat``, ``matvec`` or
  ``@`` (``__matmul__``); a ``dtype`` that is a :class:`torch.dtype` means it takes torch
  tensors (on its ``device``), otherwise NumPy arrays;
* a plain ``matvec`` callable with ``size=P``: it receives a float64 torch vector of length ``P``
  (on ``device``) and may return a torch tensor or anything NumPy converts.

Every operator is assumed symmetric (only a dense matrix is checked). Results that are vectors
(Lanczos eigenvectors) come back as NumPy arrays for NumPy and SciPy inputs and as torch
tensors on the operator's device otherwise (:func:`output_kind`).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Literal

import numpy as np
import torch

from hessrmt.curvature.linop import CurvatureOperator, DenseOperator
from hessrmt.errors import InputError

OutputKind = Literal["numpy", "torch"]

ACCEPTED = (
    "a hessrmt CurvatureOperator, a square torch.Tensor or numpy.ndarray, a "
    "scipy.sparse.linalg.LinearOperator or sparse matrix, an object with shape (P, P) and "
    "matmat/matvec/@ (curvlinops-style), or a matvec callable together with size=P"
)

_TORCH_DTYPES = {np.dtype(np.float32): torch.float32, np.dtype(np.float64): torch.float64}


def _float_dtype(dtype: Any, what: str) -> torch.dtype:
    """The floating torch dtype that holds values of ``dtype`` exactly (ints -> float64)."""
    if isinstance(dtype, torch.dtype):
        if dtype.is_complex:
            raise InputError(f"{what} is complex ({dtype}); only real symmetric operators work")
        if dtype in (torch.float16, torch.bfloat16):
            return torch.float32  # exact, and wide enough for the float64 recurrence
        return dtype if dtype.is_floating_point else torch.float64
    dt = np.dtype(dtype) if dtype is not None else np.dtype(np.float64)
    if dt.kind == "c":
        raise InputError(f"{what} is complex ({dt}); only real symmetric operators work")
    if dt.kind not in "biuf":
        raise InputError(f"{what} has dtype {dt}; expected real numbers")
    return _TORCH_DTYPES.get(dt, torch.float64)


def _check_product_dtype(dtype: torch.dtype, what: str) -> None:
    """Refuse operators whose products are not float32 / float64 (one clear line, up front)."""
    if dtype not in (torch.float32, torch.float64):
        raise InputError(
            f"{what} computes in {dtype}; the Krylov algorithms need float32 or float64 products "
            "(half precision overflows and its round-off of ~1e-3 swamps the recurrence): "
            "build it with dtype=torch.float32 or torch.float64"
        )


class LinearOperatorAdapter(CurvatureOperator):
    """A symmetric linear map given by a function on (P, k) blocks, as a CurvatureOperator.

    ``apply`` receives a (P, k) block in ``dtype`` on ``device`` (torch) or its NumPy copy
    (``takes="numpy"``) and returns the product block in any array type.
    """

    def __init__(
        self,
        apply: Callable[[Any], Any],
        size: int,
        *,
        dtype: torch.dtype = torch.float64,
        device: torch.device | str = "cpu",
        takes: OutputKind = "torch",
        source: str = "callable",
    ) -> None:
        super().__init__(size, dtype, device)
        self._apply = apply
        self.takes = takes
        self.source = source

    def _matmat(self, V: torch.Tensor) -> torch.Tensor:
        X = V.detach().cpu().numpy() if self.takes == "numpy" else V
        try:
            Y = self._apply(X)
        except InputError:
            raise
        except Exception as exc:  # the user's map failed: say which and why, in one line
            raise InputError(
                f"applying the {self.source} to a ({self.shape[0]}, {V.shape[1]}) block failed: "
                f"{type(exc).__name__}: {exc}"
            ) from exc
        if isinstance(Y, torch.Tensor):
            Y = Y.detach()
        else:
            Y = torch.as_tensor(np.asarray(Y))
        if Y.is_complex():
            raise InputError(f"the {self.source} returned complex values")
        if Y.shape != V.shape:
            if Y.numel() == V.numel():
                Y = Y.reshape(V.shape)
            else:
                raise InputError(
                    f"the {self.source} returned shape {tuple(Y.shape)} for an input of shape "
                    f"{tuple(V.shape)}; it must map R^{self.shape[0]} to itself"
                )
        return Y.to(device=self.device, dtype=self.dtype)

    def conventions(self) -> dict[str, Any]:
        conv = super().conventions()
        conv["operator"] = f"LinearOperatorAdapter({self.source})"
        conv["assumed"] = "symmetric (not checked)"
        return conv


def _dense(M: torch.Tensor) -> CurvatureOperator:
    if M.ndim != 2 or M.shape[0] != M.shape[1]:
        raise InputError(f"expected a square matrix, got shape {tuple(M.shape)}")
    return DenseOperator(M.to(_float_dtype(M.dtype, "the matrix")))


def _block_apply(obj: Any) -> Callable[[Any], Any]:
    """The best block product of ``obj``: ``matmat``, else ``@``, else ``matvec`` per column."""
    if callable(getattr(obj, "matmat", None)):
        return obj.matmat
    if hasattr(type(obj), "__matmul__"):
        return lambda X: obj @ X
    matvec = obj.matvec

    def columns(X: Any) -> Any:
        cols = [matvec(X[:, i]) for i in range(X.shape[1])]
        if isinstance(X, torch.Tensor):
            return torch.stack([torch.as_tensor(c).reshape(-1) for c in cols], dim=1)
        return np.stack([np.asarray(c).reshape(-1) for c in cols], axis=1)

    return columns


def as_linear_operator(
    op: Any, size: int | None = None, *, device: torch.device | str | None = None
) -> CurvatureOperator:
    """``op`` as a :class:`CurvatureOperator` (module doc lists what is accepted).

    Args:
        op: the operator.
        size: ``P`` for a plain callable (ignored otherwise, but checked when given).
        device: device of the vectors handed to a plain callable (default CPU).

    Raises:
        InputError: for anything else, naming what is accepted.

    Example:
        >>> import torch
        >>> op = as_linear_operator(lambda v: 2.0 * v, size=3)
        >>> op.shape, op.dtype
        ((3, 3), torch.float64)
        >>> op @ torch.ones(3)
        tensor([2., 2., 2.], dtype=torch.float64)
    """
    if isinstance(op, CurvatureOperator):
        out: CurvatureOperator = op
        _check_product_dtype(op.dtype, f"the {type(op).__name__}")
    elif isinstance(op, torch.Tensor):
        out = _dense(op.detach())
    elif isinstance(op, np.ndarray):
        if op.dtype == object:
            raise InputError("the matrix has dtype object; expected real numbers")
        out = _dense(torch.from_numpy(np.ascontiguousarray(op)))
    elif _is_scipy_sparse(op):
        out = _wrap(op, takes="numpy", source=type(op).__name__)
    elif hasattr(op, "shape") and (
        callable(getattr(op, "matmat", None))
        or callable(getattr(op, "matvec", None))
        or hasattr(type(op), "__matmul__")
    ):
        takes: OutputKind = (
            "torch" if isinstance(getattr(op, "dtype", None), torch.dtype) else ("numpy")
        )
        out = _wrap(op, takes=takes, source=type(op).__name__)
    elif callable(op):
        if size is None:
            raise InputError(f"a matvec callable needs size=P (the vector length); {ACCEPTED}")
        if not isinstance(size, (int, np.integer)) or size < 1:
            raise InputError(f"size must be a positive integer, got {size!r}")
        matvec = op

        def columns(X: torch.Tensor) -> torch.Tensor:
            out = []
            for i in range(X.shape[1]):
                y = matvec(X[:, i])
                y = y if isinstance(y, torch.Tensor) else torch.as_tensor(np.asarray(y))
                out.append(y.reshape(-1).to(X.device))
            return torch.stack(out, dim=1)

        name = getattr(op, "__name__", type(op).__name__)
        out = LinearOperatorAdapter(
            columns, int(size), device=device or "cpu", source=f"callable {name}"
        )
    else:
        raise InputError(
            f"cannot use a {type(op).__name__} as a linear operator; expected {ACCEPTED}"
        )
    if size is not None and int(size) != out.shape[0]:
        raise InputError(f"size={size} does not match the operator's shape {out.shape}")
    return out


def _is_scipy_sparse(op: Any) -> bool:
    mod = type(op).__module__ or ""
    if not mod.startswith("scipy"):
        return False
    import scipy.sparse

    return bool(scipy.sparse.issparse(op))


def _wrap(obj: Any, *, takes: OutputKind, source: str) -> CurvatureOperator:
    shape = tuple(int(s) for s in obj.shape)
    if len(shape) != 2 or shape[0] != shape[1]:
        raise InputError(f"expected a square (P, P) operator, the {source} has shape {shape}")
    if takes == "torch":
        dtype = obj.dtype
        _check_product_dtype(dtype, f"the {source}")
        device = getattr(obj, "device", "cpu")
    else:
        dtype, device = _float_dtype(getattr(obj, "dtype", None), f"the {source}"), "cpu"
    return LinearOperatorAdapter(
        _block_apply(obj), shape[0], dtype=dtype, device=device, takes=takes, source=source
    )


def output_kind(op: Any) -> OutputKind:
    """``"numpy"`` for NumPy arrays, SciPy operators and NumPy-based objects, else ``"torch"``."""
    if isinstance(op, np.ndarray) or _is_scipy_sparse(op):
        return "numpy"
    if isinstance(op, LinearOperatorAdapter):
        return op.takes
    if isinstance(op, (CurvatureOperator, torch.Tensor)) or not hasattr(op, "shape"):
        return "torch"
    return "torch" if isinstance(getattr(op, "dtype", None), torch.dtype) else "numpy"


def as_output(X: torch.Tensor, kind: OutputKind) -> np.ndarray | torch.Tensor:
    """``X`` (float64, on the operator's device) as the requested array type."""
    if kind == "numpy":
        return np.ascontiguousarray(X.detach().cpu().numpy())
    return X
