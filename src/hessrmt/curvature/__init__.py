"""Curvature of PyTorch losses: Hessian, Gauss-Newton and residual operators, dense matrices,
Lanczos, stochastic Lanczos quadrature and trace estimators.

Every operator subclasses :class:`hessrmt.curvature.linop.CurvatureOperator` (shape, dtype,
device, ``matmat``), so the algorithms work on any of them, and on a plain dense matrix through
:class:`hessrmt.curvature.linop.DenseOperator`.
"""

from hessrmt.curvature.dense import DenseMatrixInfo, dense_matrix, eigenvalues  # noqa: F401
from hessrmt.curvature.krylov import (  # noqa: F401
    LanczosResult,
    SLQResult,
    TraceResult,
    hutchinson_trace,
    hutchpp_trace,
    lanczos,
    slq,
)
from hessrmt.curvature.operators import GGNOperator, HessianOperator, ResidualOperator  # noqa: F401
from hessrmt.curvature.softmax import softmax_regression_hessian  # noqa: F401
