"""Argument checks and small helpers shared by the samplers of :mod:`hessrmt.rmt.ensembles`."""

from __future__ import annotations

from typing import Any

import numpy as np

from hessrmt.errors import InputError


def _check_int(name: str, value: Any, minimum: int = 1) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < minimum:
        raise InputError(f"{name} must be an integer >= {minimum}, got {value!r}")
    return int(value)


def _batch_shape(size: int | None) -> tuple[int, ...]:
    if size is None:
        return ()
    return (_check_int("size", size),)


def _check_prob(name: str, value: Any) -> float:
    try:
        v = float(value)
    except (TypeError, ValueError):
        raise InputError(f"{name} must be a probability in (0, 1], got {value!r}") from None
    if not (0.0 < v <= 1.0):
        raise InputError(f"{name} must be a probability in (0, 1], got {value!r}")
    return v


def _complex_ginibre(gen: np.random.Generator, shape: tuple[int, ...]) -> np.ndarray:
    """iid standard complex Gaussians, E|Z|^2 = 1."""
    return (gen.standard_normal(shape) + 1j * gen.standard_normal(shape)) / np.sqrt(2.0)


def _sym(m: np.ndarray) -> np.ndarray:
    return m + np.swapaxes(m, -1, -2).conj()
