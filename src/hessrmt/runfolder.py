"""Run folders: the one way every hessrmt pipeline writes, checkpoints, resumes and overwrites.

Used by ``hessrmt analyze`` and every reproduction::

    from hessrmt.runfolder import RunFolder, fingerprint, limit_threads

    with RunFolder(out, kind="analyze", settings=config, overwrite=False, log=log) as run:
        arrays, info = run.step("init", compute)          # compute() -> (arrays, JSON-able info)
        res = run.result("gp_toy", GPToyResult, compute)  # compute() -> a hessrmt Result
        with run.finalize() as tmp:                       # write the outputs into tmp
            ...

Behaviour (the same for every pipeline):

* **Where.** ``out`` is the run folder (None: ``runs/<kind>-<UTC timestamp>``). Nothing appears
  at ``out`` until :meth:`RunFolder.finalize` succeeds: the outputs are written into a hidden
  temporary sibling ``.<name>.tmp-XXXXXXXX`` which is then renamed to ``out`` (atomic on one file
  system), so ``out`` is either complete or absent. Checkpoints of finished steps live in the
  hidden sibling ``.<name>.partial/`` and are removed once ``out`` exists.
* **Marker.** Every folder hessrmt creates here (run folder, temporary, checkpoints) holds the
  marker file :data:`MARKER` (JSON: kind, fingerprint, hessrmt version, state). hessrmt only ever
  deletes or replaces folders that carry it.
* **Lock.** A run holds an exclusive ``flock`` on the sibling ``.<name>.lock`` from entering the
  ``with`` block to leaving it; a second concurrent run on the same ``out`` is refused at once
  with an :class:`~hessrmt.errors.InputError` (the kernel drops the lock if the process dies, so
  a killed run never blocks the next one).
* **Settings.** :func:`fingerprint` of ``settings`` is recorded. Checkpoints left with another
  fingerprint, or an existing finished run folder, are refused with a one-line ``InputError``
  naming ``--overwrite``. With ``overwrite=True`` other-settings checkpoints are discarded (and
  the log says so) and a finished run folder is replaced when the new one is complete (the old one
  stays in place if the run fails). A non-empty folder without the marker is never deleted, with
  or without ``overwrite``: it is refused.
* **Resume.** Checkpoints with the same fingerprint are reused: :meth:`RunFolder.step` and
  :meth:`RunFolder.result` load a finished step instead of computing it, and always return what
  was stored (also right after computing), so a resumed run gives byte-identical arrays to an
  uninterrupted one. A damaged step (checksum mismatch, half-written pair) counts as not done.
  :attr:`RunFolder.resumed_steps` and :attr:`RunFolder.computed_steps` name what happened.
* **Cleanup.** On entering, temporary folders (``.<name>.tmp-*``, ``.<name>.old-*``) left by a
  killed run on the same ``out`` are deleted when they carry the marker; stray temporary files in
  the checkpoint folder are deleted. If the run fails before any step finished, the checkpoint
  folder (and parent folders this run created, when empty) are removed: an early error leaves
  nothing behind.
* **Permissions.** The finished run folder gets the permissions a plain ``open``/``mkdir``
  would give under the process's umask (temporary files are created 0600), found by probing, not
  by toggling ``os.umask`` (which races with other threads).
"""

from __future__ import annotations

import contextlib
import dataclasses
import datetime as _dt
import hashlib
import json
import os
import re
import shutil
import tempfile
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import Any, TypeVar

import numpy as np

from hessrmt.errors import DataError, InputError
from hessrmt.io import atomic_save_npz, atomic_write_json, to_jsonable

#: Marker file in every folder made by :mod:`hessrmt.runfolder` (JSON).
MARKER = ".hessrmt-run.json"
#: Step names: letters, digits, ``_``, ``-`` and ``.`` (they become file names).
_STEP_RE = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.-]{0,99}$")

R = TypeVar("R")
Compute = Callable[[], tuple[Mapping[str, np.ndarray], Mapping[str, Any]]]


# ---------------------------------------------------------------------------------------------
# settings fingerprint and threads


def canonical_json(settings: Any) -> str:
    """Canonical JSON of a dataclass or mapping: sorted keys, no spaces, NumPy types as plain."""
    if dataclasses.is_dataclass(settings) and not isinstance(settings, type):
        settings = dataclasses.asdict(settings)
    try:
        return json.dumps(
            to_jsonable(settings), sort_keys=True, separators=(",", ":"), allow_nan=False
        )
    except (TypeError, ValueError) as exc:
        raise InputError(f"settings cannot be fingerprinted (not JSON-able): {exc}") from exc


