"""Timing, peak memory and machine description for the benchmarks.

Conventions:

* A measurement calls a zero-argument function ``repeats`` times after ``warmup`` untimed calls
  and reports the median, min and max wall-clock seconds (``time.perf_counter``). Expensive
  measurements stop repeating once ``max_total_s`` seconds have been spent (at least one timed
  call always runs); the number of timed calls is recorded as ``n``.
* Peak memory is measured in a fresh subprocess per measurement (see
  :mod:`hessbench.dense_worker`): ``VmHWM`` of the child (its peak resident set size;
  not ``ru_maxrss``, which Linux carries over from the parent across exec), and
  the peak minus the resident size just before the timed call (``peak_delta``).
"""

from __future__ import annotations

import os
import platform
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any


@dataclass
class Timing:
    """Wall-clock seconds of repeated calls: median, min, max and every sample."""

    samples: list[float] = field(default_factory=list)

    @property
    def median(self) -> float:
        return float(statistics.median(self.samples)) if self.samples else float("nan")

    @property
    def min(self) -> float:
        return float(min(self.samples)) if self.samples else float("nan")

    @property
    def max(self) -> float:
        return float(max(self.samples)) if self.samples else float("nan")

    def to_dict(self) -> dict[str, Any]:
        return {
            "median": self.median,
            "min": self.min,
            "max": self.max,
            "n": len(self.samples),
            "samples": list(self.samples),
        }


def measure(
    fn: Callable[[], Any],
    *,
    repeats: int = 3,
    warmup: int = 1,
    max_total_s: float = float("inf"),
    sync: Callable[[], None] | None = None,
) -> tuple[Timing, Any]:
    """Time ``fn`` ``repeats`` times after ``warmup`` untimed calls; return (timing, last value).

    ``sync`` (e.g. ``torch.cuda.synchronize``) is called before reading the clock on both sides.
    Once the timed calls have used ``max_total_s`` seconds no further call is made.
    """
    if repeats < 1:
        raise ValueError(f"repeats must be >= 1, got {repeats}")
    value = None
    for _ in range(warmup):
        value = fn()
    timing = Timing()
    spent = 0.0
    for _ in range(repeats):
        if sync is not None:
            sync()
        start = time.perf_counter()
        value = fn()
        if sync is not None:
            sync()
        elapsed = time.perf_counter() - start
        timing.samples.append(elapsed)
        spent += elapsed
        if spent >= max_total_s:
            break
    return timing, value


def measure_interleaved(
    fns: dict[Any, Callable[[], Any]],
    *,
    repeats: int = 3,
    warmup: int = 1,
    max_total_s: float = float("inf"),
) -> tuple[dict[Any, Timing], dict[Any, Any]]:
    """Time several functions ROUND-ROBIN: each repeat calls every function once, in turn.

    Load bursts from other processes then fall on all functions alike. A function whose timed
    calls have used ``max_total_s`` seconds leaves the rotation. A function that raises is
    recorded with the exception as its value and leaves the rotation.
    """
    values: dict[Any, Any] = {}
    timings = {key: Timing() for key in fns}
    live = list(fns)
    for key in list(live):
        try:
            for _ in range(warmup):
                values[key] = fns[key]()
        except Exception as exc:
            values[key] = exc
            live.remove(key)
    for _ in range(repeats):
        for key in list(live):
            start = time.perf_counter()
            try:
                values[key] = fns[key]()
            except Exception as exc:
                values[key] = exc
                live.remove(key)
                continue
            timings[key].samples.append(time.perf_counter() - start)
            if sum(timings[key].samples) >= max_total_s:
                live.remove(key)
    return timings, values


def cpu_model() -> str:
    """The CPU model name from /proc/cpuinfo (Linux), else :func:`platform.processor`."""
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as fh:
            for line in fh:
                if line.lower().startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def load_average() -> list[float] | None:
    """The 1, 5 and 15 minute load averages, or None where unavailable."""
    try:
        return [round(x, 2) for x in os.getloadavg()]
    except OSError:
        return None


def machine_info(device: str) -> dict[str, Any]:
    """CPU model, core count, memory, load, OS, Python, torch threads and GPU (if any)."""
    import torch

    info: dict[str, Any] = {
        "cpu": cpu_model(),
        "cores": os.cpu_count(),
        "torch_threads": torch.get_num_threads(),
        "platform": platform.platform(),
        "python": platform.python_version(),
        "load_average_start": load_average(),
        "device": device,
        "cuda_available": bool(torch.cuda.is_available()),
    }
    try:
        pages = os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
        info["memory_gib"] = round(pages / 2**30, 1)
    except (ValueError, OSError, AttributeError):
        pass
    if torch.cuda.is_available():
        info["gpu"] = torch.cuda.get_device_name(0)
    return info


def package_versions() -> dict[str, str | None]:
    """Versions of hessrmt, torch, numpy, scipy and the anchors (None where not importable)."""
    from importlib import metadata

    out: dict[str, str | None] = {"python": platform.python_version()}
    for dist in (
        "hessrmt",
        "torch",
        "numpy",
        "scipy",
        "PyHessian",
        "curvlinops-for-pytorch",
        "hessian-eigenthings",
        "backpack-for-pytorch",
    ):
        try:
            out[dist] = metadata.version(dist)
        except metadata.PackageNotFoundError:
            out[dist] = None
    return out


def run_json_subprocess(args: list[str], *, timeout_s: float) -> dict[str, Any]:
    """Run ``python -m <args>`` in a fresh interpreter; parse the last stdout line as JSON.

    Returns ``{"status": "failed", "error": ...}`` when the child fails, is killed (e.g. out of
    memory) or times out.
    """
    import json

    env = dict(os.environ)
    here = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    env["PYTHONPATH"] = here + os.pathsep + env.get("PYTHONPATH", "")
    try:
        proc = subprocess.run(
            [sys.executable, "-m", *args],
            capture_output=True,
            text=True,
            timeout=timeout_s,
            env=env,
            check=False,
        )
    except subprocess.TimeoutExpired:
        return {"status": "failed", "error": f"timed out after {timeout_s:.0f} s"}
    lines = [ln for ln in proc.stdout.strip().splitlines() if ln.strip()]
    if proc.returncode != 0 or not lines:
        tail = (proc.stderr or proc.stdout).strip().splitlines()[-3:]
        why = f"exit code {proc.returncode}"
        if proc.returncode < 0:
            why += " (killed by a signal: out of memory?)"
        return {"status": "failed", "error": why + ": " + " | ".join(tail)[-400:]}
    try:
        return json.loads(lines[-1])
    except json.JSONDecodeError:
        return {"status": "failed", "error": "unreadable output: " + lines[-1][-200:]}
