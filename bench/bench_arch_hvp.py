"""Measure-first for issue 18 item 2: HVP / gradient on ResNet-20 and the zoo transformer, CPU.

    PYTHONPATH=src .venv/bin/python bench/bench_arch_hvp.py [--batch 128] [--repeats 5]
        [--models resnet20,transformer] [--no-compile] [--threads 1] [--json out.json]

Every candidate product (one column) is timed interleaved with the plain reverse-mode gradient on
the same batch (the same float32 model, BatchNorm in eval mode), by CPU time of this thread
(``time.thread_time``: robust to the load of a shared machine) and by wall time; medians. The
candidates:

* ``double-backward``: the operator's autograd double-backward engine (``HessianOperator``);
* ``forward-over-reverse``: the operator's vmapped ``torch.func.jvp(grad(f))`` engine;
* ``func.jvp(grad)``: ``torch.func.jvp(torch.func.grad(f))`` with ``functional_call``, no vmap;
* ``compiled jvp(grad)``: the same under ``torch.compile`` (compile time reported apart).

Each product is checked against plain double backward (relative error) in float32.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from collections.abc import Callable
from typing import Any

import torch
from torch.func import functional_call, grad, jvp

from hessrmt.curvature import HessianOperator
from hessrmt.curvature.engines import curvature_kernels
from hessrmt.nn.zoo import build_model


def problem(name: str, batch: int) -> tuple[torch.nn.Module, torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(0)
    if name == "resnet20":
        shape = (3, 32, 32)
    elif name == "transformer":
        shape = (8, 8)
    else:
        raise SystemExit(f"unknown model {name}")
    model = build_model(name, input_shape=shape, n_outputs=10, dtype=torch.float32).eval()
    x = torch.rand(batch, *shape, generator=g)
    y = torch.randint(0, 10, (batch,), generator=g)
    return model, x, y


def candidates(model, x, y, compile_: bool) -> tuple[dict[str, Callable[[], Any]], dict]:
    names = [n for n, _ in model.named_parameters()]
    params = [p for _, p in model.named_parameters()]
    theta = {n: p.detach() for n, p in zip(names, params)}
    buffers = dict(model.named_buffers())
    loss_fn = torch.nn.CrossEntropyLoss()
    v = torch.randn(sum(p.numel() for p in params), generator=torch.Generator().manual_seed(1))
    vd, i = {}, 0
    for n, p in zip(names, params):
        vd[n] = v[i : i + p.numel()].view_as(p)
        i += p.numel()

    def f(th):
        return loss_fn(functional_call(model, {**th, **buffers}, (x,)), y)

    def gradient():
        return torch.autograd.grad(loss_fn(model(x), y), params)

    def reference():
        with curvature_kernels():
            g_ = torch.autograd.grad(loss_fn(model(x), y), params, create_graph=True)
            hv = torch.autograd.grad(g_, params, [vd[n] for n in names])
        return torch.cat([h.reshape(-1) for h in hv])

    def func_jvp():
        with curvature_kernels():
            return jvp(grad(f), (theta,), (vd,))[1]

    out: dict[str, Callable[[], Any]] = {"gradient": gradient}
    for hvp in ("double-backward", "forward-over-reverse"):
        op = HessianOperator(model, loss_fn, [(x, y)], hvp=hvp)
        out[hvp] = lambda op=op: op.matmat(v[:, None])
    out["func.jvp(grad)"] = func_jvp
    info: dict[str, Any] = {}
    if compile_:
        compiled = torch.compile(lambda th, w: jvp(grad(f), (th,), (w,))[1])
        t0 = time.perf_counter()
        with curvature_kernels():
            compiled(theta, vd)
        info["compile_s"] = time.perf_counter() - t0

        def comp():
            with curvature_kernels():
                return compiled(theta, vd)

        out["compiled jvp(grad)"] = comp
    ref = reference()
    errs = {}
    for k, fn in out.items():
        if k == "gradient":
            continue
        r = fn()
        r = torch.cat([t.reshape(-1) for t in r.values()]) if isinstance(r, dict) else r.reshape(-1)
        errs[k] = float((r - ref).norm() / ref.norm())
    info["rel_err_vs_double_backward_float32"] = errs
    return out, info


def interleaved(fns: dict[str, Callable[[], Any]], repeats: int) -> dict[str, dict[str, float]]:
    cpu: dict[str, list[float]] = {k: [] for k in fns}
    wall: dict[str, list[float]] = {k: [] for k in fns}
    for fn in fns.values():  # warm-up
        fn()
    for _ in range(repeats):
        for k, fn in fns.items():
            c0, w0 = time.thread_time(), time.perf_counter()
            fn()
            cpu[k].append(time.thread_time() - c0)
            wall[k].append(time.perf_counter() - w0)
    return {
        k: {"cpu_median": statistics.median(cpu[k]), "wall_median": statistics.median(wall[k])}
        for k in fns
    }


def emit(results: dict[str, Any], name: str, entry: dict[str, Any]) -> None:
    """Record one model's results and print them (stderr, as they come)."""
    results[name] = entry
    print(name, json.dumps(entry, indent=1), file=sys.stderr, flush=True)


def save(results: dict[str, Any], path: str | None) -> dict[str, Any]:
    """Write the results as JSON to ``path`` (if given); returns them."""
    if path:
        with open(path, "w") as fh:
            json.dump(results, fh, indent=1)
    return results


def main(argv: list[str] | None = None) -> dict[str, Any]:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--batch", type=int, default=128)
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--models", default="resnet20,transformer")
    ap.add_argument("--no-compile", action="store_true")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--json", default=None)
    args = ap.parse_args(argv)
    torch.set_num_threads(args.threads)
    results: dict[str, Any] = {
        "batch": args.batch,
        "threads": args.threads,
        "torch": torch.__version__,
    }
    for name in args.models.split(","):
        model, x, y = problem(name, args.batch)
        fns, info = candidates(model, x, y, compile_=not args.no_compile)
        t = interleaved(fns, args.repeats)
        g = t["gradient"]
        ratios = {
            k: {
                "cpu": t[k]["cpu_median"] / g["cpu_median"],
                "wall": t[k]["wall_median"] / g["wall_median"],
            }
            for k in t
            if k != "gradient"
        }
        P = sum(p.numel() for p in model.parameters())
        emit(results, name, {"P": P, "times": t, "hvp_over_gradient": ratios, **info})
    return save(results, args.json)


if __name__ == "__main__":
    main()
