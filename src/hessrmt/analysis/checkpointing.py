"""Checkpoints of completed pipeline steps: moved to :mod:`hessrmt.runfolder` (re-exported here).

Use :class:`hessrmt.runfolder.RunFolder` in new code; it adds the marker, the lock, the settings
check and the atomic run folder around the same :class:`StepStore`.
"""

from __future__ import annotations

from hessrmt.runfolder import MARKER, StepStore, partial_dir_for

__all__ = ["MARKER", "StepStore", "partial_dir_for"]
