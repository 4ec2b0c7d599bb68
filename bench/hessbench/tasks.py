"""The benchmark tasks, each run with every available tool on the same problem.

Every task returns ``{"task", "problem", "settings", "reference", "rows"}`` where each row is one
tool (or one setting of a tool) with ``status`` ("ok", "failed", "not installed", "skipped"),
timings (:class:`hessbench.timing.Timing` dicts: median, min, max, n), matrix-vector product
counts and the task's accuracy figures. Operators are built outside the timed region (for every
tool); the timed region is the tool's own public call.

Accuracy is always judged by the harness itself, never by a tool's own report:

* HVPs against an independent plain-autograd double backward of the full-data loss;
* eigenpairs by their true residuals ``||H x - theta x|| / |lambda_1|`` (products with a separate,
  uncounted operator) and, on the small problems, eigenvalue errors against ``eigvalsh`` of the
  dense float64 Hessian;
* densities by the 1-Wasserstein distance between each tool's quadrature measure
  ``(1/n_probes) sum_ik w_ik delta(theta_ik)`` and the exact spectrum;
* traces against the exact trace of the dense Hessian.
"""

from __future__ import annotations

import math
import sys
import time
import traceback
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch

from hessbench import anchors as A
from hessbench.problems import Problem, attention_kernels, full_data_loss, reference_gradient
from hessbench.timing import Timing, measure, measure_interleaved

TOOLS = ("hessrmt", "pyhessian", "curvlinops", "eigenthings")


@dataclass
class Config:
    """Knobs of one benchmark run."""

    mode: str = "full"
    repeats: int = 5
    repeats_slow: int = 3
    max_total_s: float = 60.0
    k: int = 10
    topk_tol: float = 1e-6
    slq_probes: int = 10
    slq_steps: int = 80
    slq_seeds: int = 5
    trace_probes: int = 100
    power_max_iter: int = 200
    eigenthings_max_steps: int = 640
    #: top-k variants that cost many products (PyHessian with 5x hessrmt's budget, eigenthings
    #: without reorthogonalisation); off in the arch suite's quick mode
    topk_extra_variants: bool = True
    #: problems above this many parameters time one HVP only (no block of 10)
    hvp_block_max_params: int | None = None
    #: SLQ at equal W1 (problems without an exact spectrum): the reference (probes, steps) and
    #: the (probes, steps) settings each tool is run at
    slq_ref: tuple[int, int] = (4, 200)
    #: per-problem references (problem name -> (probes, steps)) overriding ``slq_ref``
    slq_ref_by_problem: dict[str, tuple[int, int]] = field(default_factory=dict)
    slq_settings: tuple[tuple[int, int], ...] = ((1, 20), (2, 40))
    #: seeds (0..n-1) each equal-W1 setting runs with: W1 is their mean (with its range), time
    #: their median; one probe's W1 varies by ~1.5x between seeds on ResNet-20
    slq_w1_seeds: int = 1
    anchors: tuple[str, ...] = ("pyhessian", "curvlinops", "eigenthings")
    verbose: bool = True


