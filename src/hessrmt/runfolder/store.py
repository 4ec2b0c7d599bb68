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

#: Suffix of the record (JSON) saying which settings a result was computed with (``results/``;
#: not ``.json``, so that ``results/*.json`` are the results alone).
RESULT_RECORD = ".settings"

#: Step names: letters, digits, ``_``, ``-`` and ``.`` (they become file names).
_STEP_RE = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.-]{0,99}$")

Compute = Callable[[], tuple[Mapping[str, np.ndarray], Mapping[str, Any]]]


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def _read_doc(path: Path) -> dict[str, Any]:
    """A checkpoint's JSON record; an empty dict when unreadable or not an object."""
    try:
        doc = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError, UnicodeDecodeError):
        return {}
    return doc if isinstance(doc, dict) else {}


def _check_step_name(name: str) -> None:
    if not isinstance(name, str) or not _STEP_RE.match(name):
        raise InputError(f"step name {name!r} must be letters, digits, '_', '-' or '.'")


# ---------------------------------------------------------------------------------------------
# checkpoint store


class StepStore:
    """Completed steps of one run, keyed by step name, in one checkpoint folder.

    Each step is ``<name>.npz`` (arrays) then ``<name>.json`` (info, the NPZ's
    SHA-256, the run's fingerprint and, when the step was saved with one, its own ``key``: the
    fingerprint of the settings that step reads); both writes are atomic and the JSON goes last,
    so a step is either complete or absent. A step is valid for a run with the same fingerprint,
    or for a request with the same ``key`` (see :func:`keep_keyed_steps`). Results
    (:class:`hessrmt.results.Result`) go to ``results/<name>.{npz,json}``. The folder is
    created on the first save, with the marker.

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

    def has(self, name: str, key: str | None = None) -> bool:
        """Whether step ``name`` completed (its JSON exists and its NPZ checksum matches) with
        this run's fingerprint, or with the step's own settings ``key`` (when given)."""
        js, npz = self._paths(name)
        if not js.is_file() or not npz.is_file():
            return False
        doc = _read_doc(js)
        return self._belongs(doc, key) and doc.get("npz_sha256") == _sha256(npz)

    def _belongs(self, doc: dict[str, Any], key: str | None) -> bool:
        """Whether a checkpoint's record names this run's fingerprint or the own settings
        ``key`` requested."""
        return doc.get("fingerprint") == self.fingerprint or (
            key is not None and doc.get("key") == key
        )

    def save(
        self,
        name: str,
        arrays: Mapping[str, np.ndarray],
        info: Mapping[str, Any] | None = None,
        key: str | None = None,
    ) -> None:
        """Record step ``name`` as complete with its arrays, JSON-able ``info`` and, when given,
        its own settings ``key``."""
        self._ensure()
        js, npz = self._paths(name)
        atomic_save_npz(npz, arrays)
        doc: dict[str, Any] = {"fingerprint": self.fingerprint, "npz_sha256": _sha256(npz)}
        if key is not None:
            doc["key"] = key
        doc["info"] = dict(info or {})
        atomic_write_json(js, doc)

    def load(
        self, name: str, key: str | None = None
    ) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
        """Arrays and info of completed step ``name`` (valid as in :meth:`has`)."""
        if not self.has(name, key):
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

    def _result_record(self, name: str) -> Path:
        return self.result_stem(name).with_name(name + RESULT_RECORD)

    def result_valid(self, name: str, key: str | None = None) -> bool:
        """Whether the saved result ``name`` belongs to this run: its record (written after
        the result) names this run's fingerprint or the result's own settings ``key``; a result
        without a record was saved by a run of this folder's settings before it was recorded."""
        rec = self._result_record(name)
        return not rec.exists() or self._belongs(_read_doc(rec), key)

    def record_result(self, name: str, key: str | None = None) -> None:
        """Record which settings the result ``name`` (just saved) was computed with."""
        doc: dict[str, Any] = {"fingerprint": self.fingerprint}
        if key is not None:
            doc["key"] = key
        atomic_write_json(self._result_record(name), doc)

    def remove(self) -> None:
        """Delete the store (after the run folder has been written)."""
        remove_marked(self.directory)


def _keep_keyed_results(results: Path) -> list[str]:
    """Delete the results of ``results/`` not recorded with their own settings key; return
    the names of the others."""
    if not results.is_dir():
        return []
    kept: list[str] = []
    for rec in results.glob("*" + RESULT_RECORD):
        if isinstance(_read_doc(rec).get("key"), str):
            kept.append(rec.name[: -len(RESULT_RECORD)])
    keep = {n + suffix for n in kept for suffix in (".json", ".npz", RESULT_RECORD)}
    for path in results.iterdir():
        if path.name not in keep and path.is_file():
            path.unlink(missing_ok=True)
    return sorted(kept)


def keep_keyed_steps(directory: Path, fingerprint: str, kind: str) -> list[str]:
    """Adopt the checkpoint folder of a run with other settings for a run with ``fingerprint``:
    keep the steps and results saved with their own settings ``key`` (each stays valid only for
    a request with the same key, :meth:`StepStore.has`, :meth:`StepStore.result_valid`), delete
    every other step and result (valid only for the old fingerprint) and re-mark the folder
    with ``fingerprint``. Returns the names of the kept steps and results; with none kept the
    folder is removed."""
    kept: list[str] = []
    for js in sorted(directory.glob("*.json")):
        if js.name == MARKER:
            continue
        if isinstance(_read_doc(js).get("key"), str):
            kept.append(js.stem)
            continue
        js.unlink(missing_ok=True)
    for npz in directory.glob("*.npz"):
        if npz.stem not in kept:
            npz.unlink(missing_ok=True)
    kept += _keep_keyed_results(directory / "results")
    if not kept:
        remove_marked(directory)
        return kept
    atomic_write_json(directory / MARKER, _marker_doc(kind, fingerprint, "partial"))
    return kept
