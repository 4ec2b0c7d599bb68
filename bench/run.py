"""Single entry point of the benchmarks (``make bench`` / ``make bench-quick``).

    .venv/bin/python bench/run.py [--quick] [--device cpu|cuda] [--tasks hvp,topk,...]

1. Makes sure the anchors (PyHessian, curvlinops, hessian-eigenthings) can be imported: when the
   current interpreter lacks them it (re)creates the isolated environment ``bench/.anchors-venv``
   with ``bench/setup_anchors.sh`` (torch pinned to the project's version, hessrmt installed
   editable into it) and re-executes itself there, so that one process runs hessrmt and the
   anchors side by side. Without network or with ``--no-anchors`` it runs hessrmt and torch only
   and says so in the table.
2. Runs the tasks (see ``bench/hessbench/tasks.py``) on identical models and data.
3. Writes ``bench/results/<UTC date-time>.json``, copies it to ``docs/benchmarks.json`` and writes
   ``docs/benchmarks.md`` (unless ``--no-docs``), and prints the markdown.

``--quick`` uses smaller problems and fewer repeats (under five minutes on 2 idle cores).
"""

from __future__ import annotations

import argparse
import dataclasses
import datetime as dt
import json
import os
import shutil
import subprocess
import sys
import time
from contextlib import nullcontext
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(HERE))

ANCHORS_PYTHON = HERE / ".anchors-venv" / "bin" / "python"
IN_VENV_FLAG = "HESSBENCH_IN_ANCHORS_VENV"

ALL_TASKS = ("hvp", "topk", "slq", "trace", "dense", "rmt")
PROBLEM_TASKS = ("hvp", "topk", "slq", "trace")

#: Which problems each task runs on, per mode.
PLAN = {
    "quick": {
        "hvp": ["digits-mlp", "synthetic-mlp"],
        "topk": ["digits-mlp"],
        "slq": ["digits-mlp"],
        "trace": ["digits-mlp"],
        "dense": ["digits-mlp5k"],
        "rmt": ["scripts"],
    },
    "full": {
        "hvp": ["digits-mlp", "digits-lenet", "synthetic-mlp"],
        "topk": ["digits-mlp", "synthetic-mlp"],
        "slq": ["digits-mlp"],
        "trace": ["digits-mlp", "synthetic-mlp"],
        "dense": ["digits-mlp5k"],
        "rmt": ["scripts"],
    },
}
#: ``--suite arch`` (issue 18): PyHessian's and curvlinops' headline workloads. Task -> problems.
ARCH_PLAN = {
    "quick": {
        "hvp": ["cifar-resnet20", "digits-transformer", "cifar-resnet18"],
        "topk": ["cifar-resnet20", "digits-transformer"],
        "trace": ["cifar-resnet20", "digits-transformer"],
        "slq": ["cifar-resnet20", "digits-transformer"],
    },
    "full": {
        "hvp": ["cifar-resnet20", "digits-transformer", "cifar-resnet18"],
        "topk": ["cifar-resnet20", "digits-transformer"],
        "trace": ["cifar-resnet20", "digits-transformer"],
        "slq": ["cifar-resnet20", "digits-transformer"],
    },
}
#: The heading of the arch suite's section in docs/benchmarks.md (kept by default-suite runs).
ARCH_HEADING = "\n## Real architectures (issue 18; `bench/run.py --suite arch`)\n"

