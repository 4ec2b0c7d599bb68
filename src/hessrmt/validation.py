"""One validation layer for what users hand to hessrmt: files, numbers and paths.

Every command and loader checks its inputs with these helpers, so a bad input always gives the
same kind of answer: an :class:`~hessrmt.errors.InputError` (a bad value) or
:class:`~hessrmt.errors.DataError` (a file that is missing or cannot be read) whose one-line
message names what is wrong and what to do.

* Files: :func:`sniff` reads a file's first bytes and names its format from its content (NumPy
  ``.npy``, ZIP, gzip, pickle, IDX, text...), never from its extension; :func:`existing_file`
  and :func:`existing_dir` check paths.
* Pickles: :func:`restricted_load` unpickles only plain containers (dict, list, tuple, str,
  bytes, numbers, None) and NumPy arrays; any other global (a function, a class to call) is
  refused before anything runs. hessrmt never calls :func:`pickle.load` on user data.
* Numbers: :func:`integer` and :func:`real` check type, finiteness and range.

Pure Python/NumPy (no torch), so every layer may use it.
"""

from __future__ import annotations

import io
import math
import os
import pickle
from pathlib import Path
from typing import IO, Any

import numpy as np

from hessrmt.errors import DataError, InputError

#: Largest seed hessrmt accepts (NumPy and torch seeds are 64-bit).
MAX_SEED = 2**63 - 1

#: Formats :func:`sniff` recognises (by their first bytes).
FORMATS = ("npy", "zip", "gzip", "pickle", "idx", "empty", "text", "binary")


def sniff(path: str | os.PathLike[str]) -> str:
    """The format of ``path`` from its first bytes: one of :data:`FORMATS`.

    ``npy``: NumPy magic ``\\x93NUMPY``; ``zip``: ``PK\\x03\\x04`` (``.npz`` and ``torch.save``
    files); ``gzip``: ``\\x1f\\x8b``; ``pickle``: protocol 2+ opcode ``\\x80``; ``idx``: two
    zero bytes, a type code ``0x08``-``0x0e`` and 1-4 dimensions; ``text``: UTF-8 without NUL
    bytes; ``binary``: anything else.
    """
    path = Path(path)
    try:
        with path.open("rb") as fh:
            head = fh.read(4096)
    except OSError as exc:
        raise DataError(f"cannot read {path}: {exc.strerror or exc}") from exc
    if not head:
        return "empty"
    if head.startswith(b"\x93NUMPY"):
        return "npy"
    if head.startswith(b"PK\x03\x04") or head.startswith(b"PK\x05\x06"):
        return "zip"
    if head.startswith(b"\x1f\x8b"):
        return "gzip"
    if head[0] == 0x80 and len(head) > 1 and 2 <= head[1] <= 5:
        return "pickle"
    if len(head) >= 4 and head[0] == 0 and head[1] == 0 and 0x08 <= head[2] <= 0x0E:
        if 1 <= head[3] <= 4:
            return "idx"
    if b"\x00" not in head:
        try:
            head.decode("utf-8")
            return "text"
        except UnicodeDecodeError as exc:
            if exc.start >= len(head) - 3:  # a multi-byte character cut at the 4096th byte
                return "text"
    return "binary"


def accessible(path: str | os.PathLike[str], what: str) -> bool:
    """Whether ``path`` exists; a path that cannot be looked up (a folder on the way that is not
    searchable, EACCES) is a one-line :class:`DataError` instead of a ``PermissionError``.

    ``what`` names the option or role in the message (e.g. ``"--data-root"``; may be empty).
    """
    try:
        os.stat(path)
    except (FileNotFoundError, NotADirectoryError):
        return False
    except OSError as exc:
        prefix = f"{what} " if what else ""
        raise DataError(
            f"{prefix}{path}: cannot look it up ({exc.strerror or exc}); check the permissions "
            "of the folders on its path"
        ) from exc
    return True


def existing_file(path: str | os.PathLike[str], what: str) -> Path:
    """``path`` as a :class:`Path` if it is a readable file, else a one-line :class:`DataError`.

    ``what`` names the option or role in the message (e.g. ``"--checkpoint"``).
    """
    p = Path(path).expanduser()
    if not accessible(p, what):
        raise DataError(f"{what} {p} not found; check the path")
    if p.is_dir():
        raise DataError(f"{what} {p} is a folder; give a file")
    if not p.is_file():
        raise DataError(f"{what} {p} is not a regular file")
    if not os.access(p, os.R_OK):
        raise DataError(f"{what} {p} is not readable (permissions)")
    return p


def existing_dir(path: str | os.PathLike[str], what: str) -> Path:
    """``path`` as a :class:`Path` if it is a readable folder, else a one-line DataError."""
    p = Path(path).expanduser()
    if not accessible(p, what):
        raise DataError(f"{what} {p} does not exist; check the path")
    if not p.is_dir():
        raise DataError(f"{what} {p} is not a folder")
    if not os.access(p, os.R_OK | os.X_OK):
        raise DataError(f"{what} {p} is not readable (permissions)")
    return p


