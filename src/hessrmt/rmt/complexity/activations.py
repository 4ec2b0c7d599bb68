"""Activation -> perturbation strength of the Kac-Rice Hessian.

Derived here; ``docs/reference/spin-glass.md`` §5.

Derivation (a model choice in the spirit of arXiv 2004.03959 and Choromanska et al. 2015; the
paper's own formulas are not available, ``docs/reference/papers.md`` §7):

1. Approximate the activation by a continuous piecewise-linear f(z) = s_l z + c_l on pieces
   (t_{l-1}, t_l] (:func:`piecewise_linear`: interpolation at equally spaced knots in
   [-span, span], linear continuation outside).
2. Choromanska's assumption A1p, extended from ReLU's on/off variables to pieces: each unit's
   piece is random and independent of the data, with the probabilities P_l = Phi(t_l) -
   Phi(t_{l-1}) of a standard-normal pre-activation. Averaging, every unit acts as
   z -> s_bar z + c_bar with s_bar = sum_l P_l s_l (= E f'(z)) and c_bar = sum_l P_l c_l
   (= E[f(z) - z f'(z)]).
3. Expanding the network output along paths, the s_bar^{H-1} X-weighted products of H weights
   form the H-spin glass (ReLU: Choromanska's model, ABC's landscape), while the intercepts
   c_bar start data-independent paths: deterministic polynomials of lower degree in the weights,
   which under Choromanska's uniformity are functions of the overlap m = e.w/N with the uniform
   direction e. At critical points with m ~ 0 only the quadratic one has a non-zero Riemannian
   Hessian, the rank-one c_bar s_bar^{H-2} e e^T. In units of the spin-glass part (scale
   s_bar^{H-1}) its strength is

       theta(f) = |c_bar| / |s_bar|,

   (the sign of the label makes the sign of the deterministic part random; by the GOE's
   symmetry |theta| perturbs the edge that counts). ReLU and leaky ReLU (c_bar = 0) give
   theta = 0, ABC exactly, as Choromanska's mapping requires; odd activations (tanh) too;
   sigmoid (c_bar = 1/2 over s_bar = E sigma'(z)) is far above the BBP threshold theta = 1.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
from scipy.special import ndtr

from hessrmt.errors import InputError

__all__ = ["ACTIVATIONS", "Linearisation", "linearise", "perturbation_strength", "piecewise_linear"]


def _gelu(z: np.ndarray) -> np.ndarray:
    return z * ndtr(z)


ACTIVATIONS: dict[str, Callable[[np.ndarray], np.ndarray]] = {
    "relu": lambda z: np.maximum(z, 0.0),
    "leaky_relu": lambda z: np.where(z > 0, z, 0.01 * z),
    "tanh": np.tanh,
    "sigmoid": lambda z: 1.0 / (1.0 + np.exp(-z)),
    "gelu": _gelu,
}


@dataclass(frozen=True)
class Linearisation:
    """Pieces of a piecewise-linear activation and its Gaussian-averaged slope and intercept."""

    name: str
    knots: tuple[float, ...]  # interior breakpoints t_1 < ... < t_{L-1}
    slopes: tuple[float, ...]
    intercepts: tuple[float, ...]
    s_bar: float
    c_bar: float

    @property
    def theta(self) -> float:
        return perturbation_strength(self.s_bar, self.c_bar)

    def to_dict(self) -> dict[str, object]:
        return {
            "activation": self.name,
            "pieces": len(self.slopes),
            "knots": list(self.knots),
            "slopes": list(self.slopes),
            "intercepts": list(self.intercepts),
            "s_bar": self.s_bar,
            "c_bar": self.c_bar,
            "theta": self.theta,
        }


def _activation(name: str) -> Callable[[np.ndarray], np.ndarray]:
    try:
        return ACTIVATIONS[name]
    except KeyError:
        raise InputError(f"unknown activation {name!r}; use one of {sorted(ACTIVATIONS)}") from None


def piecewise_linear(
    name: str, pieces: int, *, span: float = 3.0
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(interior knots, slopes, intercepts) of the ``pieces``-piece interpolant of ``name``.

    Interpolation at ``pieces + 1`` equally spaced nodes in [-span, span]; the outer pieces
    continue the end segments' lines, so the interior knots are the ``pieces - 1`` inner nodes.
    For an even number of pieces 0 is a knot: exact for ReLU and leaky ReLU.
    """
    if not isinstance(pieces, (int, np.integer)) or pieces < 2:
        raise InputError(f"a piecewise-linear approximation needs at least 2 pieces, got {pieces}")
    f = _activation(name)
    nodes = np.linspace(-span, span, int(pieces) + 1)
    vals = f(nodes)
    seg_s = np.diff(vals) / np.diff(nodes)
    seg_c = vals[:-1] - seg_s * nodes[:-1]
    # pieces: (-inf, n_1], (n_1, n_2], ..., (n_{L-1}, inf): the first and last segments extended
    knots = nodes[1:-1]
    return knots, seg_s, seg_c


def linearise(name: str, pieces: int | None = None, *, span: float = 3.0) -> Linearisation:
    """s_bar and c_bar of the activation (``pieces`` = None: the smooth function itself,
    s_bar = E f'(z), c_bar = E[f(z) - z f'(z)] by Gauss-Hermite quadrature)."""
    if pieces is None:
        f = _activation(name)
        z, w = np.polynomial.hermite_e.hermegauss(200)
        w = w / math.sqrt(2 * math.pi)
        h = 1e-6
        df = (f(z + h) - f(z - h)) / (2 * h)
        if name in ("relu", "leaky_relu"):  # kinked: exact Gaussian averages
            lo = 0.0 if name == "relu" else 0.01
            return Linearisation(name, (0.0,), (lo, 1.0), (0.0, 0.0), 0.5 * (1 + lo), 0.0)
        s_bar = float(np.dot(w, df))
        c_bar = float(np.dot(w, f(z) - z * df))
        return Linearisation(name, (), (), (), s_bar, c_bar)
    knots, slopes, intercepts = piecewise_linear(name, pieces, span=span)
    edges = np.concatenate([[-np.inf], knots, [np.inf]])
    probs = np.diff(ndtr(edges))
    return Linearisation(
        name,
        tuple(float(t) for t in knots),
        tuple(float(s) for s in slopes),
        tuple(float(c) for c in intercepts),
        float(np.dot(probs, slopes)),
        float(np.dot(probs, intercepts)),
    )


def perturbation_strength(s_bar: float, c_bar: float) -> float:
    """theta = |c_bar| / |s_bar| (module docstring); an InputError when s_bar = 0."""
    if not (math.isfinite(s_bar) and math.isfinite(c_bar)) or s_bar == 0:
        raise InputError(f"the mean slope must be finite and non-zero, got s_bar = {s_bar!r}")
    return abs(c_bar) / abs(s_bar)
