"""Curvature of PyTorch losses: Hessian, Gauss-Newton and residual operators, dense matrices,
Lanczos, stochastic Lanczos quadrature and trace estimators.

Example (the top Hessian eigenvalue of a small model, by Lanczos and from the dense matrix):

>>> import torch
>>> from hessrmt.curvature import HessianOperator, dense_matrix, eigenvalues, lanczos
>>> gen = torch.Generator().manual_seed(0)
>>> x = torch.randn(20, 3, generator=gen, dtype=torch.float64)
>>> y = torch.randint(0, 2, (20,), generator=gen)
>>> model = torch.nn.Linear(3, 2).double()
>>> H = HessianOperator(model, torch.nn.CrossEntropyLoss(), [(x[:12], y[:12]), (x[12:], y[12:])])
>>> top = lanczos(H, k=1).eigenvalues[0]
>>> exact = float(eigenvalues(dense_matrix(H))[-1])
>>> bool(abs(top - exact) < 1e-10)
True

Every operator subclasses :class:`hessrmt.curvature.linop.CurvatureOperator` (shape, dtype,
device, ``matmat``), so the algorithms work on any of them; :mod:`hessrmt.curvature.adapters`
turns anything else (a matrix, a SciPy or curvlinops operator, a ``matvec`` function) into one.
The Krylov algorithms live in :mod:`hessrmt.curvature.krylov`.
"""

from hessrmt.curvature.adapters import as_linear_operator  # noqa: F401
from hessrmt.curvature.dense import (  # noqa: F401
    DenseMatrixInfo,
    dense_matrix,
    dense_matrix_with_info,
    eigenvalues,
)
from hessrmt.curvature.krylov import (  # noqa: F401
    LanczosResult,
    ShiftedSolveResult,
    SLQResult,
    TraceResult,
    hutchinson_trace,
    hutchpp_trace,
    lanczos,
    shifted_minres,
    slq,
)
from hessrmt.curvature.operators import GGNOperator, HessianOperator, ResidualOperator  # noqa: F401
from hessrmt.curvature.softmax import softmax_regression_hessian  # noqa: F401
