"""Result objects: frozen dataclasses that carry their metadata and serialise to JSON + NPZ.

Subclass :class:`Result` with ``@dataclass(frozen=True)``. Array-valued fields (NumPy arrays, or
anything with ``__array__`` such as a CPU torch tensor) are stored in ``<stem>.npz``; everything
else goes to ``<stem>.json`` together with the class name and the metadata. Nested dataclass fields
are supported (their arrays get dotted keys). Non-finite floats (NaN, +-inf), which JSON cannot
hold, are written as ``{"__float__": "nan"}`` (``"inf"``, ``"-inf"``) and read back as floats.
``Result.load`` rebuilds the object; the NPZ file's SHA-256 is recorded in the JSON so a stale or
half-copied pair is detected.

Example::

    @dataclass(frozen=True)
    class MyResult(Result):
        eigenvalues: np.ndarray
        tolerance: float
        meta: Metadata = field(default_factory=Metadata)

    r = MyResult(np.arange(3.0), 1e-8, Metadata.create(seed=0, dtype="float64"))
    r.save("out/my")            # out/my.json + out/my.npz
    MyResult.load("out/my") == r
"""

from __future__ import annotations

import dataclasses
import datetime as _dt
import hashlib
import json
import platform
import types
import typing
from pathlib import Path
from typing import Any, ClassVar, Self

import numpy as np

from hessrmt import __version__
from hessrmt.errors import DataError
from hessrmt.io import atomic_save_npz, atomic_write_json, to_jsonable


def versions() -> dict[str, str]:
    """Versions of hessrmt, Python and the numerical libraries (torch only if already imported)."""
    import sys

    import scipy

    out = {
        "hessrmt": __version__,
        "python": platform.python_version(),
        "numpy": np.__version__,
        "scipy": scipy.__version__,
    }
    torch = sys.modules.get("torch")
    if torch is not None:
        out["torch"] = torch.__version__
    return out


@dataclasses.dataclass(frozen=True)
class Metadata:
    """What every result records: seed, dtype, conventions, versions and creation time.

    ``conventions`` holds the normalisations in force (e.g. ``{"goe": "off-diagonal variance 1/N,
    semicircle radius 2", "loss_reduction": "mean"}``); ``extra`` holds anything else.
    """

    seed: int | None = None
    dtype: str | None = None
    conventions: dict[str, Any] = dataclasses.field(default_factory=dict)
    versions: dict[str, str] = dataclasses.field(default_factory=dict)
    created: str = ""
    extra: dict[str, Any] = dataclasses.field(default_factory=dict)

    @classmethod
    def create(
        cls,
        *,
        seed: int | None = None,
        dtype: str | None = None,
        conventions: dict[str, Any] | None = None,
        **extra: Any,
    ) -> Metadata:
        """Metadata stamped with the current versions and UTC time."""
        return cls(
            seed=seed,
            dtype=dtype,
            conventions=dict(conventions or {}),
            versions=versions(),
            created=_dt.datetime.now(_dt.UTC).isoformat(timespec="seconds"),
            extra=dict(extra),
        )


def _is_array(value: Any) -> bool:
    if isinstance(value, np.generic):  # NumPy scalars go to JSON
        return False
    return isinstance(value, np.ndarray) or (
        hasattr(value, "__array__")
        and not isinstance(value, (int, float, complex, str, bool))
        and not dataclasses.is_dataclass(value)
    )


def _to_numpy(value: Any) -> np.ndarray:
    if hasattr(value, "detach"):  # torch tensor, without importing torch
        value = value.detach().cpu().numpy()
    return np.asarray(value)


def _key(prefix: str, name: object) -> str:
    return f"{prefix}.{name}" if prefix else str(name)