def log(msg: str) -> None:
    print(f"[bench {time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


def _row(tool: str, variant: str = "", **fields: Any) -> dict[str, Any]:
    return {"tool": tool, "variant": variant, "status": "ok", **fields}


def _guard(tool: str, variant: str, fn: Callable[[], dict[str, Any]]) -> dict[str, Any]:
    """Run one tool's measurement; a failure becomes a row with the error, not a crash."""
    start = time.perf_counter()
    try:
        row = fn()
        log(f"  {tool} {variant}: {time.perf_counter() - start:.1f} s")
        return row
    except Exception as exc:
        tb = traceback.format_exc(limit=3)
        log(f"{tool} {variant} failed: {type(exc).__name__}: {exc}")
        return _row(
            tool, variant, status="failed", error=f"{type(exc).__name__}: {exc}"[:300], tb=tb
        )


def _unavailable(cfg: Config, available: dict[str, str | None], tool: str) -> str | None:
    if tool not in cfg.anchors:
        return "skipped"
    if available.get(tool) is not None:
        return "not installed"
    return None


def _seeded_vectors(problem: Problem, k: int, seed: int = 0) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    V = torch.randn(problem.num_params, k, generator=g, dtype=torch.float64)
    return V.to(device=problem.device, dtype=problem.dtype)


def hessrmt_operator(problem: Problem, hvp: str = "auto") -> Any:
    from hessrmt.curvature import HessianOperator

    return HessianOperator(
        problem.model, problem.loss_fn, problem.batches, dtype=problem.dtype, hvp=hvp
    )


def autograd_hvp(problem: Problem, v: torch.Tensor) -> torch.Tensor:
    """Independent reference: plain double backward of the full-data loss (float64 vectors)."""
    params = problem.params()
    with attention_kernels(problem):
        loss = full_data_loss(problem)
        g = torch.autograd.grad(loss, params, create_graph=True)
        flat = torch.cat([x.reshape(-1) for x in g])
        hv = torch.autograd.grad(flat @ v.to(flat.dtype), params)
    return torch.cat([x.reshape(-1) for x in hv]).detach()


def _rel(a: torch.Tensor, b: torch.Tensor) -> float:
    a64, b64 = a.detach().double().cpu(), b.detach().double().cpu()
    return float(torch.linalg.vector_norm(a64 - b64) / torch.linalg.vector_norm(b64))


# ---------------------------------------------------------------------------------------------
# Exact references on the small problems
# ---------------------------------------------------------------------------------------------


def exact_spectrum(problem: Problem) -> dict[str, Any]:
    """Eigenvalues of the dense Hessian (float64), with an independent HVP cross-check."""
    from hessrmt.curvature import dense_matrix

    start = time.perf_counter()
    op = hessrmt_operator(problem, hvp="forward-over-reverse")
    M = dense_matrix(op).double()
    eigs = torch.linalg.eigvalsh(M).cpu().numpy()
    v = _seeded_vectors(problem, 1, seed=123)[:, 0].double()
    check = _rel(M @ v, autograd_hvp(problem, v))
    return {
        "eigenvalues": eigs,
        "trace": float(torch.trace(M)),
        "matrix_vs_autograd_hvp_rel_err": check,
        "seconds": time.perf_counter() - start,
        "how": "hessrmt dense_matrix (forward-over-reverse) + torch.linalg.eigvalsh, float64; "
        "checked against a plain-autograd HVP",
    }


# ---------------------------------------------------------------------------------------------
# Task 1: one HVP, a block of 10, HVP / gradient
# ---------------------------------------------------------------------------------------------


def task_hvp(problem: Problem, cfg: Config, available: dict[str, str | None]) -> dict[str, Any]:
    """One HVP and a block of 10 with every tool, timed ROUND-ROBIN (interleaved).

    On a shared machine load comes in bursts; timing the tools one after the other would charge
    a burst to whichever tool runs then. Here every repeat calls each tool once, in turn, so load
    changes hit all tools alike. The gradient baseline takes part in the rotation.
    """
    log(f"hvp on {problem.name} (P={problem.num_params})")
    V = _seeded_vectors(problem, 10)
    v = V[:, 0].clone()
    ref = autograd_hvp(problem, v)
    # (tool, variant) -> (one HVP callable, block-of-10 callable); built outside the timing
    entries: dict[tuple[str, str], tuple[Callable[[], Any], Callable[[], Any]]] = {}
    rows: list[dict[str, Any]] = []
    failed: list[dict[str, Any]] = []

    def add(tool: str, variant: str, build: Callable[[], tuple[Any, Any]]) -> None:
        why = _unavailable(cfg, available, tool) if tool in A.ANCHOR_MODULES else None
        if why:
            failed.append(_row(tool, variant, status=why))
            return
        try:
            entries[(tool, variant)] = build()
        except Exception as exc:
            failed.append(
                _row(tool, variant, status="failed", error=f"{type(exc).__name__}: {exc}"[:300])
            )

    strategies = ["auto"]
    if cfg.mode == "full" and problem.num_params < 10_000:
        strategies += ["double-backward", "forward-over-reverse"]
    for hvp in strategies:

        def build_hessrmt(hvp: str = hvp) -> tuple[Any, Any]:
            op = hessrmt_operator(problem, hvp=hvp)
            return (lambda: op.matmat(v[:, None])[:, 0]), (lambda: op.matmat(V))

        label = hvp if hvp != "auto" else f"auto = {hessrmt_operator(problem).hvp_strategy}"
        add("hessrmt", label, build_hessrmt)
    add(
        "torch.autograd",
        "plain double backward (baseline, not a tool)",
        lambda: (
            (lambda: autograd_hvp(problem, v)),
            (lambda: [autograd_hvp(problem, V[:, i]) for i in range(10)]),
        ),
    )

    def build_pyhessian() -> tuple[Any, Any]:
        h, _ = A.pyhessian_setup(problem)
        return (
            (lambda: A.pyhessian_hvp(h, problem, v)),
            (lambda: [A.pyhessian_hvp(h, problem, V[:, i]) for i in range(10)]),
        )

    def build_curvlinops() -> tuple[Any, Any]:
        op, _ = A.curvlinops_setup(problem)
        return (lambda: op @ v), (lambda: op @ V)

    def build_eigenthings() -> tuple[Any, Any]:
        op, _ = A.eigenthings_setup(problem)
        return (lambda: op.matvec(v)), (lambda: [op.matvec(V[:, i]) for i in range(10)])

    add("pyhessian", "10 sequential HVPs", build_pyhessian)
    add("curvlinops", "block as one matmat", build_curvlinops)
    add("eigenthings", "10 sequential matvecs", build_eigenthings)

    ones = {key: f1 for key, (f1, _) in entries.items()}
    ones[("gradient", "")] = lambda: reference_gradient(problem)
    t_one, out_one = measure_interleaved(ones, repeats=cfg.repeats, max_total_s=cfg.max_total_s)
    skip_block = cfg.hvp_block_max_params is not None and (
        problem.num_params > cfg.hvp_block_max_params
    )
    t_ten: dict[Any, Timing] = {key: Timing() for key in entries}
    if not skip_block:
        t_ten, _ = measure_interleaved(
            {key: f10 for key, (_, f10) in entries.items()},
            repeats=cfg.repeats,
            max_total_s=cfg.max_total_s,
        )
    t_grad = t_one[("gradient", "")]
    for key in entries:
        tool, variant = key
        if key in out_one and isinstance(out_one[key], Exception):
            rows.append(_row(tool, variant, status="failed", error=str(out_one[key])[:300]))
            continue
        t1, t10 = t_one[key], t_ten[key]
        rows.append(
            _row(
                tool,
                variant,
                time_1=t1.to_dict(),
                time_10=t10.to_dict() if t10.samples else None,
                hvp_over_grad=t1.median / t_grad.median,
                block10_over_hvp=t10.median / t1.median if t10.samples else None,
                rel_err=_rel(out_one[key], ref),
            )
        )
    return {
        "task": "hvp",
        "problem": problem.describe(),
        "settings": {
            "block": None if skip_block else 10,
            "gradient_baseline": "plain reverse mode, batch by batch",
            "timing": "round-robin: each repeat calls every tool once, in turn",
        },
        "reference": {"gradient_time": t_grad.to_dict()},
        "rows": rows + failed,
    }


# ---------------------------------------------------------------------------------------------
# Task 2: top-k eigenvalues to a residual tolerance
# ---------------------------------------------------------------------------------------------


def _true_residuals(
    problem: Problem, vals: np.ndarray, vecs: np.ndarray, scale: float
) -> np.ndarray:
    """``||H x_i - theta_i x_i|| / (||x_i|| scale)`` with a fresh hessrmt operator (uncounted)."""
    op = hessrmt_operator(problem)
    X = torch.as_tensor(vecs, dtype=torch.float64)
    HX = op.matmat(X.to(problem.dtype)).double().cpu()
    R = HX - X * torch.as_tensor(vals, dtype=torch.float64)[None, :]
    return (torch.linalg.vector_norm(R, dim=0) / torch.linalg.vector_norm(X, dim=0)).numpy() / scale


def _eig_errors(vals: np.ndarray, ref: np.ndarray | None, scale: float) -> float | None:
    if ref is None:
        return None
    got = np.sort(np.asarray(vals, dtype=np.float64))[::-1]
    want = np.sort(ref)[::-1][: got.size]
    return float(np.max(np.abs(got - want)) / scale)


def task_topk(
    problem: Problem,
    cfg: Config,
    available: dict[str, str | None],
    exact: dict[str, Any] | None,
) -> dict[str, Any]:
    log(f"top-{cfg.k} on {problem.name} (P={problem.num_params})")
    from scipy.sparse.linalg import LinearOperator, eigsh

    from hessrmt.curvature import lanczos

    k, target = cfg.k, cfg.topk_tol
    ref_top = None if exact is None else np.sort(exact["eigenvalues"])[::-1][:k]
    rep = dict(repeats=cfg.repeats_slow, max_total_s=cfg.max_total_s, warmup=0)
    rows: list[dict[str, Any]] = []
    state: dict[str, Any] = {}

    def judge(tool: str, variant: str, t: Timing, mv: int, vals: Any, vecs: Any, **kw: Any):
        vals = np.asarray(vals, dtype=np.float64)
        vecs = np.asarray(vecs, dtype=np.float64)
        scale = float(abs(ref_top[0])) if ref_top is not None else float(np.max(np.abs(vals)))
        res = _true_residuals(problem, vals, vecs, scale)
        return _row(
            tool,
            variant,
            time=t.to_dict(),
            matvecs=int(mv),
            max_residual=float(np.max(res)),
            reached_target=bool(np.max(res) <= 10 * target),
            max_eig_err=_eig_errors(vals, ref_top, scale),
            eigenvalues=np.sort(vals)[::-1].tolist(),
            **kw,
        )

    def run_hessrmt(verify: bool) -> dict[str, Any]:
        op = hessrmt_operator(problem)
        t, res = measure(
            lambda: lanczos(op, k, "LA", tol=target, seed=0, verify=verify, output="numpy"), **rep
        )
        state.setdefault("hessrmt", res.eigenvalues)
        variant = f"thick-restart Lanczos, tol={target:g} x ||H||"
        if not verify:
            variant += ", verify=False (no multiplicity check: like for like with ARPACK)"
        else:
            variant += " (default: includes its multiplicity check)"
        return judge(
            "hessrmt",
            variant,
            t,
            res.num_matvecs,
            res.eigenvalues,
            res.eigenvectors,
            converged=bool(res.all_converged),
        )

    rows.append(_guard("hessrmt", "lanczos", lambda: run_hessrmt(True)))
    if rows[-1]["status"] == "ok":
        # per-eigenvalue iterations that give power iteration 5x hessrmt's products in all
        state["power_budget"] = math.ceil(5 * rows[-1]["matvecs"] / k)
    rows.append(_guard("hessrmt", "lanczos, verify=False", lambda: run_hessrmt(False)))

    # tolerance that gives ARPACK (||r_i|| <= tol |theta_i|) the same target ||r|| <= target |l_1|
    basis = ref_top if ref_top is not None else state.get("hessrmt")
    arpack_tol = target
    if basis is not None and abs(basis[-1]) > 0:
        arpack_tol = target * abs(basis[0]) / abs(basis[-1])

    def run_arpack() -> dict[str, Any]:
        op, counter = A.curvlinops_setup(problem)
        sc = op.to_scipy()
        n = problem.num_params
        v0 = np.random.default_rng(0).standard_normal(n)
        lin = LinearOperator((n, n), matvec=sc.matvec, matmat=sc.matmat, dtype=np.float64)

        def call() -> tuple[np.ndarray, np.ndarray, int]:
            c0 = counter.count
            w, X = eigsh(lin, k=k, which="LA", tol=arpack_tol, v0=v0)
            return w, X, counter.count - c0

        t, (w, X, mv) = measure(call, **rep)
        return judge(
            "curvlinops",
            f"scipy eigsh (ARPACK) on to_scipy(), tol={arpack_tol:.2g} x |theta_i|",
            t,
            mv,
            w,
            X,
        )

    def run_pyhessian(budget: int | None = None) -> dict[str, Any]:
        """PyHessian's power iteration: its own stopping rule (``budget`` None), or with
        ``tol=0`` and ``maxIter = budget`` per eigenvalue (exactly ``k * budget`` products)."""
        h, counter = A.pyhessian_setup(problem)
        max_iter, tol = (cfg.power_max_iter, target) if budget is None else (budget, 0.0)

        def call() -> tuple[list, list, int]:
            c0 = counter.count
            torch.manual_seed(0)
            with A.default_dtype(problem.dtype):
                vals, vecs = h.eigenvalues(maxIter=max_iter, tol=tol, top_n=k)
            return vals, vecs, counter.count - c0

        reps = {**rep, "warmup": 0} if budget is None else {**rep, "repeats": 1, "warmup": 0}
        t, (vals, vecs, mv) = measure(call, **reps)
        X = np.stack(
            [torch.cat([x.reshape(-1) for x in vec]).double().cpu().numpy() for vec in vecs], 1
        )
        if budget is None:
            variant = (
                f"power iteration + deflation, tol={target:g} (relative eigenvalue change), "
                f"maxIter={max_iter} per eigenvalue"
            )
        else:
            variant = (
                f"power iteration + deflation, tol=0, maxIter={budget} per eigenvalue: 5x "
                "hessrmt's products in all (does power iteration reach the target with them?)"
            )
        return judge("pyhessian", variant, t, mv, vals, X, budget_of_5x=budget is not None)

    def eigenthings_run(reorth: bool, steps: int | None) -> dict[str, Any]:
        from hessian_eigenthings import lanczos as et_lanczos

        op, counter = A.eigenthings_setup(problem)

        def call(m: int) -> tuple[Any, int]:
            c0 = counter.count
            res = et_lanczos(
                op, k=k, max_iter=m, tol=target, reorthogonalize=reorth, which="LA", seed=0
            )
            return res, counter.count - c0

        searched = []
        if steps is None:
            m = 2 * k
            while True:
                res, _ = call(m)
                scale = float(res.eigenvalues.abs().max())
                est = res.residuals.double().cpu().numpy()
                searched.append(m)
                if np.max(est) <= target * scale or 2 * m > cfg.eigenthings_max_steps:
                    break
                m *= 2
            steps = m
        t, (res, mv) = measure(lambda: call(steps), **rep)
        state["eigenthings_steps"] = steps
        return judge(
            "eigenthings",
            f"lanczos, reorthogonalize={reorth}, max_iter={steps}"
            + (f" (smallest of {searched} meeting the target)" if searched else " (same steps)"),
            t,
            mv,
            res.eigenvalues.double().cpu().numpy(),
            res.eigenvectors.double().cpu().numpy().T,
        )

    variants = [
        ("curvlinops", "eigsh", run_arpack),
        ("pyhessian", "power", run_pyhessian),
        ("pyhessian", "power, 5x budget", lambda: run_pyhessian(state["power_budget"])),
        ("eigenthings", "reorth", lambda: eigenthings_run(True, None)),
        (
            "eigenthings",
            "no reorth",
            lambda: eigenthings_run(False, state.get("eigenthings_steps", 4 * k)),
        ),
    ]
    if not cfg.topk_extra_variants:
        variants = [v for v in variants if v[1] not in ("power, 5x budget", "no reorth")]
    for tool, variant, fn in variants:
        why = _unavailable(cfg, available, tool)
        rows.append(_row(tool, variant, status=why) if why else _guard(tool, variant, fn))
    return {
        "task": "topk",
        "problem": problem.describe(),
        "settings": {
            "k": k,
            "which": "largest algebraic",
            "target": f"||H x - theta x|| <= {target:g} |lambda_1| for all k pairs",
            "arpack_tol": arpack_tol,
        },
        "reference": {"top_eigenvalues": None if ref_top is None else ref_top.tolist()},
        "rows": rows,
    }


# ---------------------------------------------------------------------------------------------
# Task 3: SLQ density
# ---------------------------------------------------------------------------------------------


def _w1(nodes: np.ndarray, weights: np.ndarray, exact: np.ndarray) -> float:
    from scipy.stats import wasserstein_distance

    nodes = np.asarray(nodes, dtype=np.float64).ravel()
    weights = np.asarray(weights, dtype=np.float64).ravel()
    keep = np.isfinite(nodes) & (weights > 0)
    return float(wasserstein_distance(nodes[keep], exact, weights[keep], None))


def task_slq(
    problem: Problem,
    cfg: Config,
    available: dict[str, str | None],
    exact: dict[str, Any] | None,
) -> dict[str, Any]:
    """SLQ density with every tool: time of the seed-0 run, and W1 over ``cfg.slq_seeds`` seeds.

    One seed's W1 is dominated by probe noise (seeds 0..11 of hessrmt on digits-mlp ranged
    1.08-1.75e-3, and hessrmt equals a plain NumPy SLQ to 1e-13 given the same probes), so the
    accuracy compared in the goal is the mean W1 over independent probe seeds, with its
    standard error. Only the seed-0 run is timed; the others are untimed accuracy runs.
    """
    p, m = cfg.slq_probes, cfg.slq_steps
    seeds = list(range(max(1, cfg.slq_seeds)))
    log(f"slq {p}x{m} on {problem.name} (P={problem.num_params}), W1 over {len(seeds)} seeds")

    eigs = None if exact is None else exact["eigenvalues"]
    width = None if eigs is None else float(eigs.max() - eigs.min())
    rep = dict(repeats=cfg.repeats_slow, max_total_s=cfg.max_total_s, warmup=0)
    rows: list[dict[str, Any]] = []
    Run = Callable[[int], tuple[Any, Any, int]]  # seed -> (nodes, weights, matvecs)

    def judge(tool: str, variant: str, call: Run) -> dict[str, Any]:
        t, (nodes, weights, mv) = measure(lambda: call(seeds[0]), **rep)
        w1s: list[float] = []
        if eigs is not None:
            w1s.append(_w1(nodes, weights, eigs))
            for s in seeds[1:]:
                n_s, w_s, _ = call(s)
                w1s.append(_w1(n_s, w_s, eigs))
        w1 = w1s[0] if w1s else None
        mean = float(np.mean(w1s)) if w1s else None
        se = float(np.std(w1s, ddof=1) / math.sqrt(len(w1s))) if len(w1s) > 1 else None
        return _row(
            tool,
            variant,
            time=t.to_dict(),
            matvecs=int(mv),
            w1=w1,
            w1_relative=None if w1 is None else w1 / width,
            w1_seeds=w1s,
            w1_mean=mean,
            w1_stderr=se,
        )

    def run_tool(tool: str) -> dict[str, Any]:
        from hessbench.slq_w1 import RUNNERS

        variant, run = RUNNERS[tool](problem)
        return judge(tool, variant, lambda seed: run(p, m, seed))

    for tool in TOOLS:
        why = _unavailable(cfg, available, tool) if tool != "hessrmt" else None
        rows.append(
            _row(tool, status=why) if why else _guard(tool, "slq", lambda t=tool: run_tool(t))
        )
    return {
        "task": "slq",
        "problem": problem.describe(),
        "settings": {
            "probes": p,
            "steps": m,
            "accuracy_seeds": len(seeds),
            "accuracy": "1-Wasserstein distance of the quadrature measure to the exact spectrum "
            f"(seed 0, and mean +- standard error over {len(seeds)} probe seeds)",
        },
        "reference": {"spectral_width": width},
        "rows": rows,
    }


# ---------------------------------------------------------------------------------------------
# Task 4: Hutchinson trace
# ---------------------------------------------------------------------------------------------


def task_trace(
    problem: Problem,
    cfg: Config,
    available: dict[str, str | None],
    exact: dict[str, Any] | None,
) -> dict[str, Any]:
    N = cfg.trace_probes
    log(f"trace with {N} probes on {problem.name} (P={problem.num_params})")
    from hessrmt.curvature import hutchinson_trace, hutchpp_trace

    tr = None if exact is None else exact["trace"]
    rep = dict(repeats=cfg.repeats_slow, max_total_s=cfg.max_total_s, warmup=0)
    rows: list[dict[str, Any]] = []

    def judge(tool: str, variant: str, t: Timing, mv: int, est: float, **kw: Any) -> dict:
        err = None if tr is None else abs(est - tr) / abs(tr)
        return _row(
            tool, variant, time=t.to_dict(), matvecs=int(mv), estimate=est, rel_err=err, **kw
        )

    def run_hessrmt(estimator: Callable[..., Any], variant: str) -> dict[str, Any]:
        op = hessrmt_operator(problem)
        t, res = measure(lambda: estimator(op, N, seed=0), **rep)
        return judge("hessrmt", variant, t, res.num_matvecs, res.estimate, stderr=res.stderr)

    def run_pyhessian() -> dict[str, Any]:
        h, counter = A.pyhessian_setup(problem)

        def call() -> tuple[float, int]:
            c0 = counter.count
            torch.manual_seed(0)
            with A.default_dtype(problem.dtype):
                samples = h.trace(maxIter=N, tol=0.0)
            return float(np.mean(samples)), counter.count - c0

        t, (est, mv) = measure(call, **{**rep, "warmup": 0})
        return judge("pyhessian", "trace(maxIter=N, tol=0)", t, mv, est)

    def run_curvlinops() -> dict[str, Any]:
        from curvlinops import hutchinson_trace as cl_hutchinson

        op, counter = A.curvlinops_setup(problem)

        def call() -> tuple[float, int]:
            c0 = counter.count
            torch.manual_seed(0)
            return float(cl_hutchinson(op, num_matvecs=N)), counter.count - c0

        t, (est, mv) = measure(call, **rep)
        return judge("curvlinops", "hutchinson_trace (one matmat)", t, mv, est)

    def run_eigenthings() -> dict[str, Any]:
        from hessian_eigenthings import hutchinson

        op, counter = A.eigenthings_setup(problem)

        def call() -> tuple[Any, int]:
            c0 = counter.count
            return hutchinson(op, num_samples=N, seed=0), counter.count - c0

        t, (res, mv) = measure(call, **rep)
        return judge(
            "eigenthings", "hutchinson (sequential)", t, mv, res.estimate, stderr=res.stderr
        )

    for name, estimator, variant in (
        ("hutchinson", hutchinson_trace, "hutchinson_trace (blocks of 32 probes)"),
        ("hutch++", hutchpp_trace, "hutchpp_trace (same matvec budget)"),
    ):
        rows.append(_guard("hessrmt", name, lambda e=estimator, v=variant: run_hessrmt(e, v)))
    for tool, fn in (
        ("pyhessian", run_pyhessian),
        ("curvlinops", run_curvlinops),
        ("eigenthings", run_eigenthings),
    ):
        why = _unavailable(cfg, available, tool)
        rows.append(_row(tool, status=why) if why else _guard(tool, "", fn))
    return {
        "task": "trace",
        "problem": problem.describe(),
        "settings": {"probes": N, "probe": "Rademacher"},
        "reference": {"exact_trace": tr},
        "rows": rows,
    }


# ---------------------------------------------------------------------------------------------
# Task 5: dense Hessian (each measurement in its own subprocess, for peak memory)
# ---------------------------------------------------------------------------------------------

DENSE_TOOLS = (
    ("hessrmt", "dense_matrix, hvp=auto"),
    ("hessrmt-fwd", "dense_matrix, hvp=forward-over-reverse"),
    ("torch.func", "torch.func.hessian per batch"),
    ("autograd", "torch.autograd.functional.hessian, all data as one batch"),
)


def task_dense(
    problem_name: str,
    cfg: Config,
    device: str,
    timeout_s: float,
    tools: tuple[str, ...] | None = None,
) -> dict[str, Any]:
    from hessbench.timing import run_json_subprocess

    log(f"dense Hessian on {problem_name}")
    rows: list[dict[str, Any]] = []
    outputs: dict[str, list[float]] = {}
    describe = None
    for tool, variant in DENSE_TOOLS:
        if tools is not None and tool not in tools:
            continue
        runs = []
        for _r in range(cfg.repeats_slow):
            out = run_json_subprocess(
                [
                    "hessbench.dense_worker",
                    "--problem",
                    problem_name,
                    "--mode",
                    cfg.mode,
                    "--tool",
                    tool,
                    "--device",
                    device,
                ],
                timeout_s=timeout_s,
            )
            runs.append(out)
            if (
                out.get("status") != "ok"
                or sum(x.get("seconds", 0) for x in runs) > cfg.max_total_s
            ):
                break
        ok = [x for x in runs if x.get("status") == "ok"]
        if not ok:
            rows.append(_row(tool, variant, status="failed", error=runs[-1].get("error")))
            continue
        describe = ok[0].get("problem", describe)
        outputs[tool] = ok[0]["product"]
        t = Timing([x["seconds"] for x in ok])
        rows.append(
            _row(
                tool,
                variant,
                time=t.to_dict(),
                peak_rss_mib=max(x["peak_rss_mib"] for x in ok),
                peak_delta_mib=max(x["peak_delta_mib"] for x in ok),
                baseline_rss_mib=ok[0]["baseline_rss_mib"],
                asymmetry=ok[0].get("asymmetry"),
            )
        )
    # agreement: every tool's M z against hessrmt's
    base = outputs.get("hessrmt")
    for row in rows:
        if base is not None and row["tool"] in outputs:
            a, b = np.asarray(outputs[row["tool"]]), np.asarray(base)
            row["rel_diff_vs_hessrmt"] = float(np.linalg.norm(a - b) / np.linalg.norm(b))
    return {
        "task": "dense",
        "problem": describe or {"name": problem_name},
        "settings": {
            "memory": "peak resident set size of a fresh process per measurement (VmHWM); "
            "delta = peak minus the resident size just before the timed call",
            "agreement": "||M z - M_hessrmt z|| / ||M_hessrmt z|| for a fixed random z",
        },
        "reference": {},
        "rows": rows,
    }


def finite_or_none(x: float | None) -> float | None:
    return None if x is None or not math.isfinite(x) else x
