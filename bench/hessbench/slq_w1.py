"""SLQ density at equal W1 against a long-Lanczos reference (issue 18, item 3).

Models like ResNet-20 have no exact spectrum, so each tool's density is scored against a
converged SLQ measure, the *reference*: hessrmt's ``slq`` with many steps, full
reorthogonalisation and its own probe seed (no probe is shared with any scored run). Its
resolution is measured two ways from the one run:

* probes: the W1 between the measures of its first and second half of probes;
* steps: the W1 between its measure at ``m`` and at ``m // 2`` steps (the same probes; the
  ``m // 2``-step rules are the leading ``m // 2`` entries of each stored tridiagonal, exact Gauss
  rules of those shorter runs, so they cost no product).

hessrmt runs twice: ``hessrmt`` with the Gauss rule every tool uses, and ``hessrmt-radau`` with
the Gauss-Radau rule with a node at 0 (``slq(quadrature="radau")``, same products; why:
``docs/slq-estimators.md``); the target W1 counts both rows, the speed-ups are given for each.
Every tool is then run at a few ``(probes, steps)`` settings and scored by the 1-Wasserstein
distance of its quadrature measure ``(1/p) sum_ik w_ik delta(theta_ik)`` to the reference. Each
setting runs with ``cfg.slq_w1_seeds`` probe seeds (3 in the arch suite): its W1 is their mean,
reported with its range, its time their median. One seed is not enough: on ResNet-20 a
single probe's W1 at 30 steps ranged over 2.5-3.7e-4 between seeds
(``docs/slq-estimators.json``), wider than the gaps between tools. The
comparison at equal W1 (:func:`equal_w1`) takes as target the loosest W1 that every tool reaches
at one of its settings, and compares, for each tool, the least time among its settings that reach
that target (equal-or-better W1). Times are CPU seconds of the calling thread (robust to the load
of a shared machine with one torch thread) and wall seconds.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import torch

from hessbench import anchors as A
from hessbench.problems import Problem

#: Probe seed of the reference (scored runs use seed 0: different probes).
REFERENCE_SEED = 12345

Run = Callable[[int, int, int], tuple[np.ndarray, np.ndarray, int]]  # (p, m, seed) -> measure


def measure_points(nodes: Any, weights: Any) -> tuple[np.ndarray, np.ndarray]:
    """A quadrature measure as flat (points, masses): finite nodes with positive weight,
    masses normalised to sum 1 (rows of ``weights`` each sum to 1, so this divides by p)."""
    x = np.asarray(nodes, dtype=np.float64).ravel()
    w = np.asarray(weights, dtype=np.float64).ravel()
    keep = np.isfinite(x) & np.isfinite(w) & (w > 0)
    x, w = x[keep], w[keep]
    if x.size == 0:
        raise ValueError("empty quadrature measure")
    return x, w / w.sum()


def w1_between(nodes_a: Any, weights_a: Any, nodes_b: Any, weights_b: Any) -> float:
    """1-Wasserstein distance between two quadrature measures (exact, step CDFs)."""
    from scipy.stats import wasserstein_distance

    xa, wa = measure_points(nodes_a, weights_a)
    xb, wb = measure_points(nodes_b, weights_b)
    return float(wasserstein_distance(xa, xb, wa, wb))


def truncated_rules(alphas: np.ndarray, betas: np.ndarray, used: np.ndarray, steps: int):
    """Gauss rules (nodes, weights) of the first ``steps`` Lanczos steps of each probe."""
    from hessrmt.curvature.krylov.quadrature import tridiagonal_rules

    used_k = np.minimum(np.asarray(used, dtype=int), steps)
    return tridiagonal_rules(alphas[:, :steps], betas[:, : max(steps - 1, 0)], used_k)


def reference_resolution(ref: dict[str, Any]) -> dict[str, float]:
    """W1 between the reference's probe halves, and between its m and m // 2 steps."""
    nodes, weights = np.asarray(ref["nodes"]), np.asarray(ref["weights"])
    p, m = nodes.shape
    if p < 2:
        raise ValueError("the reference needs at least 2 probes to split into halves")
    h = p // 2
    halves = w1_between(nodes[:h], weights[:h], nodes[h : 2 * h], weights[h : 2 * h])
    n2, w2 = truncated_rules(
        np.asarray(ref["alphas"]), np.asarray(ref["betas"]), np.asarray(ref["used"]), m // 2
    )
    return {"halves_w1": halves, "half_steps_w1": w1_between(nodes, weights, n2, w2)}


