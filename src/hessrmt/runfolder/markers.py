"""Markers, paths and permissions of the folders :mod:`hessrmt.runfolder` makes."""

from __future__ import annotations

import datetime as _dt
import json
import os
import shutil
import tempfile
from pathlib import Path
from typing import Any

#: Marker file in every folder made by :mod:`hessrmt.runfolder` (JSON).
MARKER = ".hessrmt-run.json"


def _marker_doc(kind: str, fp: str, state: str) -> dict[str, Any]:
    from hessrmt import __version__

    return {
        "hessrmt": __version__,
        "kind": kind,
        "fingerprint": fp,
        "state": state,
        "created": _dt.datetime.now(_dt.UTC).isoformat(timespec="seconds"),
    }


def read_marker(folder: str | os.PathLike[str]) -> dict[str, Any] | None:
    """The marker of ``folder`` (a dict), or None when it has none (not made by hessrmt)."""
    path = Path(folder) / MARKER
    try:
        doc = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError, UnicodeDecodeError):
        return None
    return doc if isinstance(doc, dict) and "hessrmt" in doc else None


def is_run_folder(folder: str | os.PathLike[str]) -> bool:
    """Whether ``folder`` is a finished hessrmt run folder (marker with state ``complete``)."""
    doc = read_marker(folder)
    return bool(doc) and doc.get("state") == "complete" and Path(folder).is_dir()


def remove_marked(folder: Path) -> bool:
    """Delete ``folder`` if it carries hessrmt's marker (else leave it); return whether deleted."""
    if folder.is_dir() and not folder.is_symlink() and read_marker(folder) is not None:
        shutil.rmtree(folder, ignore_errors=True)
        return not folder.exists()
    return False


def creation_modes(directory: Path) -> tuple[int, int]:
    """Permission bits (file, folder) that ``open``/``mkdir`` give in ``directory`` now.

    Found by creating a probe file (mode 0666) and folder (0777) and reading their modes, so the
    umask is honoured without ``os.umask`` (which would change it process-wide for a moment).
    """
    probe = Path(tempfile.mkdtemp(prefix=".hessrmt-probe-", dir=directory))
    try:
        fd = os.open(probe / "f", os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o666)
        os.close(fd)
        os.mkdir(probe / "d", 0o777)
        return (probe / "f").stat().st_mode & 0o777, (probe / "d").stat().st_mode & 0o777
    finally:
        shutil.rmtree(probe, ignore_errors=True)


def share(folder: Path) -> None:
    """Give ``folder`` and its content the permissions of :func:`creation_modes`."""
    file_mode, dir_mode = creation_modes(folder.parent)
    for path in [folder, *folder.rglob("*")]:
        if not path.is_symlink():
            path.chmod(dir_mode if path.is_dir() else file_mode)


def default_out(kind: str, now: _dt.datetime | None = None) -> Path:
    """``runs/<kind>-<UTC timestamp>`` (second resolution)."""
    now = now or _dt.datetime.now(_dt.UTC)
    return Path("runs") / f"{kind}-{now.strftime('%Y%m%dT%H%M%SZ')}"


def partial_dir_for(out: str | os.PathLike[str]) -> Path:
    """The checkpoint folder of run folder ``out``: its hidden sibling ``.<name>.partial``."""
    out = Path(out)
    return out.parent / f".{out.name}.partial"
