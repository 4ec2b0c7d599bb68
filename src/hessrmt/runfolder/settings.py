"""Settings fingerprints and scoped thread limits of run folders."""

from __future__ import annotations

import contextlib
import dataclasses
import hashlib
import json
from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import Any

from hessrmt.errors import InputError
from hessrmt.io import to_jsonable


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
    try:
        from threadpoolctl import threadpool_limits
    except ImportError:  # pragma: no cover - a dependency; tolerated for minimal installs
        threadpool_limits = None

    old = torch.get_num_threads() if torch is not None else None
    blas = threadpool_limits(limits=threads) if threadpool_limits else contextlib.nullcontext()
    with blas:
        if torch is not None:
            torch.set_num_threads(threads)
        try:
            yield
        finally:
            if torch is not None and old is not None:
                torch.set_num_threads(old)


def declared_step_settings(
    table: Mapping[str, Sequence[str]], config: Any
) -> Callable[[str], dict[str, Any] | None]:
    """The ``step_settings`` of a :class:`~hessrmt.runfolder.RunFolder` from a pipeline's table
    ``{step: names of the config fields it reads}``: step -> ``{name: config.<name>}``, None
    (every setting) for a step the table does not list."""

    def step_settings(step: str) -> dict[str, Any] | None:
        names = table.get(step)
        return None if names is None else {n: getattr(config, n) for n in names}

    return step_settings