def fingerprint(settings: Any) -> str:
    """SHA-256 (hex) of :func:`canonical_json` of ``settings`` (a dataclass or mapping)."""
    return hashlib.sha256(canonical_json(settings).encode("utf-8")).hexdigest()


@contextlib.contextmanager
def limit_threads(threads: int | None) -> Iterator[None]:
    """Limit BLAS (threadpoolctl) and torch intra-op threads inside the block, then restore.

    ``None`` leaves both as they are. torch is only touched if it is already imported or
    importable; the limit applies to the whole process while the block runs.
    """
    if threads is None:
        yield
        return
    if not isinstance(threads, int) or isinstance(threads, bool) or threads < 1:
        raise InputError(f"--threads must be a positive integer, got {threads!r}")
    try:
        import torch
    except ImportError:  # pragma: no cover - the RMT layer without torch
        torch = None
    from threadpoolctl import threadpool_limits

    old = torch.get_num_threads() if torch is not None else None
    with threadpool_limits(limits=threads):
        if torch is not None:
            torch.set_num_threads(threads)
        try:
            yield
        finally:
            if torch is not None and old is not None:
                torch.set_num_threads(old)


# ---------------------------------------------------------------------------------------------
# markers, permissions, paths


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


# ---------------------------------------------------------------------------------------------
# the lock


class _Lock:
    """Exclusive, non-blocking ``flock`` on ``path``; the file is removed on release."""

    def __init__(self, path: Path, what: Path) -> None:
        self.path = path
        self.what = what
        self.fd: int | None = None

    def acquire(self) -> None:
        import fcntl

        for _ in range(10):
            try:
                fd = os.open(self.path, os.O_CREAT | os.O_RDWR, 0o644)
            except OSError as exc:
                raise DataError(
                    f"cannot create the lock file {self.path}: {exc.strerror or exc}; "
                    "choose a writable --out"
                ) from exc
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except OSError:
                os.close(fd)
                raise InputError(
                    f"another hessrmt run is writing to {self.what} (lock {self.path}); wait "
                    "for it to finish or choose another --out"
                ) from None
            # The holder before us may have unlinked the file after we opened it: retry then.
            try:
                same = os.fstat(fd).st_ino == os.stat(self.path).st_ino
            except FileNotFoundError:
                same = False
            if same:
                os.ftruncate(fd, 0)
                os.write(fd, f"{os.getpid()}\n".encode())
                self.fd = fd
                return
            os.close(fd)
        raise InputError(f"could not lock {self.path}; try again")  # pragma: no cover

    def release(self) -> None:
        if self.fd is None:
            return
        with contextlib.suppress(FileNotFoundError):
            os.unlink(self.path)
        os.close(self.fd)  # closing drops the flock
        self.fd = None


# ---------------------------------------------------------------------------------------------
# the run folder


