"""Issue 18: memory and time of the recomputing engines' vmapped columns, chunked to a budget.

    PYTHONPATH=src .venv/bin/python bench/bench_column_chunks.py [--models resnet20,transformer]
        [--batch 32] [--block 24] [--hvp double-backward] [--repeats 2] [--json out.json]

One block of ``--block`` columns through ``HessianOperator(..., hvp=HVP)`` (plain double
backward by default: the engine that recomputes every product) at several
``graph_memory_budget`` values, each in a FRESH process so that its peak resident memory
(``ru_maxrss``) is its own: "unbounded" (2^40 bytes: the whole block in one vmapped pass, the
behaviour before chunking), 2 GiB, the default 256 MiB
(:data:`hessrmt.curvature.graph_memory.VMAP_PASS_BYTES`), and 1 byte (one column at a time);
set on the engine's :class:`~hessrmt.curvature.graph_memory.ColumnBudget`.
Reported: the measured graph of one batch, the widest chunk, CPU seconds per column (this
thread, one torch thread; the least of ``--repeats`` blocks after a warm-up block) and the peak
RSS. Same problems as ``bench/bench_arch_hvp.py`` (synthetic data, float32, BatchNorm eval).
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import time
from pathlib import Path

#: bytes per vmapped pass (set on the engine: the operator's graph_memory_budget caps it at
#: VMAP_PASS_BYTES, the default)
BUDGETS = {"unbounded": 2**40, "2 GiB": 2 << 30, "default 256 MiB": 256 << 20, "1 byte": 1}


def child(model_name: str, batch: int, block: int, hvp: str, budget: int, repeats: int) -> dict:
    import torch

    sys.path.insert(0, str(Path(__file__).parent))
    from bench_arch_hvp import problem
    from hessrmt.curvature import HessianOperator

    torch.set_num_threads(1)
    model, x, y = problem(model_name, batch)
    op = HessianOperator(model, torch.nn.CrossEntropyLoss(), [(x, y)], hvp=hvp)
    op.engine.columns.budget = budget
    V = torch.randn(op.shape[0], block, generator=torch.Generator().manual_seed(0))
    op.matmat(V)  # warm-up; measures the graph
    times = []
    for _ in range(repeats):
        t0 = time.thread_time()
        op.matmat(V)
        times.append(time.thread_time() - t0)
    cols = op.engine.columns
    return {
        "graph_mib": cols.graph_bytes(batch) / 2**20,
        "widest": cols.widest,
        "s_per_column": min(times) / block,
        "peak_rss_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
        "engine": op.engine.name,
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--models", default="resnet20,transformer")
    ap.add_argument("--batch", type=int, default=32)
    ap.add_argument("--block", type=int, default=24)
    ap.add_argument("--hvp", default="double-backward")
    ap.add_argument("--repeats", type=int, default=2)
    ap.add_argument("--json", default=None)
    ap.add_argument("--child", default=None, help=argparse.SUPPRESS)
    a = ap.parse_args()
    if a.child is not None:
        model_name, budget = a.child.split(":")
        res = child(model_name, a.batch, a.block, a.hvp, int(budget), a.repeats)
        print(json.dumps(res))
        return
    rows = []
    for m in a.models.split(","):
        for label, budget in BUDGETS.items():
            cmd = [sys.executable, __file__, "--child", f"{m}:{budget}", "--batch"]
            cmd += [str(a.batch), "--block", str(a.block), "--hvp", a.hvp]
            cmd += ["--repeats", str(a.repeats)]
            out = subprocess.run(cmd, capture_output=True, text=True, check=True).stdout
            r = {"model": m, "budget": label, **json.loads(out.strip().splitlines()[-1])}
            rows.append(r)
            print(
                f"{m:12s} {label:14s} graph {r['graph_mib']:7.1f} MiB  widest {r['widest']:3d}  "
                f"{r['s_per_column']:.4f} s/column  peak RSS {r['peak_rss_mib']:7.0f} MiB",
                flush=True,
            )
    if a.json:
        Path(a.json).write_text(json.dumps({"args": vars(a), "rows": rows}, indent=1))


if __name__ == "__main__":
    main()
