"""Checkpoints of completed pipeline steps, so that an interrupted run resumes.

A :class:`StepStore` is a folder (by default the hidden sibling ``.<name>.partial`` of the run
folder, never the run folder itself, so that a run folder only ever appears complete). Each step
is saved as ``<step>.npz`` (arrays) and then ``<step>.json`` (scalars, the SHA-256 of the NPZ file
and the run's fingerprint); both writes are atomic, and the JSON file is written last, so a step is
either complete or absent. ``manifest.json`` records the fingerprint of the settings: a store left
by a run with other settings is discarded (and the caller is told) rather than mixed in.
"""

from __future__ import annotations

import hashlib
import json
import shutil
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import numpy as np

from hessrmt.errors import DataError
from hessrmt.io import atomic_save_npz, atomic_write_json

MANIFEST = "manifest.json"


def partial_dir_for(out: str | Path) -> Path:
    """The checkpoint folder of run folder ``out``: its hidden sibling ``.<name>.partial``."""
    out = Path(out)
    return out.parent / f".{out.name}.partial"


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


class StepStore:
    """Completed steps of one run, keyed by step name (see the module docstring).

    Args:
        directory: the checkpoint folder (created if absent).
        fingerprint: hash of the settings; a store with another fingerprint is wiped.
    """

    def __init__(self, directory: str | Path, fingerprint: str) -> None:
        self.directory = Path(directory)
        self.fingerprint = fingerprint
        self.discarded = False
        manifest = self.directory / MANIFEST
        if self.directory.exists():
            try:
                previous = json.loads(manifest.read_text()).get("fingerprint")
            except (OSError, ValueError):
                previous = None
            if previous != fingerprint:
                shutil.rmtree(self.directory, ignore_errors=True)
                self.discarded = True
        try:
            self.directory.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise DataError(
                f"cannot create checkpoint folder {self.directory}: {exc.strerror}; "
                "choose a writable --out"
            ) from exc
        if not manifest.exists():
            atomic_write_json(manifest, {"fingerprint": fingerprint})

    def _paths(self, name: str) -> tuple[Path, Path]:
        return self.directory / f"{name}.json", self.directory / f"{name}.npz"

    def completed(self) -> list[str]:
        """Names of the completed steps."""
        return sorted(p.stem for p in self.directory.glob("*.json") if p.name != MANIFEST)

    def has(self, name: str) -> bool:
        """Whether step ``name`` completed (its JSON exists and its NPZ checksum matches)."""
        js, npz = self._paths(name)
        if not js.exists() or not npz.exists():
            return False
        try:
            doc = json.loads(js.read_text())
        except (OSError, ValueError):
            return False
        return doc.get("fingerprint") == self.fingerprint and doc.get("npz_sha256") == _sha256(npz)

    def save(
        self, name: str, arrays: Mapping[str, np.ndarray], info: Mapping[str, Any] | None = None
    ) -> None:
        """Record step ``name`` as complete with its arrays and JSON-able ``info``."""
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
        return arrays, json.loads(js.read_text())["info"]

    def run(
        self,
        name: str,
        compute: Callable[[], tuple[Mapping[str, np.ndarray], Mapping[str, Any]]],
    ) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
        """Load step ``name`` if completed, else ``compute()`` it and save it."""
        if self.has(name):
            return self.load(name)
        arrays, info = compute()
        self.save(name, arrays, info)
        # Return what was stored, so a fresh and a resumed run see identical values.
        return self.load(name)

    def remove(self) -> None:
        """Delete the store (after the run folder has been written)."""
        shutil.rmtree(self.directory, ignore_errors=True)