class RunFolder:
    """One run's output folder, its checkpoints and its lock (see the module docstring).

    Args:
        out: the run folder (None: :func:`default_out` of ``kind``).
        kind: what writes it (``"analyze"``, ``"pennington-bahri"``...), recorded in the marker.
        settings: a dataclass or mapping of everything that determines the numbers; its
            :func:`fingerprint` guards resumption.
        overwrite: discard checkpoints made with other settings and replace a finished run
            folder (only folders carrying hessrmt's marker, never anything else).
        log: called with one-line progress messages (None: silent).
    """

    def __init__(
        self,
        out: str | os.PathLike[str] | None,
        *,
        kind: str,
        settings: Any = None,
        overwrite: bool = False,
        log: Callable[[str], None] | None = None,
    ) -> None:
        if not isinstance(kind, str) or not _STEP_RE.match(kind):
            raise InputError(f"run kind {kind!r} must be letters, digits, '_', '-' or '.'")
        self.kind = kind
        self.settings = settings
        self.fingerprint = fingerprint(settings if settings is not None else {})
        self.overwrite = bool(overwrite)
        self._log = log or (lambda message: None)
        raw = Path(out) if out is not None else default_out(kind)
        self.out = Path(os.path.abspath(raw))
        if not self.out.name or self.out == self.out.parent:
            raise InputError(f"--out {raw} names no folder; choose a folder such as runs/my-run")
        self.partial = partial_dir_for(self.out)
        self.resumed_steps: list[str] = []
        self.computed_steps: list[str] = []
        self.store: StepStore | None = None
        self.finished = False
        self._lock = _Lock(self.out.parent / f".{self.out.name}.lock", self.out)
        self._created_parents: list[Path] = []

    # -- entering: checks, lock, cleanup -------------------------------------------------------

    def __enter__(self) -> RunFolder:
        self._make_parent()
        try:
            self._lock.acquire()
        except BaseException:
            self._remove_created_parents()
            raise
        try:
            self._check_out()
            self._clean_orphans()
            self._open_store()
        except BaseException:
            self._lock.release()
            self._remove_created_parents()
            raise
        return self

    def _make_parent(self) -> None:
        parent = self.out.parent
        missing = []
        p = parent
        while not p.exists() and p != p.parent:
            missing.append(p)
            p = p.parent
        if p.exists() and not p.is_dir():
            raise InputError(f"--out {self.out}: {p} is a file, not a folder; choose another --out")
        try:
            parent.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise DataError(
                f"cannot create the parent folder of --out {self.out}: {exc.strerror or exc}; "
                "choose a writable --out"
            ) from exc
        self._created_parents = missing  # deepest first
        if not os.access(parent, os.W_OK | os.X_OK):
            self._remove_created_parents()
            raise DataError(f"--out {self.out}: {parent} is not writable; choose a writable --out")

    def _remove_created_parents(self) -> None:
        for p in self._created_parents:
            with contextlib.suppress(OSError):
                p.rmdir()
        self._created_parents = []

    def _check_out(self) -> None:
        out = self.out
        if out.is_symlink() or (out.exists() and not out.is_dir()):
            raise InputError(f"--out {out} exists and is not a folder; choose another --out")
        cwd = Path.cwd()
        if out.exists() and (out == cwd or out in cwd.parents):
            raise InputError(
                f"--out {out} is the current folder or holds it; choose a new folder for the run"
            )
        if out.is_dir() and any(out.iterdir()):
            if read_marker(out) is None:
                raise InputError(
                    f"--out {out} is a non-empty folder that hessrmt did not create (no {MARKER}"
                    "); hessrmt never deletes it, even with --overwrite: choose another --out"
                )
            if not self.overwrite:
                raise InputError(
                    f"run folder {out} already exists; pass --overwrite to replace it or choose "
                    "another --out"
                )
            self._log(f"--overwrite: {out} will be replaced when this run finishes")
        if self.partial.exists():
            doc = read_marker(self.partial)
            if doc is None or not self.partial.is_dir() or self.partial.is_symlink():
                raise InputError(
                    f"{self.partial} exists but hessrmt did not create it (no {MARKER}); move it "
                    "away or choose another --out"
                )
            if doc.get("fingerprint") != self.fingerprint:
                if not self.overwrite:
                    raise InputError(
                        f"checkpoints in {self.partial} were made with other settings; rerun "
                        "with the same settings to resume, pass --overwrite to discard them, or "
                        "choose another --out"
                    )
                remove_marked(self.partial)
                self._log(f"--overwrite: discarded checkpoints of other settings in {self.partial}")

    def _clean_orphans(self) -> None:
        """Delete marked temporaries of earlier killed runs on this ``out`` (we hold the lock)."""
        name = re.escape(self.out.name)
        pattern = re.compile(rf"^\.{name}\.(tmp|old)-[A-Za-z0-9_]+$")
        for p in self.out.parent.iterdir():
            if pattern.match(p.name) and remove_marked(p):
                self._log(f"removed {p}, left by an interrupted run")
        if self.partial.is_dir():
            for d in (self.partial / "results", self.partial):
                for tmp in d.glob(".*.tmp") if d.is_dir() else ():
                    with contextlib.suppress(OSError):
                        tmp.unlink()

    def _open_store(self) -> None:
        self.store = StepStore(self.partial, self.fingerprint, kind=self.kind)
        done = self.store.completed() if self.partial.exists() else []
        if done:
            self._log(f"checkpoints of {len(done)} step(s) found in {self.partial}: resuming")

    # -- steps -----------------------------------------------------------------------------------

    def _store(self) -> StepStore:
        if self.store is None:
            raise RuntimeError("use RunFolder inside a with block")
        return self.store

    def step(self, name: str, compute: Compute) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
        """Arrays and info of step ``name``: loaded if checkpointed, else computed and saved.

        ``compute()`` returns ``(dict of arrays, JSON-able dict)``. The returned values are read
        back from the checkpoint in both cases (NaN/inf in ``info`` become None).
        """
        store = self._store()
        if store.has(name):
            self.resumed_steps.append(name)
            return store.load(name)
        arrays, info = compute()
        store.save(name, arrays, info)
        self.computed_steps.append(name)
        return store.load(name)

    def result(self, name: str, cls: type[R], compute: Callable[[], R]) -> R:
        """A :class:`hessrmt.results.Result` of class ``cls``: loaded if checkpointed, else
        ``compute()``-d, saved and read back."""
        store = self._store()
        stem = store.result_stem(name)
        if stem.with_name(name + ".json").exists():
            try:
                res = cls.load(stem)  # type: ignore[attr-defined]
                self.resumed_steps.append(name)
                return res
            except (DataError, ValueError, TypeError, KeyError) as exc:
                self._log(f"{name}: checkpoint unreadable ({exc}); recomputing")
        res = compute()
        if not isinstance(res, cls):
            raise TypeError(f"step {name!r} returned {type(res).__name__}, not {cls.__name__}")
        store._ensure()
        res.save(stem)  # type: ignore[attr-defined]
        self.computed_steps.append(name)
        return cls.load(stem)  # type: ignore[attr-defined]

    # -- finishing -------------------------------------------------------------------------------

    @contextlib.contextmanager
    def finalize(self) -> Iterator[Path]:
        """Yield a temporary folder for the outputs; on success it becomes ``out``.

        The temporary folder carries the marker from the start (so a killed run's leftover is
        recognised and removed by the next run); on success the marker records state
        ``complete``, permissions follow the umask, an existing marked ``out`` is replaced
        (``overwrite``) and the checkpoints are removed. On failure the temporary is removed and
        ``out`` is untouched.
        """
        self._store()
        tmp = Path(tempfile.mkdtemp(prefix=f".{self.out.name}.tmp-", dir=self.out.parent))
        try:
            atomic_write_json(tmp / MARKER, _marker_doc(self.kind, self.fingerprint, "writing"))
            yield tmp
            atomic_write_json(tmp / MARKER, _marker_doc(self.kind, self.fingerprint, "complete"))
            share(tmp)
            _replace_dir(tmp, self.out, overwrite=self.overwrite)
        except BaseException:
            shutil.rmtree(tmp, ignore_errors=True)
            raise
        self.finished = True
        self._store().remove()

    def __exit__(self, exc_type: Any, exc: Any, tb: Any) -> None:
        tidy = False
        try:
            if not self.finished and self.store is not None:
                if self.store.directory.exists() and self.store.completed():
                    self._log(
                        f"completed steps kept in {self.partial}; rerun with --out {self.out} "
                        "and the same settings to resume"
                    )
                else:
                    self.store.remove()
                    tidy = True
        finally:
            self._lock.release()
        if tidy:  # after the lock file is gone, so that the folders are empty
            self._remove_created_parents()