def slq_reference(
    problem: Problem, probes: int, steps: int, cache_dir: Path | None = None
) -> dict[str, Any]:
    """The long-Lanczos reference (hessrmt ``slq``, full reorthogonalisation, seed
    :data:`REFERENCE_SEED`), loaded from ``cache_dir`` when a run of the same problem and
    settings was saved there, else computed (and saved)."""
    d = problem.describe()
    key = f"slq-reference-{problem.name}-{d['num_batches']}x{d['batch_size']}-{d['dtype']}"
    key += f"-{probes}x{steps}-seed{REFERENCE_SEED}"
    path = None if cache_dir is None else Path(cache_dir) / f"{key}.npz"
    if path is not None and path.exists():
        z = np.load(path)
        ref = {k: z[k] for k in ("nodes", "weights", "alphas", "betas", "used")}
        ref.update(json.loads(str(z["info"])))
        ref["cached"] = str(path.name)
        return ref
    from hessbench.tasks import hessrmt_operator
    from hessrmt.curvature import slq

    op = hessrmt_operator(problem)
    c0, w0 = time.thread_time(), time.perf_counter()
    res = slq(op, probes, steps, rng=REFERENCE_SEED, reorthogonalize=True)
    info = {
        "cpu_s": time.thread_time() - c0,
        "wall_s": time.perf_counter() - w0,
        "matvecs": int(res.num_matvecs),
        "probes": probes,
        "steps": steps,
        "seed": REFERENCE_SEED,
    }
    ref = {
        "nodes": res.nodes,
        "weights": res.weights,
        "alphas": res.alphas,
        "betas": res.betas,
        "used": res.num_steps_used,
        **info,
    }
    if path is not None:
        path.parent.mkdir(parents=True, exist_ok=True)
        arrays = {k: ref[k] for k in ("nodes", "weights", "alphas", "betas", "used")}
        np.savez(path, **arrays, info=json.dumps(info))
    return ref


# -- each tool's density call, (probes, steps, seed) -> (nodes, weights, products) --------------


def hessrmt_runner(problem: Problem, quadrature: str = "gauss") -> tuple[str, Run]:
    from hessbench.tasks import hessrmt_operator
    from hessrmt.curvature import slq

    op = hessrmt_operator(problem)

    def call(p: int, m: int, seed: int) -> tuple[Any, Any, int]:
        res = slq(
            op, p, m, rng=seed, reorthogonalize=True, memory_budget=2**40, quadrature=quadrature
        )
        return res.nodes, res.weights, res.num_matvecs

    rule = (
        "Gauss rule (as every tool)"
        if quadrature == "gauss"
        else "Gauss-Radau rule with a node at 0 (same products)"
    )
    return f"probes batched through one matmat per step, full reorth., {rule}", call


def hessrmt_radau_runner(problem: Problem) -> tuple[str, Run]:
    return hessrmt_runner(problem, quadrature="radau")


def pyhessian_runner(problem: Problem) -> tuple[str, Run]:
    h, counter = A.pyhessian_setup(problem)

    def call(p: int, m: int, seed: int) -> tuple[Any, Any, int]:
        c0 = counter.count
        torch.manual_seed(seed)
        with A.default_dtype(problem.dtype), A.pyhessian_eig_shim():
            nodes, weights = h.density(iter=m, n_v=p)
        return np.asarray(nodes), np.asarray(weights), counter.count - c0

    return "density(); SHIM: removed torch.eig replaced by eigh (as upstream PR #23)", call


