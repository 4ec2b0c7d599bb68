"""Detection power of the Lanczos multiplicity check against its number of steps.

60 random symmetric matrices (P = 300): a top 10 drawn from U(1, 3) with one of its values
doubled or tripled (each position in turn), over a N(0, 0.09) bulk. Single-vector Lanczos skips
the extra copies; the check (``verify_steps`` Lanczos steps on the complement of the final
Krylov basis) must expose them. Prints, per step count, how many of the 60 answers are the true
top 10 and the mean number of products. Quoted in the module doc of
``hessrmt.curvature.krylov.eigensolver`` (the figures for the check on the returned vectors'
complement alone were measured with this script at commit a75904f, before the change).

    PYTHONPATH=src .venv/bin/python bench/lanczos_check_power.py [steps ...]
"""

from __future__ import annotations

import sys
import warnings

import numpy as np

from hessrmt.curvature import lanczos


def with_spectrum(eigs: np.ndarray, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    Q, _ = np.linalg.qr(rng.standard_normal((len(eigs), len(eigs))))
    return (Q * eigs) @ Q.T


def power(steps: int, trials: int = 60, n: int = 300, k: int = 10) -> tuple[int, float]:
    ok, products = 0, 0
    for trial in range(trials):
        rng = np.random.default_rng(trial)
        top = np.sort(rng.uniform(1.0, 3.0, k))[::-1]
        mult = 2 + trial % 2
        bulk = 0.3 * rng.standard_normal(n - k - mult + 1)
        eigs = np.r_[top, [top[trial % k]] * (mult - 1), bulk]
        A = with_spectrum(eigs, trial)
        want = np.sort(eigs)[::-1][:k]
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            res = lanczos(A, k, "LA", tol=1e-8, verify_steps=steps, seed=trial)
        ok += bool(np.allclose(np.sort(res.eigenvalues)[::-1], want, atol=1e-6))
        products += res.num_matvecs
    return ok, products / trials


if __name__ == "__main__":
    for s in [int(a) for a in sys.argv[1:]] or [3, 5, 6, 10]:
        ok, mean = power(s)
        print(f"verify_steps={s}: {ok}/60 true top 10, {mean:.1f} products on average")
