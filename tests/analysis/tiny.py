"""A tiny ``hessrmt analyze`` run and the bytes of its outputs (shared by the resume tests)."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np

#: logreg on 40 wine samples: every step of the dense path in a few seconds.
TINY = dict(
    model="logreg",
    data="wine",
    n_samples=40,
    epochs=1,
    batch_hessians=2,
    batch_size=16,
    slq_probes=2,
    slq_steps=8,
    progress=False,
)


def output_bytes(run: Path) -> dict[str, bytes]:
    """Every array of a finished run folder (spectra, SLQ, sub-blocks when present, the trained
    ``state_dict``) as dtype + raw bytes, for byte-identity checks."""
    import torch

    got: dict[str, bytes] = {}
    for name in ("spectrum.npz", "slq.npz", "subblocks.npz"):
        if name != "subblocks.npz" or (run / name).exists():
            with np.load(run / name) as z:
                for key in z.files:
                    got[f"{name}/{key}"] = z[key].dtype.str.encode() + z[key].tobytes()
    state = torch.load(io.BytesIO((run / "model.pt").read_bytes()), weights_only=True)
    for key, value in state.items():
        got[f"model.pt/{key}"] = value.numpy().tobytes()
    return got
