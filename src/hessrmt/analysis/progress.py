"""Progress of the Krylov steps of ``hessrmt analyze``: a bar over an operator's products.

The Lanczos extremes and the SLQ density spend their time in operator products (on ResNet-20 on
CIFAR-shaped data one product is a pass over all the data, minutes on a CPU), so the bar counts
products: it shows the rate after the first one and how many the step has spent. The SLQ total
is known (probes x steps, fewer on an early breakdown); a Lanczos run stops when it converges, so
its bar has no total: it shows the count and the rate.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Any


@contextlib.contextmanager
def product_progress(
    op: Any, desc: str, *, enabled: bool, total: int | None = None
) -> Iterator[Any]:
    """A tqdm bar (stderr) ticking once per product of ``op`` while the block runs.

    Uses the operator's ``on_products`` hook (:class:`hessrmt.curvature.linop.CurvatureOperator`);
    the previous hook is restored on exit, also when the block raises. Does nothing when
    ``enabled`` is false or ``op`` has no such hook (a plain matrix). Yields the bar (None when
    there is none).
    """
    if not enabled or not hasattr(op, "on_products"):
        yield None
        return
    from tqdm.auto import tqdm

    bar = tqdm(total=total, desc=desc, unit="product", leave=False)
    previous = op.__dict__.get("on_products")
    had = "on_products" in op.__dict__

    def tick(n: int) -> None:
        bar.update(n)
        if previous is not None:
            previous(n)

    op.on_products = tick
    try:
        yield bar
    finally:
        if had:
            op.on_products = previous
        else:
            del op.on_products
        bar.close()
