"""Broadening of quadrature rules onto a grid (the "density" half of SLQ).

Gaussian kernels of standard deviation ``sigma`` (``width``). The default is
``sigma = (theta_max - theta_min) / ((m - 1) sqrt(8 ln 3))``, about the node spacing of an
``m``-step rule over the node range: curvlinops' default ``sigma = 2 / ((m - 1) sqrt(8 ln kappa))``
with ``kappa = 3`` on the spectrum rescaled to [-1, 1] (Papyan 2020, JMLR 21(252)), mapped back to
the original scale, so the width is proportional to the spectral range; a zero range falls back
to ``1e-3 max(|theta|, 1)``. The default grid spans the node range plus ``5 sigma`` on each side
with 1024 points. The band is ``density +- 2 SE``, the standard error of the mean of the
per-probe densities (needs >= 2 probes; NaN otherwise).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from hessrmt.errors import InputError

DEFAULT_GRID_POINTS = 1024
BAND_Z = 2.0
KAPPA = 3.0


@dataclass(frozen=True)
class BroadenedDensity:
    """A probe-averaged broadened density with its band.

    Attributes:
        grid: (G,) evaluation points.
        density: (G,) mean over probes of the broadened quadrature measures.
        density_stderr: (G,) standard error across probes (NaN for one probe).
        band: (2, G) ``density -+ 2 * density_stderr``.
        width: kernel standard deviation used.
    """

    grid: np.ndarray
    density: np.ndarray
    density_stderr: np.ndarray
    band: np.ndarray
    width: float


def gaussian_density(
    nodes: np.ndarray, weights: np.ndarray, grid: np.ndarray, width: float
) -> np.ndarray:
    """Per-probe broadened densities: rows ``sum_k w_k N(x; theta_k, width^2)`` on ``grid``."""
    nodes = np.atleast_2d(nodes)
    weights = np.atleast_2d(weights)
    out = np.empty((nodes.shape[0], grid.size))
    norm = 1.0 / (width * math.sqrt(2.0 * math.pi))
    for i in range(nodes.shape[0]):
        z = (grid[:, None] - nodes[i][None, :]) / width
        out[i] = norm * (np.exp(-0.5 * z * z) @ weights[i])
    return out


def default_width(nodes: np.ndarray, weights: np.ndarray, num_steps: int) -> float:
    """``(theta_max - theta_min) / ((m - 1) sqrt(8 ln 3))`` over nodes of positive weight."""
    live = nodes[weights > 0]
    lo, hi = float(live.min()), float(live.max())
    span = hi - lo
    scale = max(abs(lo), abs(hi), 1.0)
    if span <= 1e-12 * scale or num_steps < 2:
        return 1e-3 * scale
    return span / ((num_steps - 1) * math.sqrt(8.0 * math.log(KAPPA)))


def broaden(
    nodes: np.ndarray,
    weights: np.ndarray,
    num_steps: int,
    *,
    grid: np.ndarray | int | None = None,
    width: float | None = None,
) -> BroadenedDensity:
    """Average over probes of the Gaussian-broadened rules ``(nodes, weights)`` ((p, m) each).

    ``grid``: an array, a number of points or None (module doc); ``width``: the kernel standard
    deviation, None for the default rule with ``num_steps`` steps.

    Example:
        >>> import numpy as np
        >>> d = broaden(np.array([[0.0, 1.0]]), np.array([[0.5, 0.5]]), 2, grid=2001, width=0.1)
        >>> round(float(np.trapezoid(d.density, d.grid)), 6)  # a probability density
        1.0
    """
    if width is not None and not (np.isfinite(width) and width > 0):
        raise InputError(f"width must be a positive finite number, got {width!r}")
    sigma = float(width) if width is not None else default_width(nodes, weights, num_steps)
    if grid is None or isinstance(grid, (int, np.integer)):
        npts = DEFAULT_GRID_POINTS if grid is None else int(grid)
        if npts < 2:
            raise InputError(f"grid must have at least 2 points, got {npts}")
        live = nodes[weights > 0]
        grid_arr = np.linspace(live.min() - 5 * sigma, live.max() + 5 * sigma, npts)
    else:
        grid_arr = np.asarray(grid, dtype=np.float64).ravel()
        if grid_arr.size < 2 or not np.all(np.isfinite(grid_arr)):
            raise InputError("grid must be a finite array of at least 2 points")
    per_probe = gaussian_density(nodes, weights, grid_arr, sigma)
    p = per_probe.shape[0]
    density = per_probe.mean(axis=0)
    if p >= 2:
        se = per_probe.std(axis=0, ddof=1) / math.sqrt(p)
    else:
        se = np.full_like(density, np.nan)
    band = np.stack([density - BAND_Z * se, density + BAND_Z * se])
    return BroadenedDensity(grid_arr, density, se, band, sigma)
