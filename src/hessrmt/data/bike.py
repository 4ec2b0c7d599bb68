"""UCI Bike-Sharing ``hour.csv`` from ``--data-root`` (nothing is downloaded).

Preprocessed as in Baskerville et al.'s code: ``dteday`` -> day of month; ``instant``,
``casual`` and ``registered`` dropped; the target ``cnt`` divided by its mean.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np

from hessrmt.errors import DataError
from hessrmt.validation import sniff


def load_bike(root: Path) -> tuple[np.ndarray, np.ndarray]:
    path = root / "hour.csv" if (root / "hour.csv").is_file() else root
    if not path.is_file():
        raise DataError(
            f"hour.csv not found under {root}; point --data-root at the UCI "
            "Bike-Sharing folder (nothing is downloaded)"
        )
    if sniff(path) not in ("text", "empty"):
        raise DataError(f"{path} is not a text (CSV) file; expected the Bike-Sharing hour.csv")
    import csv

    try:
        with open(path, newline="", encoding="utf-8") as fh:
            rows = list(csv.DictReader(fh))
    except (OSError, UnicodeDecodeError, csv.Error) as exc:
        raise DataError(f"cannot read {path} as CSV: {exc}") from exc
    if not rows or "cnt" not in rows[0]:
        raise DataError(f"{path} does not look like the Bike-Sharing hour.csv (no 'cnt' column)")
    drop = {"instant", "casual", "registered", "cnt"}
    cols = [c for c in rows[0] if c not in drop]
    X = np.empty((len(rows), len(cols)))
    y = np.empty(len(rows))
    for i, r in enumerate(rows):
        for j, c in enumerate([*cols, "cnt"]):
            text = r.get(c)
            try:
                value = float(text.split("-")[-1] if c == "dteday" else text)  # type: ignore[union-attr]
            except (AttributeError, ValueError):
                raise DataError(
                    f"{path}, data row {i + 1}, column {c!r}: {text!r} is not a number"
                ) from None
            if not math.isfinite(value):
                raise DataError(f"{path}, data row {i + 1}, column {c!r}: {text!r} is not finite")
            if c == "cnt":
                y[i] = value
            else:
                X[i, j] = value
    if y.mean() <= 0:
        raise DataError(f"{path}: the 'cnt' column must have a positive mean")
    return X, y / y.mean()