#: Problems small enough for an exact dense spectrum.
EXACT = {"digits-mlp", "digits-lenet", "digits-mlp5k", "tiny-mlp"}


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="small problems, fewer repeats")
    ap.add_argument(
        "--suite",
        choices=("default", "arch"),
        default="default",
        help="default: the MLP/LeNet problems; arch: ResNet-20, ResNet-18, transformer",
    )
    ap.add_argument(
        "--data-root",
        default=None,
        help="folder holding CIFAR-10 (cifar-10-batches-*) for the arch suite; without it a "
        "labelled synthetic stand-in of the same shape",
    )
    ap.add_argument("--device", default="cpu", help="cpu (default) or cuda")
    ap.add_argument("--tasks", default=",".join(ALL_TASKS), help="comma-separated subset")
    ap.add_argument(
        "--skip",
        default="",
        help="comma-separated task:problem pairs not to run (e.g. topk:digits-mlp)",
    )
    ap.add_argument(
        "--rmt-n", type=int, default=None, help="--n for bench/bench_rmt_*.py (quick: 20000)"
    )
    ap.add_argument("--no-anchors", action="store_true", help="hessrmt and torch only")
    ap.add_argument("--no-setup", action="store_true", help="never create the anchors venv")
    ap.add_argument(
        "--default-malloc",
        action="store_true",
        help="leave glibc's allocator defaults (by default the process is tuned as the hessrmt "
        "command tunes it, hessrmt.allocator; every tool runs in that one process)",
    )
    ap.add_argument("--no-docs", action="store_true", help="do not write docs/benchmarks.*")
    ap.add_argument("--repeats", type=int, default=None, help="override the repeat count")
    ap.add_argument("--out-dir", default=str(HERE / "results"), help="where the JSON goes")
    ap.add_argument("--note", default="", help="free text recorded with the run")
    ap.add_argument(
        "--threads", type=int, default=None, help="torch intra-op threads (default: torch's)"
    )
    ap.add_argument(
        "--merge",
        default=None,
        help="a previous results JSON: its tasks not rerun now are kept (dates recorded)",
    )
    ap.add_argument("--render", default=None, help="only re-render a saved results JSON")
    ap.add_argument(
        "--sizes",
        default="",
        help="comma-separated NAME=BxS overrides of a problem's batches B and batch size S "
        "(e.g. cifar-resnet20=2x32); recorded in each problem's description",
    )
    return ap.parse_args(argv)


def parse_sizes(text: str) -> dict[str, tuple[int, int]]:
    """``"a=2x32,b=1x8"`` as ``{"a": (2, 32), "b": (1, 8)}`` (``--sizes``)."""
    out: dict[str, tuple[int, int]] = {}
    for item in filter(None, (t.strip() for t in text.split(","))):
        name, _, size = item.partition("=")
        b, _, n = size.partition("x")
        if not (name and b.isdigit() and n.isdigit() and int(b) > 0 and int(n) > 0):
            raise SystemExit(f"--sizes: expected NAME=BxS with positive B and S, got {item!r}")
        out[name] = (int(b), int(n))
    return out


def _anchors_importable() -> bool:
    try:
        import curvlinops  # noqa: F401
        import hessian_eigenthings  # noqa: F401
        import pyhessian  # noqa: F401
    except Exception:
        return False
    return True


def ensure_anchors(args: argparse.Namespace, argv: list[str]) -> str:
    """Return a note on the anchors; may re-execute this script in the anchors venv."""
    if args.no_anchors:
        return "not used (--no-anchors)."
    if _anchors_importable():
        return "imported in this process (isolated environment bench/.anchors-venv)."
    if os.environ.get(IN_VENV_FLAG):
        return "the anchors environment exists but does not import them; run with --no-anchors."
    if not ANCHORS_PYTHON.exists() and not args.no_setup:
        print("[bench] creating bench/.anchors-venv (bench/setup_anchors.sh) ...", file=sys.stderr)
        proc = subprocess.run(["bash", str(HERE / "setup_anchors.sh")], check=False)
        if proc.returncode != 0:
            return "NOT available: bench/setup_anchors.sh failed (network?); hessrmt/torch only."
    if ANCHORS_PYTHON.exists():
        check = subprocess.run(
            [
                str(ANCHORS_PYTHON),
                "-c",
                "import hessrmt, pyhessian, curvlinops, hessian_eigenthings",
            ],
            capture_output=True,
            check=False,
        )
        if check.returncode == 0:
            env = dict(os.environ, **{IN_VENV_FLAG: "1"})
            os.execve(str(ANCHORS_PYTHON), [str(ANCHORS_PYTHON), str(Path(__file__)), *argv], env)
        return "NOT available: bench/.anchors-venv does not import them; hessrmt/torch only."
    return "NOT available (bench/.anchors-venv missing, --no-setup); hessrmt/torch only."