def integer(
    value: Any, name: str, *, minimum: int | None = None, maximum: int | None = None
) -> int:
    """``value`` as an ``int`` if it is an integer (not a bool) within the bounds.

    Integral floats (``3.0``) and NumPy integers are accepted; ``name`` is the option's name
    (``"--seed"``) in the message.
    """
    if isinstance(value, (bool, np.bool_)):
        raise InputError(f"{name} must be an integer, got {value!r}")
    if isinstance(value, (float, np.floating)):
        if not math.isfinite(value) or value != int(value):
            raise InputError(f"{name} must be an integer, got {value!r}")
        value = int(value)
    if not isinstance(value, (int, np.integer)):
        raise InputError(f"{name} must be an integer, got {value!r}")
    value = int(value)
    if minimum is not None and value < minimum:
        raise InputError(f"{name} must be at least {minimum}, got {value}")
    if maximum is not None and value > maximum:
        raise InputError(f"{name} must be at most {maximum}, got {value}")
    return value


def seed(value: Any, name: str = "--seed") -> int:
    """A seed: an integer in ``[0, 2^63 - 1]`` (what NumPy and torch both accept)."""
    return integer(value, name, minimum=0, maximum=MAX_SEED)


def real(
    value: Any,
    name: str,
    *,
    minimum: float | None = None,
    maximum: float | None = None,
    open_min: bool = False,
    open_max: bool = False,
) -> float:
    """``value`` as a finite ``float`` within the bounds (``open_*``: bound excluded)."""
    if isinstance(value, (bool, np.bool_)) or not isinstance(
        value, (int, float, np.integer, np.floating)
    ):
        raise InputError(f"{name} must be a number, got {value!r}")
    x = float(value)
    if not math.isfinite(x):
        raise InputError(f"{name} must be finite, got {value!r}")
    if minimum is not None and (x < minimum or (open_min and x == minimum)):
        rel = ">" if open_min else ">="
        raise InputError(f"{name} must be {rel} {minimum:g}, got {x:g}")
    if maximum is not None and (x > maximum or (open_max and x == maximum)):
        rel = "<" if open_max else "<="
        raise InputError(f"{name} must be {rel} {maximum:g}, got {x:g}")
    return x


# ---------------------------------------------------------------------------------------------
# restricted unpickling


#: Globals a data pickle may name: NumPy's array and dtype reconstruction only.
_ALLOWED_GLOBALS = frozenset(
    {
        ("numpy.core.multiarray", "_reconstruct"),
        ("numpy._core.multiarray", "_reconstruct"),
        ("numpy.core.multiarray", "scalar"),
        ("numpy._core.multiarray", "scalar"),
        ("numpy.core.numeric", "_frombuffer"),  # protocol 5 arrays
        ("numpy._core.numeric", "_frombuffer"),
        ("numpy", "ndarray"),
        ("numpy", "dtype"),
        ("_codecs", "encode"),  # how protocol 2 pickles bytes under Python 3
    }
)


class _RestrictedUnpickler(pickle.Unpickler):
    def find_class(self, module: str, name: str) -> Any:
        if (module, name) in _ALLOWED_GLOBALS:
            return super().find_class(module, name)
        raise pickle.UnpicklingError(
            f"refusing to load {module}.{name}: only arrays and plain containers are allowed"
        )

    def persistent_load(self, pid: Any) -> Any:
        raise pickle.UnpicklingError("refusing persistent ids in a data pickle")


def restricted_load(fh: IO[bytes], *, what: str, encoding: str = "bytes") -> Any:
    """Unpickle ``fh`` admitting only plain containers and NumPy arrays (see the module doc).

    A pickle naming any other global (which plain :func:`pickle.load` would import and call)
    raises a :class:`DataError` before anything is executed; so does a damaged pickle.
    """
    try:
        return _RestrictedUnpickler(fh, encoding=encoding).load()
    except pickle.UnpicklingError as exc:
        raise DataError(f"{what} is not a plain data pickle ({exc}); not loaded") from exc
    except Exception as exc:  # malformed data only: no user code can run in this unpickler
        msg = " ".join(str(exc).split())[:200] or type(exc).__name__
        raise DataError(f"{what} is a damaged pickle ({msg})") from exc


def restricted_loads(data: bytes, *, what: str) -> Any:
    """:func:`restricted_load` of a bytes object."""
    return restricted_load(io.BytesIO(data), what=what)


__all__ = [
    "FORMATS",
    "MAX_SEED",
    "existing_dir",
    "existing_file",
    "integer",
    "real",
    "restricted_load",
    "restricted_loads",
    "seed",
    "sniff",
]