def curvlinops_runner(problem: Problem) -> tuple[str, Run]:
    from curvlinops import LanczosApproximateSpectrumCached

    op, counter = A.curvlinops_setup(problem)

    def call(p: int, m: int, seed: int) -> tuple[Any, Any, int]:
        c0 = counter.count
        torch.manual_seed(seed)
        cached = LanczosApproximateSpectrumCached(op, ncv=m)
        cached.approximate_spectrum(num_repeats=p)
        mv = counter.count - c0
        iters = cached._get_lanczos_iters(p)
        nodes = np.stack([torch.as_tensor(ev).double().cpu().numpy() for ev, _ in iters])
        weights = np.stack(
            [(torch.as_tensor(V)[0, :] ** 2).double().cpu().numpy() for _, V in iters]
        )
        return nodes, weights, mv

    return "LanczosApproximateSpectrumCached (eigsh boundaries + Papyan Lanczos, no reorth.)", call


def eigenthings_runner(problem: Problem) -> tuple[str, Run]:
    from hessian_eigenthings import spectral_density

    op, counter = A.eigenthings_setup(problem)

    def call(p: int, m: int, seed: int) -> tuple[Any, Any, int]:
        c0 = counter.count
        # its probe j uses seed + j: space the seeds so no probe is shared between runs
        res = spectral_density(op, num_runs=p, lanczos_steps=m, seed=1000 * seed)
        return (
            res.raw_eigenvalues.double().cpu().numpy(),
            res.raw_weights.double().cpu().numpy(),
            counter.count - c0,
        )

    return "spectral_density (sequential probes, full reorth.)", call


#: hessrmt's own rows: the Gauss rule every tool uses, and its Gauss-Radau rule at 0.
OURS = ("hessrmt", "hessrmt-radau")

RUNNERS: dict[str, Callable[[Problem], tuple[str, Run]]] = {
    "hessrmt": hessrmt_runner,
    "hessrmt-radau": hessrmt_radau_runner,
    "pyhessian": pyhessian_runner,
    "curvlinops": curvlinops_runner,
    "eigenthings": eigenthings_runner,
}


# -- scoring -------------------------------------------------------------------------------------


def setting_point(p: int, m: int, runs: list[tuple[float, float, int, float]]) -> dict[str, Any]:
    """One (probes, steps) setting over its seeds' runs (cpu s, wall s, products, W1): W1 the
    mean (with the per-seed values and their range), times the medians, products of seed 0."""
    cpu, wall, mv, w1 = (np.array(x, dtype=float) for x in zip(*runs))
    return {
        "probes": p,
        "steps": m,
        "cpu_s": float(np.median(cpu)),
        "wall_s": float(np.median(wall)),
        "matvecs": int(mv[0]),
        "w1": float(w1.mean()),
        "w1_seeds": [float(x) for x in w1],
        "w1_range": [float(w1.min()), float(w1.max())],
    }


def time_to_target(points: list[dict[str, Any]], target: float, key: str = "cpu_s") -> Any:
    """The point (a setting's dict with ``w1`` and ``key``) of least time among those with
    ``w1 <= target``; None when no setting reaches the target."""
    ok = [pt for pt in points if pt.get("w1") is not None and pt["w1"] <= target]
    return min(ok, key=lambda pt: pt[key]) if ok else None


def equal_w1(
    points_by_tool: dict[str, list[dict[str, Any]]],
    resolution: float | None = None,
    base: str = "hessrmt",
    key: str = "cpu_s",
    bases: tuple[str, ...] = OURS,
) -> dict[str, Any]:
    """Compare tools at equal W1.

    The target is the loosest W1 that every tool reaches at its best setting,
    ``max_tool min_setting W1``; each tool's time is that of its fastest setting with
    ``W1 <= target`` (equal-or-better accuracy), and the speed-up of ``base`` over a tool is
    that time divided by ``base``'s (``speedup_of[b]``: the same for each of ``bases``
    present). ``resolved`` says whether the target is above twice the reference's resolution
    (else the ranking is within the reference's own noise).
    """
    best = {
        tool: min(pt["w1"] for pt in pts if pt.get("w1") is not None)
        for tool, pts in points_by_tool.items()
        if any(pt.get("w1") is not None for pt in pts)
    }
    if not best:
        return {"target_w1": None, "tools": {}}
    target = max(best.values())
    chosen = {tool: time_to_target(points_by_tool[tool], target, key) for tool in best}
    base_t = chosen[base][key] if chosen.get(base) is not None else None
    base_times = {b: chosen[b][key] for b in bases if chosen.get(b) is not None}
    tools = {}
    for tool, pt in chosen.items():
        tools[tool] = {
            "setting": None if pt is None else [pt["probes"], pt["steps"]],
            "w1": None if pt is None else pt["w1"],
            "time": None if pt is None else pt[key],
            "matvecs": None if pt is None else pt.get("matvecs"),
            "best_w1": best[tool],
            "base_speedup": None if pt is None or not base_t else pt[key] / base_t,
            "speedup_of": {
                b: None if pt is None or not t else pt[key] / t for b, t in base_times.items()
            },
        }
    return {
        "target_w1": target,
        "time_key": key,
        "resolved": None if resolution is None else bool(target > 2 * resolution),
        "tools": tools,
    }


