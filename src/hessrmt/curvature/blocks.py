"""How an operator serves a block of k vectors: column chunks, layouts and kept buffers.

:class:`BlockProducts` implements ``_matmat`` of a
:class:`hessrmt.curvature.linop.CurvatureOperator` on top of one method of the subclass,
``_accumulate(rows, acc)``: acc += (C V)^T for the rows (k, P) of V^T in one data pass (the
product engines of :mod:`hessrmt.curvature.engines`). It decides how many columns a pass serves
(:data:`BLOCK_RULE`) and keeps two (c, P) buffers between products for row-major blocks.
"""

from __future__ import annotations

import torch

#: The most memory an operator keeps between products in the two (k, P) buffers it uses for
#: row-major (P, k) blocks (see :data:`BLOCK_RULE`).
WORKSPACE_MAX_BYTES = 256 << 20

#: How ``matmat(V)`` serves the k columns of a (P, k) block V (``block_columns=None``). Every
#: product works on contiguous (k, P) rows, one per column of V, and the result has V's layout.
#: A transposed block (V = R.T for contiguous (k, P) rows R, as SLQ and Lanczos pass theirs, or
#: one column) is used as it is, all k columns in one data pass, and the result is the
#: transposed (k, P) sum: no copies. A row-major (P, k) V is copied into a (c, P) buffer, c
#: columns per data pass, and each sum copied into the row-major result; both (c, P) buffers
#: are kept between products, c as large as fits :data:`WORKSPACE_MAX_BYTES` (32 columns of a
#: 1M-parameter float32 model), because a NEW buffer of that size costs page faults on every
#: product, as much as the copy itself (10 x 1M float32: 21 ms copying into a kept buffer,
#: 37-46 ms into a new one). Measured (one thread, minima, per column over one column alone):
#: MLP 20-1000-1000-4 (P = 1,026,004, 2 x 16) transposed blocks of 10/32/64: 0.71/0.72/0.68
#: in float32, 0.72/0.73/0.73 in float64; row-major 0.95/0.94 (k = 10/32, float32); MLP
#: 20-256-256-4 (2 x 128) 0.60-0.84; digits MLP and LeNet 0.30-0.43.
BLOCK_RULE = (
    "all columns in one data pass for transposed (k, P) blocks; row-major blocks in column "
    "chunks whose two (c, P) buffers fit WORKSPACE_MAX_BYTES"
)


def _copy_rows(dst: torch.Tensor, src: torch.Tensor) -> torch.Tensor:
    """dst[:] = src for a contiguous (k, P) ``dst`` and a transposed row-major ``src``, in
    column chunks of about 1 MiB (cache-sized: 10 x 1M float32 rows 8 ms against 12.5 ms for one
    ``copy_``, 2 x 1M 1.2 ms against 5 ms; equal from 32 rows on)."""
    k, P = dst.shape
    step = max(256, (1 << 20) // (k * dst.element_size()))
    for a in range(0, P, step):
        dst[:, a : a + step].copy_(src[:, a : a + step])
    return dst


class BlockProducts:
    """Mixin: ``_matmat`` by :data:`BLOCK_RULE` over the subclass's ``_accumulate``.

    The subclass sets ``block_columns`` (None or a positive int), ``shape``, ``dtype``,
    ``device`` and ``_workspace = [None, None]``.
    """

    block_columns: int | None
    shape: tuple[int, int]
    dtype: torch.dtype
    device: torch.device
    _workspace: list[torch.Tensor | None]

    def _accumulate(self, rows: torch.Tensor, acc: torch.Tensor) -> None:
        raise NotImplementedError

    def _columns_per_pass(self, k: int, transposed: bool, itemsize: int) -> int:
        """How many columns of a (P, k) block one data pass serves (:data:`BLOCK_RULE`)."""
        if self.block_columns is not None:
            return min(k, self.block_columns)
        if transposed:
            return k
        return min(k, max(1, WORKSPACE_MAX_BYTES // (2 * self.shape[0] * itemsize)))

    def _kept_buffer(self, slot: int, k: int, like: torch.Tensor) -> torch.Tensor | None:
        """A (k, P) buffer kept between products (slot 0: rows of V, 1: their sum), or None
        when the two would exceed :data:`WORKSPACE_MAX_BYTES`."""
        P = self.shape[0]
        if 2 * k * P * like.element_size() > WORKSPACE_MAX_BYTES:
            return None
        ws = self._workspace[slot]
        if ws is None or ws.shape[0] < k or ws.dtype != like.dtype or ws.device != like.device:
            ws = torch.empty(k, P, dtype=like.dtype, device=like.device)
            self._workspace[slot] = ws
        return ws[:k]

    def _matmat(self, V: torch.Tensor) -> torch.Tensor:
        """The (P, k) product, in the memory layout of ``V`` (see :data:`BLOCK_RULE`)."""
        P, k = V.shape
        Vt = V.T
        transposed = Vt.is_contiguous()  # V = R.T for contiguous (k, P) rows R; any (P, 1)
        c = self._columns_per_pass(k, transposed, V.element_size())
        if transposed:
            acc = torch.zeros(k, P, dtype=self.dtype, device=self.device)
            for j in range(0, k, c):
                self._accumulate(Vt[j : j + c], acc[j : j + c])
            return acc.T
        out = torch.empty(P, k, dtype=self.dtype, device=self.device)
        for j in range(0, k, c):
            cj = min(c, k - j)
            rows = self._kept_buffer(0, cj, Vt)
            acc = self._kept_buffer(1, cj, Vt)
            rows = Vt[j : j + cj].contiguous() if rows is None else _copy_rows(rows, Vt[j : j + cj])
            acc = torch.zeros_like(rows) if acc is None else acc.zero_()
            self._accumulate(rows, acc)
            out[:, j : j + cj] = acc.T
        return out
