"""Regenerate ``example_spectra.npz``, the small bundled example for ``hessrmt stats``.

Run from the repository root: ``.venv/bin/python src/hessrmt/data/examples/make_example_spectra.py``
(seeded, so the file is reproduced bit for bit on the same NumPy/LAPACK). Arrays (rows are
independent spectra):

* ``hessian_like`` (8, 300), float64: H = P W P + theta_1 u u^T + theta_2 v v^T with W a GOE
  (off-diagonal variance 1/300, semicircle radius 2), P the orthogonal projector onto a random
  240-dimensional subspace (60 zero modes, like a rank-deficient Hessian) and spikes theta = 4, 6
  inside that subspace (BBP outliers near theta + 0.8/theta). Expected: zero fraction 0.2 (all
  round-off zeros), 2 outliers per spectrum, GOE bulk statistics.
* ``hessian_like_float32`` (8, 300): the same matrices diagonalised in float32 and saved as
  float64: the round-off trap of docs/reference/papers.md §2.6 (use ``--dtype float32``).
* ``poisson`` (8, 300): iid uniform levels (Poisson statistics).

Example: ``hessrmt stats src/hessrmt/data/examples/example_spectra.npz --key hessian_like``.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from hessrmt.io import atomic_save_npz
from hessrmt.rmt.ensembles import goe

SEED = 20261123
N, RANK, N_SPECTRA, THETAS = 300, 240, 8, (4.0, 6.0)


def make(seed: int = SEED) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    h64, h32 = [], []
    for _ in range(N_SPECTRA):
        q = np.linalg.qr(rng.standard_normal((N, RANK)))[0]  # orthonormal basis of the subspace
        p = q @ q.T
        w = goe(N, rng=rng)
        h = p @ w @ p
        for theta, col in zip(THETAS, rng.choice(RANK, size=2, replace=False)):
            h += theta * np.outer(q[:, col], q[:, col])
        h = (h + h.T) / 2
        h64.append(np.linalg.eigvalsh(h))
        h32.append(np.linalg.eigvalsh(h.astype(np.float32)).astype(np.float64))
    poisson = np.sort(rng.random((N_SPECTRA, N)), axis=1)
    return {
        "hessian_like": np.array(h64),
        "hessian_like_float32": np.array(h32),
        "poisson": poisson,
    }


def main() -> None:
    path = Path(__file__).with_name("example_spectra.npz")
    atomic_save_npz(path, make())
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