def task_rmt_scripts(*, n: int | None) -> list[dict]:
    """Run the RMT engineers' ``bench/bench_rmt_*.py`` scripts (with ``--n n`` when given)."""
    from hessbench.tasks import log

    out = []
    for script in sorted(HERE.glob("bench_rmt_*.py")):
        cmd = [sys.executable, str(script), *(["--n", str(n)] if n else [])]
        log(f"rmt script {script.name}")
        start = time.perf_counter()
        try:
            proc = subprocess.run(cmd, capture_output=True, text=True, timeout=600, check=False)
            status = "ok" if proc.returncode == 0 else "failed"
            text = proc.stdout if proc.returncode == 0 else (proc.stdout + proc.stderr)[-2000:]
        except subprocess.TimeoutExpired:
            status, text = "failed", "timed out after 600 s"
        out.append(
            {
                "task": "rmt",
                "problem": {"name": script.name},
                "settings": {"command": " ".join(["python", f"bench/{script.name}", *cmd[2:]])},
                "reference": {},
                "rows": [],
                "status": status,
                "seconds": time.perf_counter() - start,
                "stdout": text,
            }
        )
    return out


def _jsonable(obj: object) -> object:
    import numpy as np

    if isinstance(obj, np.ndarray):
        return obj.tolist()
    if isinstance(obj, np.generic):
        return obj.item()
    return str(obj)


def _meta(args, cfg, machine, available, anchors_note, argv, start, mode):  # type: ignore[no-untyped-def]
    """Run metadata (refreshed after every task, so partial results are renderable)."""
    from hessbench.report import load_note
    from hessbench.timing import load_average, package_versions
    from hessrmt.allocator import allocator_state

    machine["load_average_end"] = load_average()
    return {
        "date_utc": dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M"),
        "command": "python bench/run.py " + " ".join(argv),
        "mode": mode,
        "device": args.device,
        "machine": machine,
        "versions": package_versions(),
        "anchors": available,
        "anchors_note": anchors_note,
        "allocator": allocator_state(),
        "config": {k: v for k, v in vars(cfg).items()},
        "wall_s": time.perf_counter() - start,
        "load_note": load_note(machine),
        "note": args.note,
        "findings": [],
    }


def make_config(args: argparse.Namespace):  # type: ignore[no-untyped-def]
    from hessbench.tasks import Config

    if args.quick:
        cfg = Config(
            mode="quick",
            repeats=3,
            repeats_slow=2,
            max_total_s=3.0,
            trace_probes=30,
            slq_seeds=3,
            power_max_iter=50,
            eigenthings_max_steps=320,
        )
    else:
        cfg = Config(mode="full", repeats=5, repeats_slow=3, max_total_s=30.0, power_max_iter=100)
    if args.repeats is not None:
        cfg.repeats = cfg.repeats_slow = args.repeats
    if args.no_anchors:
        cfg.anchors = ()
    if args.suite == "arch" and args.quick:  # P = 272k on a shared 2-core CPU: small budgets
        cfg.slq_probes, cfg.slq_steps, cfg.slq_seeds, cfg.trace_probes = 4, 30, 1, 20
        cfg.topk_tol, cfg.power_max_iter, cfg.eigenthings_max_steps = 1e-4, 20, 80
        cfg.topk_extra_variants, cfg.hvp_block_max_params = False, 5_000_000
        cfg.slq_ref, cfg.slq_settings = (2, 120), ((1, 10), (1, 15), (1, 20), (1, 30))
        cfg.slq_w1_seeds = 3
        # the transformer's products are cheap: a reference long enough that the 1 x 30 settings'
        # W1 is above twice its resolution (with 2 x 120 its 120-vs-60-step W1 was 0.0094)
        cfg.slq_ref_by_problem = {"digits-transformer": (4, 240)}
    return cfg


