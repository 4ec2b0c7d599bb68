"""Which end of a spectrum is wanted: SciPy's ``which`` codes and the orders they imply.

``"LA"`` largest algebraic, ``"SA"`` smallest algebraic, ``"LM"`` largest magnitude, ``"BE"``
both ends (``ceil(k/2)`` from the top, ``floor(k/2)`` from the bottom, as ARPACK).
"""

from __future__ import annotations

from typing import Literal

import numpy as np

Which = Literal["LA", "SA", "BE", "LM"]
WHICH = ("LA", "SA", "BE", "LM")


def preference(theta: np.ndarray, which: str) -> np.ndarray:
    """Indices of ``theta`` from most to least wanted."""
    if which == "LA":
        return np.argsort(-theta, kind="stable")
    if which == "SA":
        return np.argsort(theta, kind="stable")
    if which == "LM":
        return np.argsort(-np.abs(theta), kind="stable")
    # BE: alternate top, bottom, top, ... (ceil(k/2) from the top, as ARPACK)
    asc = np.argsort(theta, kind="stable")
    out = np.empty_like(asc)
    lo, hi = 0, len(asc) - 1
    for i in range(len(asc)):
        if i % 2 == 0:
            out[i] = asc[hi]
            hi -= 1
        else:
            out[i] = asc[lo]
            lo += 1
    return out


def final_order(theta: np.ndarray, which: str) -> np.ndarray:
    """Output order of the returned values: ``"LA"`` descending, ``"LM"`` by descending
    magnitude, ``"SA"`` and ``"BE"`` ascending."""
    if which == "LA":
        return np.argsort(-theta, kind="stable")
    if which == "LM":
        return np.argsort(-np.abs(theta), kind="stable")
    return np.argsort(theta, kind="stable")
