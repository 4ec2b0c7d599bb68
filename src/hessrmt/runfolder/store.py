"""The checkpoint store of a run: completed steps, complete or absent."""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import numpy as np

from hessrmt.errors import DataError, InputError
from hessrmt.io import atomic_save_npz, atomic_write_json
from hessrmt.runfolder.markers import MARKER, _marker_doc, read_marker, remove_marked

#: Step names: letters, digits, ``_``, ``-`` and ``.`` (they become file names).
_STEP_RE = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.-]{0,99}$")

Compute = Callable[[], tuple[Mapping[str, np.ndarray], Mapping[str, Any]]]


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def _check_step_name(name: str) -> None:
    if not isinstance(name, str) or not _STEP_RE.match(name):
        raise InputError(f"step name {name!r} must be letters, digits, '_', '-' or '.'")


# ---------------------------------------------------------------------------------------------
# checkpoint store


class StepStore:
    """Completed steps of one run, keyed by step name, in one checkpoint folder.

    Each step is ``<name>.npz`` (arrays) then ``<name>.json`` (info, the NPZ's
    SHA-256 and the fingerprint); both writes are atomic and the JSON goes last, so a step is
    either complete or absent. Results (:class:`hessrmt.results.Result`) go to
    ``results/<name>.{npz,json}``. The folder is created on the first save, with the marker.

    For backwards compatibility, constructing a store on a folder whose marker has another
    fingerprint discards it (``discarded`` is then True); :class:`RunFolder` checks first and
    refuses instead, unless asked to overwrite.
    """

    def __init__(self, directory: str | Path, fingerprint: str, *, kind: str = "run") -> None:
        self.directory = Path(directory)
        self.fingerprint = fingerprint
        self.kind = kind
        self.discarded = False
        if self.directory.exists():
            doc = read_marker(self.directory)
            if doc is None or doc.get("fingerprint") != fingerprint:
                self.discarded = remove_marked(self.directory)

    def _ensure(self) -> None:
        try:
            (self.directory / "results").mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise DataError(
                f"cannot create checkpoint folder {self.directory}: {exc.strerror or exc}; "
                "choose a writable --out"
            ) from exc
        if read_marker(self.directory) is None:
            atomic_write_json(
                self.directory / MARKER, _marker_doc(self.kind, self.fingerprint, "partial")
            )

    def _paths(self, name: str) -> tuple[Path, Path]:
        _check_step_name(name)
        return self.directory / f"{name}.json", self.directory / f"{name}.npz"

    def completed(self) -> list[str]:
        """Names of the steps and results saved so far (complete or not: see :meth:`has`)."""
        names = [p.stem for p in self.directory.glob("*.json") if p.name != MARKER]
        names += [p.stem for p in (self.directory / "results").glob("*.json")]
        return sorted(names)

    def has(self, name: str) -> bool:
        """Whether step ``name`` completed (its JSON exists and its NPZ checksum matches)."""
        js, npz = self._paths(name)
        if not js.is_file() or not npz.is_file():
            return False
        try:
            doc = json.loads(js.read_text(encoding="utf-8"))
        except (OSError, ValueError, UnicodeDecodeError):
            return False
        return (
            isinstance(doc, dict)
            and doc.get("fingerprint") == self.fingerprint
            and doc.get("npz_sha256") == _sha256(npz)
        )

    def save(
        self, name: str, arrays: Mapping[str, np.ndarray], info: Mapping[str, Any] | None = None
    ) -> None:
        """Record step ``name`` as complete with its arrays and JSON-able ``info``."""
        self._ensure()
        js, npz = self._paths(name)
        atomic_save_npz(npz, arrays)
        atomic_write_json(
            js,
            {"fingerprint": self.fingerprint, "npz_sha256": _sha256(npz), "info": dict(info or {})},
        )

    def load(self, name: str) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
        """Arrays and info of completed step ``name``."""
        if not self.has(name):
            raise DataError(f"checkpoint step {name!r} is missing or damaged in {self.directory}")
        js, npz = self._paths(name)
        with np.load(npz, allow_pickle=False) as z:
            arrays = {k: z[k] for k in z.files}
        return arrays, json.loads(js.read_text(encoding="utf-8"))["info"]

    def run(self, name: str, compute: Compute) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
        """Load step ``name`` if completed, else ``compute()`` it and save it."""
        if self.has(name):
            return self.load(name)
        arrays, info = compute()
        self.save(name, arrays, info)
        # Return what was stored, so a fresh and a resumed run see identical values.
        return self.load(name)

    def result_stem(self, name: str) -> Path:
        _check_step_name(name)
        return self.directory / "results" / name

    def remove(self) -> None:
        """Delete the store (after the run folder has been written)."""
        remove_marked(self.directory)