# -- the task ------------------------------------------------------------------------------------


def task_slq_w1(
    problem: Problem,
    cfg: Any,
    available: dict[str, str | None],
    cache_dir: Path | None = None,
) -> dict[str, Any]:
    """Every tool at each of ``cfg.slq_settings`` (probes, steps), scored by W1 to the
    reference of ``cfg.slq_ref`` (probes, steps; ``cfg.slq_ref_by_problem[name]`` where given);
    each setting runs once per seed of
    ``cfg.slq_w1_seeds`` (:func:`setting_point`)."""
    from hessbench.tasks import _guard, _row, _unavailable, log

    rp, rm = getattr(cfg, "slq_ref_by_problem", {}).get(problem.name, cfg.slq_ref)
    log(f"slq at equal W1 on {problem.name}: reference {rp}x{rm}, settings {cfg.slq_settings}")
    ref = slq_reference(problem, rp, rm, cache_dir)
    resolution = reference_resolution(ref)
    res_w1 = max(resolution.values())
    rows: list[dict[str, Any]] = []
    points: dict[str, list[dict[str, Any]]] = {}

    seeds = list(range(max(1, cfg.slq_w1_seeds)))

    def run_tool(tool: str) -> dict[str, Any]:
        variant, call = RUNNERS[tool](problem)
        pts = []
        for p, m in cfg.slq_settings:
            runs = []
            for seed in seeds:
                c0, w0 = time.thread_time(), time.perf_counter()
                nodes, weights, mv = call(p, m, seed)
                cpu, wall = time.thread_time() - c0, time.perf_counter() - w0
                w1 = w1_between(nodes, weights, ref["nodes"], ref["weights"])
                runs.append((cpu, wall, int(mv), w1))
            pts.append(setting_point(p, m, runs))
            pt = pts[-1]
            log(
                f"    {tool} {p}x{m}: W1 {pt['w1']:.3g} (mean of {len(runs)} seeds), "
                f"{pt['matvecs']} products, cpu {pt['cpu_s']:.1f} s"
            )
        points[tool] = pts
        return _row(tool, variant, points=pts)

    for tool in (*OURS, "pyhessian", "curvlinops", "eigenthings"):
        why = _unavailable(cfg, available, tool) if tool not in OURS else None
        rows.append(_row(tool, status=why) if why else _guard(tool, "", lambda t=tool: run_tool(t)))
    return {
        "task": "slq-w1",
        "problem": problem.describe(),
        "settings": {
            "settings": [list(s) for s in cfg.slq_settings],
            "seeds": seeds,
            "timing": "each setting once per seed; median CPU seconds of this thread (1 torch "
            "thread) and wall; W1 the mean over the seeds",
        },
        "reference": {
            **{k: v for k, v in ref.items() if not isinstance(v, np.ndarray)},
            **resolution,
            "how": f"hessrmt slq, {rp} probes x {rm} steps, full reorthogonalisation, "
            f"Rademacher probes, seed {REFERENCE_SEED}",
        },
        "equal_w1": {
            "cpu": equal_w1(points, res_w1, key="cpu_s"),
            "wall": equal_w1(points, res_w1, key="wall_s"),
        },
        "rows": rows,
    }


def _w1_cell(pt: dict[str, Any]) -> str:
    rng, n = pt.get("w1_range"), len(pt.get("w1_seeds") or [1])
    if not rng or n < 2:
        return f"{pt['w1']:.3g}"
    return f"{pt['w1']:.3g} [{rng[0]:.3g}-{rng[1]:.3g}] (n={n})"


