"""Adapters for the anchor tools (PyHessian, curvlinops, hessian-eigenthings), imported lazily.

The anchors live in an isolated virtualenv (``bench/.anchors-venv``, see
``bench/setup_anchors.sh``); every function here imports its package inside the function so that
the harness runs without them (those rows are then reported as "not installed").

Matrix-vector products are counted by wrapping each tool's own product method on the instance:

* PyHessian: ``hessian.dataloader_hv_product`` (one full-data HVP per call);
* curvlinops: ``HessianLinearOperator._matmat`` (columns of the block);
* hessian-eigenthings: ``HessianOperator.matvec``.

Known defects handled here (and reported in the table):

* PyHessian 0.1 (PyPI) calls ``torch.eig``, removed from PyTorch, in ``density()``.
  :func:`pyhessian_eig_shim` installs, only for the duration of the call, a stand-in
  ``torch.eig`` that diagonalises the (symmetric tridiagonal) Lanczos matrix with
  ``torch.linalg.eigh`` and returns it in the old ``(eigenvalues (n, 2), eigenvectors)`` layout,
  as PyHessian's repository later did (PR #23). PyHessian's weights ``b_[0, :] ** 2`` are then the
  squared first components, which is correct.
* PyHessian allocates work vectors with ``torch.zeros(shape)``/``torch.randn(shape)``, i.e. in
  the global default dtype: float64 problems run it under :func:`default_dtype` (the "global
  switch" its users need).
* hessian-eigenthings 1.0.0a5 ``lanczos`` turns full reorthogonalisation off for more than 50
  steps, which yields ghost copies of the top eigenvalues: it is run with both settings.
"""

from __future__ import annotations

import contextlib
import functools
from collections.abc import Callable, Iterator
from typing import Any

import torch

from hessbench.problems import Problem

ANCHOR_MODULES = {
    "pyhessian": "pyhessian",
    "curvlinops": "curvlinops",
    "eigenthings": "hessian_eigenthings",
}


def available_anchors() -> dict[str, str | None]:
    """``{tool: None}`` when importable, else ``{tool: "<why not>"}``."""
    import importlib

    out: dict[str, str | None] = {}
    for tool, module in ANCHOR_MODULES.items():
        try:
            importlib.import_module(module)
            out[tool] = None
        except Exception as exc:
            out[tool] = f"{type(exc).__name__}: {exc}"[:200]
    return out


class Counter:
    """Counts matrix-vector products (columns) through a wrapped method."""

    def __init__(self) -> None:
        self.count = 0

    def wrap(self, fn: Callable[..., Any], columns: Callable[..., int]) -> Callable[..., Any]:
        @functools.wraps(fn)
        def wrapped(*args: Any, **kwargs: Any) -> Any:
            self.count += columns(*args, **kwargs)
            return fn(*args, **kwargs)

        return wrapped


@contextlib.contextmanager
def default_dtype(dtype: torch.dtype) -> Iterator[None]:
    """Temporarily set torch's global default dtype (PyHessian allocates in it)."""
    old = torch.get_default_dtype()
    torch.set_default_dtype(dtype)
    try:
        yield
    finally:
        torch.set_default_dtype(old)


def _eig_via_eigh(T: torch.Tensor, eigenvectors: bool = False) -> tuple[torch.Tensor, torch.Tensor]:
    """BENCHMARK SHIM for the removed ``torch.eig``: symmetric ``eigh`` in the old layout.

    Old API: eigenvalues as an (n, 2) tensor of (real, imaginary) parts, eigenvectors as columns.
    Valid here because PyHessian only passes its symmetric tridiagonal Lanczos matrix.
    """
    w, V = torch.linalg.eigh(T)
    vals = torch.stack([w, torch.zeros_like(w)], dim=1)
    return vals, (V if eigenvectors else torch.empty(0, dtype=T.dtype))


@contextlib.contextmanager
def pyhessian_eig_shim() -> Iterator[None]:
    """Install :func:`_eig_via_eigh` as ``torch.eig`` for the duration of a PyHessian call."""
    had = hasattr(torch, "eig")
    old = getattr(torch, "eig", None)
    torch.eig = _eig_via_eigh  # type: ignore[attr-defined]
    try:
        yield
    finally:
        if had:
            torch.eig = old  # type: ignore[attr-defined]
        else:
            del torch.eig  # type: ignore[attr-defined]


# -- PyHessian --------------------------------------------------------------------------------


def pyhessian_setup(problem: Problem) -> tuple[Any, Counter]:
    """A ``pyhessian.hessian`` on the full data (dataloader mode) and its HVP counter."""
    from pyhessian import hessian

    with default_dtype(problem.dtype):
        h = hessian(
            problem.model,
            problem.loss_fn,
            dataloader=problem.batches,
            cuda=problem.device.type == "cuda",
        )
    counter = Counter()
    h.dataloader_hv_product = counter.wrap(h.dataloader_hv_product, lambda v: 1)
    return h, counter


def pyhessian_split(problem: Problem, v: torch.Tensor) -> list[torch.Tensor]:
    """A flat vector as PyHessian's list of parameter-shaped tensors."""
    out, start = [], 0
    for p in problem.params():
        out.append(v[start : start + p.numel()].reshape(p.shape).to(p.dtype).clone())
        start += p.numel()
    return out


def pyhessian_hvp(h: Any, problem: Problem, v: torch.Tensor) -> torch.Tensor:
    with default_dtype(problem.dtype):
        _, hv = h.dataloader_hv_product(pyhessian_split(problem, v))
    return torch.cat([t.reshape(-1) for t in hv])


# -- curvlinops -------------------------------------------------------------------------------


def curvlinops_setup(problem: Problem) -> tuple[Any, Counter]:
    """A ``curvlinops.HessianLinearOperator`` (built outside any timing) and its counter."""
    from curvlinops import HessianLinearOperator

    op = HessianLinearOperator(problem.model, problem.loss_fn, problem.params(), problem.batches)
    counter = Counter()
    op._matmat = counter.wrap(op._matmat, lambda X: int(X[0].shape[-1]))
    return op, counter


# -- hessian-eigenthings ----------------------------------------------------------------------


def eigenthings_setup(problem: Problem) -> tuple[Any, Counter]:
    """A ``hessian_eigenthings.HessianOperator`` (full data, autograd HVP) and its counter."""
    from hessian_eigenthings import HessianOperator, supervised_loss

    op = HessianOperator(problem.model, problem.batches, supervised_loss(problem.loss_fn))
    counter = Counter()
    op.matvec = counter.wrap(op.matvec, lambda v: 1)
    return op, counter
