"""Krylov algorithms on symmetric linear operators: Lanczos eigenpairs, stochastic Lanczos
quadrature (SLQ) and randomised trace estimators.

Modules (each named after what it holds, none after a function, so that every dotted name means
one thing):

* :mod:`~hessrmt.curvature.krylov.numerics` -- the float64 / CGS2 / probe policy;
* :mod:`~hessrmt.curvature.krylov.recurrence` -- the one (block) Lanczos recurrence;
* :mod:`~hessrmt.curvature.krylov.eigensolver` -- :func:`lanczos` (thick restart);
* :mod:`~hessrmt.curvature.krylov.multiplicity` -- its multiplicity check;
* :mod:`~hessrmt.curvature.krylov.quadrature` -- Gauss quadrature rules (SLQ nodes, weights);
* :mod:`~hessrmt.curvature.krylov.density` -- broadening of the rules onto a grid;
* :mod:`~hessrmt.curvature.krylov.stochastic_quadrature` -- :func:`slq`;
* :mod:`~hessrmt.curvature.krylov.traces` -- :func:`hutchinson_trace`, :func:`hutchpp_trace`;
* :mod:`~hessrmt.curvature.krylov.shifted_solve` -- :func:`shifted_minres` (H + sigma I) X = B.
"""

from hessrmt.curvature.krylov.eigensolver import LanczosResult, lanczos
from hessrmt.curvature.krylov.shifted_solve import ShiftedSolveResult, shifted_minres
from hessrmt.curvature.krylov.stochastic_quadrature import SLQResult, slq
from hessrmt.curvature.krylov.traces import TraceResult, hutchinson_trace, hutchpp_trace

__all__ = [
    "LanczosResult",
    "SLQResult",
    "ShiftedSolveResult",
    "TraceResult",
    "hutchinson_trace",
    "hutchpp_trace",
    "lanczos",
    "shifted_minres",
    "slq",
]
