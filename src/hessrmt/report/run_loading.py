"""Reading an ``hessrmt analyze`` run folder back for ``hessrmt report``, with every check.

A folder is accepted only if it is a finished run folder (not the temporary or the checkpoints of
an unfinished run, see :mod:`hessrmt.runfolder`) whose ``summary.json`` is an analyze summary and
whose ``spectrum.npz`` holds every spectrum the summary lists as a finite real array (1-D; 2-D for
``batch``). Anything else is a one-line :class:`~hessrmt.errors.DataError`, before any file of
the folder is rewritten.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

from hessrmt.errors import DataError

#: Files a run folder must hold for its report to be rebuilt.
REPORT_FILES = ("summary.json", "spectrum.npz")


def load_run(run_dir: str | Path) -> tuple[dict, dict[str, np.ndarray], dict[str, np.ndarray]]:
    """``summary.json``, ``spectrum.npz`` and (if present) ``slq.npz`` of a run folder."""
    run = Path(run_dir)
    if not run.is_dir():
        raise DataError(f"run folder {run} not found; give the folder written by hessrmt analyze")
    _check_unfinished(run)
    for name in REPORT_FILES:
        if not (run / name).is_file():
            raise DataError(f"{run} has no {name}; it is not a complete hessrmt analyze run folder")
    try:
        summary = json.loads((run / "summary.json").read_text())
    except (OSError, ValueError) as exc:
        raise DataError(f"{run / 'summary.json'} cannot be read: {exc}") from exc
    if not isinstance(summary, dict) or "spectra" not in summary:
        raise DataError(f"{run / 'summary.json'} is not a hessrmt analyze summary")
    spectra = _load_npz(run / "spectrum.npz")
    slq = _load_npz(run / "slq.npz") if (run / "slq.npz").is_file() else {}
    _check_spectra(run, summary, spectra)
    return summary, spectra, slq


def _check_unfinished(run: Path) -> None:
    """Refuse temporaries and checkpoints of unfinished runs (they may hold stale halves)."""
    from hessrmt.runfolder import read_marker

    marker = read_marker(run)
    name = run.resolve().name
    temporary = name.startswith(".") and (".tmp-" in name or ".old-" in name)
    if temporary or name.endswith(".partial") or (marker and marker.get("state") != "complete"):
        raise DataError(
            f"{run} is the temporary folder or checkpoints of an unfinished run, not a run "
            "folder; rerun hessrmt analyze with its --out to finish it"
        )


def _check_spectra(
    run: Path, summary: Mapping[str, Any], spectra: Mapping[str, np.ndarray]
) -> None:
    """``spectrum.npz`` must hold every spectrum ``summary.json`` lists, as finite real arrays."""
    names = summary.get("spectra")
    if not isinstance(names, list) or not names or not all(isinstance(n, str) for n in names):
        raise DataError(f"{run / 'summary.json'} lists no spectra; it is not an analyze summary")
    missing = [n for n in names if n not in spectra]
    if missing:
        raise DataError(
            f"{run / 'spectrum.npz'} lacks {', '.join(missing)} listed in summary.json (it "
            f"holds {', '.join(sorted(spectra)) or 'nothing'}); the run folder is inconsistent"
        )
    for n in names:
        a = spectra[n]
        ok = a.dtype.kind in "fi" and a.ndim == (2 if n == "batch" else 1) and a.size > 0
        if not ok or not np.all(np.isfinite(a)):
            raise DataError(
                f"{run / 'spectrum.npz'}[{n!r}] is not a finite real "
                f"{'2-D' if n == 'batch' else '1-D'} array ({a.dtype} {a.shape})"
            )


def _load_npz(path: Path) -> dict[str, np.ndarray]:
    try:
        with np.load(path, allow_pickle=False) as z:
            return {k: z[k] for k in z.files}
    except (OSError, ValueError) as exc:
        raise DataError(f"{path} cannot be read: {exc}") from exc


__all__ = ["REPORT_FILES", "load_run"]
