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
* **Per-step settings.** With ``step_settings`` (a function of the step name giving the part of
  ``settings`` that step reads), each step is also saved with the fingerprint of its own
  settings. ``overwrite`` of checkpoints with other settings then keeps those steps, and a step
  is reused whenever its own settings are unchanged (the log names them); results and steps
  saved without their own settings are discarded as before. ``hessrmt analyze`` uses it, so
  changing only, say, the sub-block options of an interrupted run recomputes the sub-blocks,
  not the spectra before them.
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
* **Fault injection (tests only).** With the environment variable ``HESSRMT_FAULT_KILL`` set
  (:data:`hessrmt.runfolder.folder.FAULT_ENV`), the process SIGKILLs itself right after a step's
  checkpoint is written (``after-step:<k>`` or ``after-step:<name>``) or after the outputs are
  written and before they are renamed into place (``finalize``); the kill -9 tests of
  ``analyze`` and of every reproduction use it. Unset, it does nothing.
* **Permissions.** The finished run folder gets the permissions a plain ``open``/``mkdir``
  would give under the process's umask (temporary files are created 0600), found by probing, not
  by toggling ``os.umask`` (which races with other threads).
"""

from __future__ import annotations

from hessrmt.runfolder.folder import RunFolder, atomic_directory
from hessrmt.runfolder.markers import (
    MARKER,
    creation_modes,
    default_out,
    is_run_folder,
    partial_dir_for,
    read_marker,
    remove_marked,
    share,
)
from hessrmt.runfolder.settings import (
    canonical_json,
    declared_step_settings,
    fingerprint,
    limit_threads,
)
from hessrmt.runfolder.store import RESULT_RECORD, StepStore

__all__ = [
    "MARKER",
    "RESULT_RECORD",
    "RunFolder",
    "StepStore",
    "atomic_directory",
    "canonical_json",
    "creation_modes",
    "declared_step_settings",
    "default_out",
    "fingerprint",
    "is_run_folder",
    "limit_threads",
    "partial_dir_for",
    "read_marker",
    "remove_marked",
    "share",
]
