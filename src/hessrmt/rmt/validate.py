"""Scalar argument checks shared by the rmt modules (clear :class:`InputError` messages)."""

from __future__ import annotations

import math
from typing import Any

from hessrmt.errors import InputError


def finite(name: str, value: Any) -> float:
    """``value`` as a float; an :class:`InputError` unless it is a finite number."""
    try:
        v = float(value)
    except (TypeError, ValueError):
        raise InputError(f"{name} must be a finite number, got {value!r}") from None
    if not math.isfinite(v):
        raise InputError(f"{name} must be a finite number, got {value!r}")
    return v


def positive(name: str, value: Any) -> float:
    """``value`` as a float; an :class:`InputError` unless it is a positive finite number."""
    try:
        v = float(value)
    except (TypeError, ValueError):
        raise InputError(f"{name} must be a positive number, got {value!r}") from None
    if not math.isfinite(v) or v <= 0:
        raise InputError(f"{name} must be a positive finite number, got {value!r}")
    return v
