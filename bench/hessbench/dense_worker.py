"""One dense-Hessian measurement in a fresh process: time, peak memory, a fingerprint.

Run as ``python -m hessbench.dense_worker --problem NAME --mode MODE --tool TOOL``; prints one
JSON line: ``seconds``, ``peak_rss_mib`` (``VmHWM``, the peak resident size),
``baseline_rss_mib`` (resident size just before the timed call), ``peak_delta_mib``,
``product`` = M z for a fixed random z (to check that every tool built the same matrix) and
``asymmetry`` = max |M - M^T| / max |M|.

Tools (all compute the Hessian of the same full-data mean loss, float64):

* ``hessrmt``: ``dense_matrix(HessianOperator(...))`` with the defaults (``hvp="auto"``, chunks
  of 64 identity columns);
* ``hessrmt-fwd``: the same with ``hvp="forward-over-reverse"``;
* ``torch.func``: ``torch.func.hessian`` (``jacfwd(jacrev)``) of each batch's loss as a function
  of the flat parameter vector, accumulated with the batch weights (one batch at a time: a single
  ``hessian`` call over all the data needs P times the activations of all of it);
* ``autograd``: ``torch.autograd.functional.hessian`` (default ``vectorize=False``: one backward
  pass per row) with all the data as one batch, its fastest use.
"""

from __future__ import annotations

import argparse
import json
import resource
import sys
import time

import torch


def _rss_mib() -> float:
    """Current resident set size (Linux /proc), in MiB."""
    try:
        with open("/proc/self/statm", encoding="utf-8") as fh:
            pages = int(fh.read().split()[1])
        import os

        return pages * os.sysconf("SC_PAGE_SIZE") / 2**20
    except OSError:
        return float("nan")


def _peak_mib() -> float:
    """Peak resident size of THIS process image: VmHWM from /proc (Linux).

    Not ``ru_maxrss``: Linux keeps the maximum RSS across ``execve``, so a child of a large
    benchmark process would report its parent's peak.
    """
    try:
        with open("/proc/self/status", encoding="utf-8") as fh:
            for line in fh:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024.0
    except OSError:
        pass
    kib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return kib / 1024.0 if sys.platform != "darwin" else kib / 2**20


def _flat_loss(problem, x, y):  # type: ignore[no-untyped-def]
    from torch.func import functional_call

    names = [n for n, p in problem.model.named_parameters() if p.requires_grad]
    shapes = [p.shape for _, p in problem.model.named_parameters() if p.requires_grad]
    sizes = [s.numel() for s in shapes]

    def f(theta: torch.Tensor) -> torch.Tensor:
        parts = torch.split(theta, sizes)
        params = {n: t.reshape(s) for n, t, s in zip(names, parts, shapes)}
        return problem.loss_fn(functional_call(problem.model, params, (x,)), y)

    return f


def build(tool: str, problem) -> torch.Tensor:  # type: ignore[no-untyped-def]
    theta0 = torch.cat([p.detach().reshape(-1) for p in problem.params()])
    nb = len(problem.batches)
    if tool in ("hessrmt", "hessrmt-fwd"):
        from hessrmt.curvature import HessianOperator, dense_matrix

        op = HessianOperator(
            problem.model,
            problem.loss_fn,
            problem.batches,
            dtype=problem.dtype,
            hvp="auto" if tool == "hessrmt" else "forward-over-reverse",
        )
        return dense_matrix(op)
    if tool == "torch.func":
        H = torch.zeros(theta0.numel(), theta0.numel(), dtype=theta0.dtype, device=theta0.device)
        for x, y in problem.batches:
            H += torch.func.hessian(_flat_loss(problem, x, y))(theta0) / nb
        return H
    if tool == "autograd":
        X = torch.cat([x for x, _ in problem.batches])
        Y = torch.cat([y for _, y in problem.batches])
        return torch.autograd.functional.hessian(_flat_loss(problem, X, Y), theta0)
    raise SystemExit(f"unknown tool {tool!r}")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--problem", required=True)
    ap.add_argument("--mode", default="full")
    ap.add_argument("--tool", required=True)
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--memory-limit-gib", type=float, default=8.0)
    args = ap.parse_args(argv)
    from hessbench.problems import build_problem

    problem = build_problem(args.problem, mode=args.mode, device=args.device)
    z = torch.randn(
        problem.num_params, generator=torch.Generator().manual_seed(7), dtype=torch.float64
    ).to(device=problem.device, dtype=problem.dtype)
    cuda = problem.device.type == "cuda"
    if cuda:
        torch.cuda.reset_peak_memory_stats()
    if args.memory_limit_gib > 0 and not cuda:
        # bound the address space so that a blow-up fails here instead of swapping the machine
        limit = int(args.memory_limit_gib * 2**30)
        _soft, hard = resource.getrlimit(resource.RLIMIT_AS)
        if hard == resource.RLIM_INFINITY or hard > limit:
            resource.setrlimit(resource.RLIMIT_AS, (limit, hard))
    baseline = _rss_mib()
    start = time.perf_counter()
    try:
        M = build(args.tool, problem)
        if cuda:
            torch.cuda.synchronize()
    except (MemoryError, RuntimeError) as exc:
        print(
            json.dumps(
                {
                    "status": "failed",
                    "error": f"{type(exc).__name__}: {str(exc)[:200]} "
                    f"(address-space limit {args.memory_limit_gib} GiB)",
                }
            )
        )
        return 0
    seconds = time.perf_counter() - start
    peak = _peak_mib()
    scale = float(M.abs().max())
    out = {
        "status": "ok",
        "tool": args.tool,
        "problem": problem.describe(),
        "seconds": seconds,
        "peak_rss_mib": peak,
        "baseline_rss_mib": baseline,
        "peak_delta_mib": peak - baseline,
        "asymmetry": float((M - M.T).abs().max()) / scale if scale > 0 else 0.0,
        "product": (M.double() @ z.double()).cpu().tolist(),
    }
    if cuda:
        out["cuda_peak_mib"] = torch.cuda.max_memory_allocated() / 2**20
    print(json.dumps(out))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
