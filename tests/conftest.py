"""Shared test configuration."""

from __future__ import annotations

import os

# Deterministic, contention-free numerics on the 2-core CI machine: two threads in a plain run,
# one per worker when pytest-xdist runs the suite in two processes (`make test`).
os.environ.setdefault("OMP_NUM_THREADS", "1" if os.environ.get("PYTEST_XDIST_WORKER") else "2")
os.environ.setdefault("MPLBACKEND", "Agg")

import numpy as np
import pytest
from hypothesis import HealthCheck, settings

settings.register_profile(
    "hessrmt", deadline=None, max_examples=40, suppress_health_check=[HealthCheck.too_slow]
)
settings.load_profile("hessrmt")


@pytest.fixture
def rng() -> np.random.Generator:
    """A fixed-seed generator; tests that need several streams should spawn from it."""
    return np.random.default_rng(20261123)


@pytest.fixture(scope="module")
def one_thread():
    """One BLAS (and, if loaded, torch) thread for a module of small-matrix tests: faster than two
    contending threads, and immune to a loaded machine. Restores the previous settings.

    Use with ``pytestmark = pytest.mark.usefixtures("one_thread")``.
    """
    import sys

    from threadpoolctl import threadpool_limits

    torch = sys.modules.get("torch")
    before = torch.get_num_threads() if torch is not None else None
    if torch is not None:
        torch.set_num_threads(1)
    with threadpool_limits(limits=1):
        yield
    if torch is not None:
        torch.set_num_threads(before)


@pytest.fixture(autouse=True)
def _close_pyplot_figures():
    """Close every pyplot figure a test left open, so no test inherits another's figures
    (matplotlib warns, which pytest turns into an error, beyond 20 open figures)."""
    yield
    import sys

    plt = sys.modules.get("matplotlib.pyplot")
    if plt is not None:
        plt.close("all")