def run(args: argparse.Namespace, anchors_note: str, argv: list[str]) -> dict:
    import torch

    from hessbench.anchors import available_anchors
    from hessbench.problems import attention_kernels, build_problem
    from hessbench.tasks import (
        exact_spectrum,
        log,
        task_dense,
        task_hvp,
        task_slq,
        task_topk,
        task_trace,
    )
    from hessbench.timing import machine_info

    if not args.default_malloc:  # process-wide: every tool runs with the same allocator
        from hessrmt.allocator import tune_cpu_allocator

        tune_cpu_allocator()
    if args.threads is not None:
        torch.set_num_threads(args.threads)
        os.environ["OMP_NUM_THREADS"] = str(args.threads)  # the dense-Hessian subprocesses
    if args.device.startswith("cuda") and not torch.cuda.is_available():
        raise SystemExit("--device cuda: no CUDA device is available on this machine")
    cfg = make_config(args)
    mode = cfg.mode
    plan = (ARCH_PLAN if args.suite == "arch" else PLAN)[mode]
    if args.data_root:
        os.environ["HESSBENCH_DATA_ROOT"] = str(args.data_root)
    tasks = [t for t in args.tasks.split(",") if t]
    unknown = sorted(set(tasks) - set(ALL_TASKS))
    if unknown:
        raise SystemExit(f"unknown task(s) {unknown}; choose from {ALL_TASKS}")
    available = available_anchors() if cfg.anchors else {}
    start = time.perf_counter()
    machine = machine_info(args.device)
    results: dict = {"tasks": [], "references": {}}
    problems: dict = {}
    exact: dict = {}

    sizes = parse_sizes(args.sizes)

    def problem(name: str):  # type: ignore[no-untyped-def]
        if name not in problems:
            problems[name] = build_problem(
                name, mode=mode, device=args.device, sizes=sizes.get(name)
            )
        return problems[name]

    def reference(name: str):  # type: ignore[no-untyped-def]
        if name not in EXACT:
            return None
        if name not in exact:
            log(f"exact spectrum of {name}")
            exact[name] = exact_spectrum(problem(name))
            r = exact[name]
            results["references"][name] = {k: v for k, v in r.items() if k != "eigenvalues"}
        return exact[name]

    def _run_task(task: str, name: str) -> None:
        if task == "hvp":
            results["tasks"].append(task_hvp(problem(name), cfg, available))
        elif task == "topk" and args.suite == "arch":  # the top 10, then the top eigenvalue
            for k in (cfg.k, 1):
                sub = dataclasses.replace(cfg, k=k)
                results["tasks"].append(task_topk(problem(name), sub, available, reference(name)))
        elif task == "topk":
            results["tasks"].append(task_topk(problem(name), cfg, available, reference(name)))
        elif task == "slq" and reference(name) is None:  # no exact spectrum: equal-W1 task
            from hessbench.slq_w1 import task_slq_w1

            results["tasks"].append(
                task_slq_w1(problem(name), cfg, available, cache_dir=Path(args.out_dir))
            )
        elif task == "slq":
            results["tasks"].append(task_slq(problem(name), cfg, available, reference(name)))
        elif task == "trace":
            results["tasks"].append(task_trace(problem(name), cfg, available, reference(name)))
        elif task == "rmt":
            n = args.rmt_n or (20_000 if args.quick else None)
            results["tasks"].extend(task_rmt_scripts(n=n))
        elif task == "dense":
            results["tasks"].append(task_dense(name, cfg, args.device, timeout_s=900))

    partial = Path(args.out_dir) / "partial.json"
    partial.parent.mkdir(parents=True, exist_ok=True)
    for task in tasks:
        for name in plan.get(task, []):
            if f"{task}:{name}" in args.skip.split(","):
                continue
            kernels = attention_kernels(problem(name)) if task in PROBLEM_TASKS else nullcontext()
            with kernels:
                _run_task(task, name)
            results["meta"] = _meta(args, cfg, machine, available, anchors_note, argv, start, mode)
            partial.write_text(json.dumps(results, default=_jsonable))
    results["meta"] = _meta(args, cfg, machine, available, anchors_note, argv, start, mode)
    return results