def _split(obj: Any, prefix: str, arrays: dict[str, np.ndarray]) -> Any:
    """Return the JSON part of ``obj``; arrays are moved into ``arrays`` under dotted keys."""
    if dataclasses.is_dataclass(obj) and not isinstance(obj, type):
        out: dict[str, Any] = {}
        for f in dataclasses.fields(obj):
            out[f.name] = _split(getattr(obj, f.name), _key(prefix, f.name), arrays)
        return out
    if _is_array(obj):
        arrays[prefix] = _to_numpy(obj)
        return {"__array__": prefix}
    if isinstance(obj, dict):
        return {k: _split(v, _key(prefix, k), arrays) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_split(v, _key(prefix, i), arrays) for i, v in enumerate(obj)]
    if isinstance(obj, (float, np.floating)) and not np.isfinite(obj):
        # JSON has no NaN/inf; a tagged string keeps them distinct from None on the way back
        return {"__float__": repr(float(obj))}
    return to_jsonable(obj)


def _resolve(tp: Any) -> Any:
    """The dataclass type inside an annotation such as ``X | None``, else the annotation."""
    origin = typing.get_origin(tp)
    if origin in (typing.Union, types.UnionType):
        for arg in typing.get_args(tp):
            if dataclasses.is_dataclass(arg):
                return arg
    return tp


def _join(data: Any, tp: Any, arrays: Any) -> Any:
    tp = _resolve(tp)
    if isinstance(data, dict) and set(data) == {"__array__"}:
        return np.asarray(arrays[data["__array__"]])
    if isinstance(data, dict) and set(data) == {"__float__"}:
        return float(data["__float__"])  # "nan", "inf" or "-inf"
    if dataclasses.is_dataclass(tp) and isinstance(data, dict):
        hints = typing.get_type_hints(tp)
        kwargs = {}
        for f in dataclasses.fields(tp):
            if f.name in data:
                kwargs[f.name] = _join(data[f.name], hints.get(f.name, Any), arrays)
        return tp(**kwargs)
    if isinstance(data, dict):
        return {k: _join(v, Any, arrays) for k, v in data.items()}
    if isinstance(data, list):
        joined = [_join(v, Any, arrays) for v in data]
        return tuple(joined) if typing.get_origin(tp) is tuple else joined
    return data


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


@dataclasses.dataclass(frozen=True)
class Result:
    """Base class of hessrmt's frozen result dataclasses (see the module docstring)."""

    kind: ClassVar[str] = "result"

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dict of the scalar fields; arrays appear as ``{"__array__": key}``."""
        return _split(self, "", {})

    def arrays(self) -> dict[str, np.ndarray]:
        """All array-valued fields, keyed as in the NPZ file."""
        arrays: dict[str, np.ndarray] = {}
        _split(self, "", arrays)
        return arrays

    def save(self, stem: str | Path) -> tuple[Path, Path]:
        """Write ``<stem>.npz`` then ``<stem>.json`` atomically; return both paths."""
        stem = Path(stem)
        if stem.suffix in (".json", ".npz"):
            stem = stem.with_suffix("")
        arrays: dict[str, np.ndarray] = {}
        body = _split(self, "", arrays)
        npz = atomic_save_npz(stem.with_name(stem.name + ".npz"), arrays)
        doc = {
            "class": f"{type(self).__module__}.{type(self).__qualname__}",
            "kind": self.kind,
            "npz_sha256": _sha256(npz),
            "data": body,
        }
        js = atomic_write_json(stem.with_name(stem.name + ".json"), doc)
        return js, npz

    @classmethod
    def load(cls, stem: str | Path) -> Self:
        """Read a result written by :meth:`save`; checks the class and the NPZ checksum."""
        stem = Path(stem)
        if stem.suffix in (".json", ".npz"):
            stem = stem.with_suffix("")
        js = stem.with_name(stem.name + ".json")
        npz = stem.with_name(stem.name + ".npz")
        if not js.exists() or not npz.exists():
            raise DataError(f"result files {js} and {npz} not found; was the result saved there?")
        doc = json.loads(js.read_text())
        expected = f"{cls.__module__}.{cls.__qualname__}"
        if doc.get("class") != expected:
            raise DataError(f"{js} holds a {doc.get('class')}, not a {expected}")
        if doc.get("npz_sha256") != _sha256(npz):
            raise DataError(f"{npz} does not match {js} (checksum differs); re-run to rewrite both")
        with np.load(npz, allow_pickle=False) as z:
            arrays = {k: z[k] for k in z.files}
        return _join(doc["data"], cls, arrays)
