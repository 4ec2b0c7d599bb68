"""The run folder itself (:class:`RunFolder`) and its lock; see :mod:`hessrmt.runfolder`."""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import signal
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, TypeVar

import numpy as np

from hessrmt.errors import DataError, InputError
from hessrmt.io import atomic_write_json
from hessrmt.runfolder.markers import (
    MARKER,
    _marker_doc,
    default_out,
    partial_dir_for,
    read_marker,
    remove_marked,
    share,
)
from hessrmt.runfolder.settings import fingerprint
from hessrmt.runfolder.store import _STEP_RE, Compute, StepStore, keep_keyed_steps

R = TypeVar("R")

#: Test-only fault injection (used by the kill -9 tests of analyze and every reproduction): when
#: this environment variable is set, the process SIGKILLs itself at the named point, so one
#: mechanism serves every pipeline built on :class:`RunFolder`. Points: ``after-step:<k>`` (right
#: after the k-th step or result computed by this process is checkpointed, k = 1, 2, ...),
#: ``after-step:<name>`` (after step ``name`` is checkpointed) and ``finalize`` (after the outputs
#: are written into the temporary folder, before it is renamed to ``out``); several points are
#: separated by commas. Unset: no effect.
FAULT_ENV = "HESSRMT_FAULT_KILL"


def _fault_point(*points: str) -> None:
    """SIGKILL this process if :data:`FAULT_ENV` names one of ``points`` (test-only)."""
    want = os.environ.get(FAULT_ENV)
    if want and any(p in want.split(",") for p in points):
        os.kill(os.getpid(), getattr(signal, "SIGKILL", signal.SIGTERM))


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
            folder (only folders carrying hessrmt's marker, never anything else). Steps saved
            with their own settings (``step_settings``) survive it: each is reused when its
            own settings are unchanged.
        log: called with one-line progress messages (None: silent).
        step_settings: ``step_settings(name)`` is the JSON-able part of ``settings`` that step
            ``name`` reads (None: all of it). A step is saved with the fingerprint of its own
            settings too, and is reused by a run with other settings (``overwrite``) whose
            ``step_settings(name)`` is the same. The pipeline must leave out only settings the
            step and every step before it that it uses provably do not read.
    """

    def __init__(
        self,
        out: str | os.PathLike[str] | None,
        *,
        kind: str,
        settings: Any = None,
        overwrite: bool = False,
        log: Callable[[str], None] | None = None,
        step_settings: Callable[[str], Any] | None = None,
    ) -> None:
        if not isinstance(kind, str) or not _STEP_RE.match(kind):
            raise InputError(f"run kind {kind!r} must be letters, digits, '_', '-' or '.'")
        self.kind = kind
        self.settings = settings
        self.fingerprint = fingerprint(settings if settings is not None else {})
        self.overwrite = bool(overwrite)
        self._log = log or (lambda message: None)
        self._step_settings = step_settings
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
                self._adopt_partial()

    def _adopt_partial(self) -> None:
        """``overwrite`` of checkpoints with other settings: keep the steps saved with their own
        settings (when this run has ``step_settings``), discard everything else."""
        if self._step_settings is None:
            remove_marked(self.partial)
            kept: list[str] = []
        else:
            kept = keep_keyed_steps(self.partial, self.fingerprint, self.kind)
        if not kept:
            self._log(f"--overwrite: discarded checkpoints of other settings in {self.partial}")
            return
        self._log(
            f"--overwrite: discarded checkpoints of other settings in {self.partial}, except "
            f"{len(kept)} step(s) reused where their own settings are unchanged: " + ", ".join(kept)
        )

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

    def step_key(self, name: str) -> str | None:
        """Fingerprint of step ``name``'s own settings (None without ``step_settings``)."""
        if self._step_settings is None:
            return None
        own = self._step_settings(name)
        return None if own is None else fingerprint(own)

    def has(self, name: str) -> bool:
        """Whether step ``name`` is checkpointed and valid for this run."""
        return self._store().has(name, self.step_key(name))

    def step(self, name: str, compute: Compute) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
        """Arrays and info of step ``name``: loaded if checkpointed, else computed and saved.

        ``compute()`` returns ``(dict of arrays, JSON-able dict)``. The returned values are read
        back from the checkpoint in both cases (NaN/inf in ``info`` become None).
        """
        store = self._store()
        key = self.step_key(name)
        if store.has(name, key):
            self.resumed_steps.append(name)
            return store.load(name, key)
        arrays, info = compute()
        store.save(name, arrays, info, key=key)
        self.computed_steps.append(name)
        _fault_point(f"after-step:{len(self.computed_steps)}", f"after-step:{name}")
        return store.load(name, key)

    def result(self, name: str, cls: type[R], compute: Callable[[], R]) -> R:
        """A :class:`hessrmt.results.Result` of class ``cls``: loaded if checkpointed, else
        ``compute()``-d, saved and read back."""
        store = self._store()
        stem = store.result_stem(name)
        key = self.step_key(name)
        if stem.with_name(name + ".json").exists() and store.result_valid(name, key):
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
        store.record_result(name, key)
        self.computed_steps.append(name)
        _fault_point(f"after-step:{len(self.computed_steps)}", f"after-step:{name}")
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
            _fault_point("finalize")
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
