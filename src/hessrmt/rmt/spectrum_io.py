"""Read eigenvalue files for ``hessrmt stats``: ``.npy``, ``.npz`` (first array or ``key``), text.

The format is decided by the file's content (:func:`hessrmt.validation.sniff`), not its name.

A 1-D array is one spectrum; a 2-D array holds independent spectra in its rows. Text files are
read with :func:`numpy.loadtxt` (whitespace or comma separated, ``#`` comments); a text file with
one column is one spectrum. Every failure is a :class:`~hessrmt.errors.DataError` (file problems)
or :class:`~hessrmt.errors.InputError` (content problems) with a one-line message.
"""

from __future__ import annotations

import tokenize
import zipfile
from pathlib import Path

import numpy as np

from hessrmt.errors import DataError, InputError
from hessrmt.rmt.spacings import as_levels
from hessrmt.validation import accessible, sniff

#: What numpy raises on a damaged .npy header or body (the header is parsed as a Python
#: literal, so a corrupt one can raise the tokenizer's or parser's errors).
_NPY_ERRORS = (OSError, ValueError, EOFError, SyntaxError, tokenize.TokenError)


def _load_npz(path: Path, key: str | None) -> np.ndarray:
    try:
        with np.load(path, allow_pickle=False) as z:
            names = list(z.files)
            if not names:
                raise DataError(f"{path} holds no arrays")
            if key is None:
                return np.asarray(z[names[0]])
            if key not in names:
                raise DataError(f"{path} has no array named {key!r}; available: {', '.join(names)}")
            return np.asarray(z[key])
    except (zipfile.BadZipFile, *_NPY_ERRORS) as exc:
        raise DataError(f"cannot read {path} as .npz: {exc}") from exc


def load_spectrum(path: str | Path, *, key: str | None = None) -> np.ndarray:
    """Eigenvalues from ``path`` as a validated float array (1-D or 2-D, real and finite).

    ``key`` selects an array of a ``.npz`` file (default: the first one); it is an error for
    other formats.
    """
    path = Path(path)
    if not accessible(path, "file"):
        raise DataError(f"file {path} not found; check the path")
    if path.is_dir():
        raise DataError(f"{path} is a directory; pass an eigenvalue file (.npy, .npz or text)")
    kind = sniff(path)  # by content: a .npz named .npy (or the reverse) still loads
    if kind == "empty":
        raise DataError(f"cannot read {path}: it is empty; expected eigenvalues (.npy, .npz, text)")
    if kind in ("gzip", "pickle", "idx", "binary"):
        raise DataError(f"cannot read {path}: its content is {kind}, not .npy, .npz or text")
    if key is not None and kind != "zip":
        raise InputError(f"--key applies to .npz files only, but {path} is not one")
    if kind == "zip":
        arr = _load_npz(path, key)
    elif kind == "npy":
        try:
            arr = np.load(path, allow_pickle=False)
        except _NPY_ERRORS as exc:
            raise DataError(f"cannot read {path} as .npy: {' '.join(str(exc).split())}") from exc
    else:
        try:
            text = path.read_text()
        except (OSError, UnicodeDecodeError) as exc:
            raise DataError(f"cannot read {path} as text: {exc}") from exc
        delimiter = "," if "," in text else None
        if not any(line.split("#", 1)[0].strip() for line in text.splitlines()):
            raise DataError(f"{path} holds no numbers; expected eigenvalues as text")
        try:
            arr = np.loadtxt(path, delimiter=delimiter, ndmin=1, dtype=float)
        except ValueError as exc:
            try:
                arr = np.loadtxt(path, delimiter=delimiter, ndmin=1, dtype=complex)
            except ValueError:
                raise DataError(
                    f"cannot parse {path} as numbers: {' '.join(str(exc).split())}"
                ) from exc
        if arr.ndim == 2 and arr.shape[1] == 1:
            arr = arr[:, 0]
    if arr.ndim == 0:
        arr = arr.reshape(1)
    return as_levels(arr, name=f"the eigenvalues in {path.name}")