def render_slq_w1(t: dict[str, Any], problem_line: str) -> str:
    """Markdown for :func:`task_slq_w1`: the reference, every (tool, setting), equal-W1 table."""
    ref = t["reference"]
    out = [
        f"{problem_line}. Reference: {ref['how']} ({ref['matvecs']} products, "
        f"{ref['cpu_s']:.0f} CPU s"
        + (f"; loaded from `bench/results/{ref['cached']}`" if ref.get("cached") else "")
        + f"). Its resolution: W1 between its probe halves {ref['halves_w1']:.3g}, between "
        f"its {ref['steps']} and {ref['steps'] // 2} steps {ref['half_steps_w1']:.3g}.",
        "",
        "| tool | variant | probes x steps | products | CPU s | wall s | W1 to reference "
        "(mean [min-max] over seeds) |",
        "|---|---|---|---|---|---|---|",
    ]
    for r in t["rows"]:
        if r["status"] != "ok":
            err = r.get("error", "")[:120]
            out.append(f"| {r['tool']} | {err} | - | - | - | - | {r['status']} |")
            continue
        for pt in r["points"]:
            out.append(
                f"| {r['tool']} | {r['variant']} | {pt['probes']} x {pt['steps']} | "
                f"{pt['matvecs']} | {pt['cpu_s']:.1f} | {pt['wall_s']:.1f} | {_w1_cell(pt)} |"
            )
    eq = t["equal_w1"]["cpu"]
    ours = [b for b in OURS if b in eq.get("tools", {})]
    if eq.get("target_w1") is not None:
        out += [
            "",
            f"At equal W1: target {eq['target_w1']:.3g} (the loosest W1 every tool reaches; "
            + ("above" if eq.get("resolved") else "NOT above")
            + " twice the reference's resolution). Each tool's fastest setting with W1 <= target:",
            "",
            "| tool | setting | W1 | products | CPU s | "
            + " | ".join(f"{b} speed-up (CPU)" for b in ours)
            + " |",
            "|---|---|---|---|---|" + "---|" * len(ours),
        ]
        for tool, c in eq["tools"].items():
            if c["setting"] is None:
                out.append(f"| {tool} | none reaches it | - | - | - |" + " - |" * len(ours))
                continue
            cells = []
            for b in ours:
                sp = (c.get("speedup_of") or {}).get(b)
                cells.append("1 (itself)" if tool == b else f"{sp:.2f}x" if sp else "-")
            out.append(
                f"| {tool} | {c['setting'][0]} x {c['setting'][1]} | {c['w1']:.3g} | "
                f"{c['matvecs']} | {c['time']:.1f} | " + " | ".join(cells) + " |"
            )
    return "\n".join(out) + "\n"


def goals_slq_w1(t: dict[str, Any]) -> list[dict[str, Any]]:
    """Issue 18's SLQ goals from the equal-W1 comparison (CPU time), one row per hessrmt rule
    (the Gauss rule every tool uses, and the Gauss-Radau rule at 0 where it was run)."""
    eq = t["equal_w1"]["cpu"]
    tools = eq.get("tools", {})
    out = []
    for ours in OURS:
        h = tools.get(ours)
        if h is None:
            continue
        label = "" if ours == "hessrmt" else " (Gauss-Radau rule at 0)"
        for tool, factor in (("pyhessian", 3.0), ("curvlinops", 1.5)):
            c = tools.get(tool)
            if c is None:
                continue
            sp = (c.get("speedup_of") or {}).get(
                ours, c.get("base_speedup") if ours == "hessrmt" else None
            )
            met = sp is not None and sp >= factor and h["setting"] is not None
            if eq.get("resolved") is False:
                met = False
            measured = "no setting reached the target" if sp is None else f"{sp:.2f}x"
            out.append(
                {
                    "goal": f"SLQ{label} >= {factor:g}x faster than {tool} at equal or better W1 "
                    "(to a long-Lanczos reference; CPU time)",
                    "problem": t["problem"].get("name"),
                    "measured": f"{measured} at W1 <= {eq['target_w1']:.3g}",
                    "met": met,
                }
            )
    return out