def _replace_dir(tmp: Path, out: Path, *, overwrite: bool) -> None:
    """Rename ``tmp`` to ``out``; an existing ``out`` must be empty, or marked and overwritten."""
    if out.is_dir() and not out.is_symlink():
        if not any(out.iterdir()):
            out.rmdir()
        elif overwrite and read_marker(out) is not None:
            old = Path(tempfile.mkdtemp(prefix=f".{out.name}.old-", dir=out.parent))
            os.replace(out, old)  # rename onto the empty placeholder
            os.replace(tmp, out)
            remove_marked(old)
            return
        else:  # checked on entry; re-checked here because the folder may have changed since
            raise InputError(
                f"--out {out} was filled during the run (not replaced without --overwrite, and "
                "never if hessrmt did not make it); choose another --out"
            )
    elif out.exists() or out.is_symlink():
        raise InputError(f"--out {out} exists and is not a folder; choose another --out")
    os.replace(tmp, out)


@contextlib.contextmanager
def atomic_directory(
    path: str | os.PathLike[str], *, overwrite: bool = False, kind: str = "folder"
) -> Iterator[Path]:
    """Build a folder under a temporary name and move it into place on success.

    Yields the temporary folder (holding hessrmt's marker). If the block raises, the temporary is
    removed and ``path`` is untouched. With ``overwrite=True`` an existing ``path`` is replaced,
    but only if it carries hessrmt's marker (or is empty); anything else is refused.
    """
    path = Path(os.path.abspath(path))
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise DataError(f"cannot create directory {path.parent}: {exc.strerror}") from exc
    if path.exists() and not overwrite:
        raise DataError(f"{path} already exists; pass overwrite=True or choose another path")
    if path.exists() and path.is_dir() and any(path.iterdir()) and read_marker(path) is None:
        raise DataError(f"{path} is a non-empty folder that hessrmt did not create; not replaced")
    tmp = Path(tempfile.mkdtemp(prefix=f".{path.name}.tmp-", dir=path.parent))
    try:
        atomic_write_json(tmp / MARKER, _marker_doc(kind, "", "writing"))
        yield tmp
        atomic_write_json(tmp / MARKER, _marker_doc(kind, "", "complete"))
        _replace_dir(tmp, path, overwrite=overwrite)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


__all__ = [
    "MARKER",
    "RunFolder",
    "StepStore",
    "atomic_directory",
    "canonical_json",
    "creation_modes",
    "default_out",
    "fingerprint",
    "is_run_folder",
    "limit_threads",
    "partial_dir_for",
    "read_marker",
    "remove_marked",
    "share",
]