def write_docs(docs: Path, text: str, results_json: Path, suite: str) -> None:
    """docs/benchmarks.md (+ .json): the default suite replaces the document but keeps the arch
    suite's section (after :data:`ARCH_HEADING`); the arch suite replaces only that section
    (headings demoted one level) and writes docs/benchmarks-arch.json."""
    from hessrmt.io import atomic_write_text

    docs.mkdir(exist_ok=True)
    md = docs / "benchmarks.md"
    old = md.read_text(encoding="utf-8") if md.exists() else ""
    head, _, arch = old.partition(ARCH_HEADING)
    if suite == "arch":
        shutil.copyfile(results_json, docs / "benchmarks-arch.json")
        body = text.replace("\n## ", "\n### ").split("\n", 1)[1]  # demote; drop the title
        body = body.replace("`docs/benchmarks.json`", "`docs/benchmarks-arch.json`")
        atomic_write_text(md, head.rstrip("\n") + "\n" + ARCH_HEADING + body.rstrip("\n") + "\n")
    else:
        shutil.copyfile(results_json, docs / "benchmarks.json")
        keep = (ARCH_HEADING + arch) if arch else ""
        atomic_write_text(md, text.rstrip("\n") + "\n" + keep.rstrip("\n") + ("\n" if keep else ""))


def save(results: dict, args: argparse.Namespace) -> Path:
    from hessbench.report import render
    from hessrmt.io import atomic_write_json

    stamp = dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H%M%SZ")
    out_dir = Path(args.out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    path = out_dir / f"{stamp}{'-quick' if args.quick else ''}.json"
    atomic_write_json(path, results)
    text = render(results)
    arch = getattr(args, "suite", "default") == "arch"
    analysis = HERE / ("analysis-arch.md" if arch else "analysis.md")
    if analysis.exists():
        text += "\n## Analysis (the benchmark engineer's reading; not measured by this run)\n\n"
        text += analysis.read_text(encoding="utf-8")
    if not args.no_docs:
        write_docs(ROOT / "docs", text, path, getattr(args, "suite", "default"))
    print(text)
    print(f"\n[bench] results: {path}", file=sys.stderr)
    return path


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    args = parse_args(argv)
    if args.render:
        results = json.loads(Path(args.render).read_text(encoding="utf-8"))
    else:
        note = ensure_anchors(args, argv)
        results = run(args, note, argv)
    if args.merge and "merged_from" not in results["meta"]:
        old = json.loads(Path(args.merge).read_text(encoding="utf-8"))
        old_meta = old.get("meta") or {"date_utc": "an earlier, interrupted run", "machine": {}}
        rerun = {(t["task"], t["problem"].get("name")) for t in results["tasks"]}
        kept = [t for t in old["tasks"] if (t["task"], t["problem"].get("name")) not in rerun]
        old_load = [
            old_meta["machine"].get("load_average_start"),
            old_meta["machine"].get("load_average_end"),
        ]
        for t in kept:  # a task merged before keeps the run it was measured in
            if "from_run" not in t:
                t["from_run"], t["from_run_load"] = old_meta["date_utc"], old_load
        results["tasks"] = kept + results["tasks"]
        for name, ref in old.get("references", {}).items():
            results["references"].setdefault(name, ref)
        runs: dict[str, dict] = {}
        for t in kept:
            run_ = runs.setdefault(
                t["from_run"], {"tasks": [], "load_average": t.get("from_run_load")}
            )
            run_["tasks"].append(f"{t['task']} on {t['problem'].get('name')}")
        results["meta"]["merged_from"] = {"file": Path(args.merge).name, "runs": runs}
    save(results, args)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
