"""Issue 18: the kept-graph engine against recomputing double backward, CPU time, one thread.

    PYTHONPATH=src .venv/bin/python bench/bench_kept_graph.py [--batch 128] [--repeats 3]
        [--models resnet20,transformer] [--products 10] [--block 10] [--json out.json]

Same problems as ``bench/bench_arch_hvp.py`` (zoo ResNet-20 on 32x32x3, zoo transformer on
8 x 8 rows; synthetic data, one batch, float32, BatchNorm in eval mode). Interleaved per repeat,
by CPU time of this thread (``time.thread_time``; robust to the load of a shared machine):

* ``gradient``: one plain reverse-mode gradient (``torch.autograd.grad``);
* ``double-backward``: one product (k = 1) and one block of ``--block`` columns of the
  recomputing engine (``HessianOperator(..., hvp="double-backward")``);
  (``--once``: the block is timed in the first repeat only, to save time on large models);
* ``kept-graph``: a fresh operator's FIRST product (which builds the graph), then ``--products``
  further single-column products (amortised: their total / their number), then one block of
  ``--block`` columns on the kept graph.

Medians over the repeats; every ratio is over the gradient's median. The kept engine's products
are checked against the recomputing engine's (relative error, float32).
"""

from __future__ import annotations

import argparse
import statistics
import time
from typing import Any

import torch

from bench_arch_hvp import emit, problem, save
from hessrmt.curvature import HessianOperator


def cpu(fn, *args: Any) -> tuple[float, Any]:
    t0 = time.thread_time()
    out = fn(*args)
    return time.thread_time() - t0, out


def measure(
    name: str, batch: int, repeats: int, products: int, block: int, db_block: bool = True
) -> dict[str, Any]:
    model, x, y = problem(name, batch)
    loss_fn = torch.nn.CrossEntropyLoss()
    params = list(model.parameters())
    data = [(x, y)]
    P = sum(p.numel() for p in params)
    gen = torch.Generator().manual_seed(1)
    v = torch.randn(P, 1, generator=gen)
    V = torch.randn(block, P, generator=gen).T  # transposed (k, P) rows: one pass, no copies
    db = HessianOperator(model, loss_fn, data, hvp="double-backward")
    t: dict[str, list[float]] = {k: [] for k in
                                 ("gradient", "db_1", "db_block", "kept_first", "kept_1",
                                  "kept_block")}  # fmt: skip
    errs: list[float] = []
    db.matmat(v)  # warm-up
    for _ in range(repeats):
        t["gradient"].append(cpu(lambda: torch.autograd.grad(loss_fn(model(x), y), params))[0])
        s, ref = cpu(db.matmat, v)
        t["db_1"].append(s)
        if db_block or not t["db_block"]:  # without it: one recomputed block, for the check
            s, ref_block = cpu(db.matmat, V)
            t["db_block"].append(s / block)
        kept = HessianOperator(model, loss_fn, data, hvp="kept-graph")
        s, first = cpu(kept.matmat, v)
        t["kept_first"].append(s)
        total = 0.0
        for _ in range(products):
            s, out = cpu(kept.matmat, v)
            total += s
        t["kept_1"].append(total / products)
        s, out_block = cpu(kept.matmat, V)
        t["kept_block"].append(s / block)
        errs += [float((a - b).norm() / b.norm()) for a, b in
                 ((first, ref), (out, ref), (out_block, ref_block))]  # fmt: skip
        graphs = kept.conventions()["hvp_graphs"]
        assert kept.engine.builds == 1, graphs
        del kept
    med = {k: statistics.median(s) for k, s in t.items()}
    g = med["gradient"]
    return {
        "P": P,
        "batch": batch,
        "repeats": repeats,
        "cpu_median_s": med,
        "over_gradient": {k: med[k] / g for k in med if k != "gradient"},
        "max_rel_err_kept_vs_double_backward": max(errs),
        "hvp_graphs": graphs,
    }


def main(argv: list[str] | None = None) -> dict[str, Any]:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--batch", type=int, default=128)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--models", default="resnet20,transformer")
    ap.add_argument("--products", type=int, default=10)
    ap.add_argument("--block", type=int, default=10)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--once", action="store_true", help="time the recomputed block once only")
    ap.add_argument("--json", default=None)
    args = ap.parse_args(argv)
    torch.set_num_threads(args.threads)
    results: dict[str, Any] = {"threads": args.threads, "torch": torch.__version__}
    for name in args.models.split(","):
        entry = measure(name, args.batch, args.repeats, args.products, args.block, not args.once)
        emit(results, name, entry)
    return save(results, args.json)


if __name__ == "__main__":
    main()
