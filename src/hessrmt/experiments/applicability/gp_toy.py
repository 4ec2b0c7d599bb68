"""The "true loss surface" Gaussian-process model of Baskerville, Granziol & Keating (v1, §GP).

Model. The loss ``L: R^n -> R`` is a centred Gaussian process with a stationary, isotropic kernel

    Cov(L(x), L(x')) = k(-|x - x'|^2 / 2),      kp = k'(0),  kpp = k''(0),  k0 = k(0).

**Derived here** (differentiate the kernel; u = -|d|^2/2, d = x - x', du/dx_i = -d_i,
du/dx'_j = d_j, then set d = 0)::

    Cov(d_i L(x), d_j L(x'))        = k'(u) delta_ij - k''(u) d_i d_j          (1)
    Cov(H_ij(x), H_kl(x)) = kpp (delta_ij delta_kl + delta_ik delta_jl + delta_il delta_jk)
    Cov(H_ij(x), L(x))              = -kp delta_ij
    Cov(H_ij(x), d_k L(x))          = 0       (odd derivative of an even function)

So at a point the Hessian is ``sqrt(kpp) * GOE + xi * I``: off-diagonal entries N(0, kpp),
diagonal variance 3 kpp = 2 kpp (GOE part) + kpp (a *common* shift xi ~ N(0, kpp)). The gradient
is independent of the Hessian, so conditioning on a critical point changes nothing. Conditioning on
the loss value L(x) = l gives E[H | l] = -(kp/k0) l I and common-shift variance kpp - kp^2/k0
(needs k0 kpp >= kp^2, true for any valid kernel of this form).

**From the paper's notebook** (``notebooks/gp_test_loss_spectra.ipynb`` in
npbaskerville/dnn-rmt-spacings, as described in docs/reference/papers.md §2.7; not checked against
the paper
text): off-diagonal entries N(0, kpp) (a sqrt(2 kpp)-scaled Gaussian matrix averaged with its
transpose), diagonal jointly Gaussian with covariance ``kp^2 11^T + 2 kpp I`` (the common shift
has variance kp^2 instead of kpp), and a "conditioned" version with kp^2 replaced by
kp^2 (1 - 1/k). Options: ``degeneracy`` appended zero rows/columns; ``outliers`` non-zero
diagonal entries (1 + z^2) * outlier_scale added at random positions. Defaults n = 300, 100
samples, kp = 3, kpp = 6 (pure p-spin xi(q) = q^p with p = 3).

The two variants differ only in the variance of the common shift, which moves each sample's
spectrum rigidly: spacings and ratios are identical in law (GOE), while the *pooled* density is the
semicircle of radius 2 sqrt(n kpp) convolved with N(0, shift variance). In the notebook variant a
small kpp with kp ~ 1 makes the pooled density Gaussian ("larger kpp => closer to semicircle");
in the derived variant kp does not enter the unconditioned Hessian at all.

Gradient decorrelation (from (1), derived): E<grad L(x), grad L(x')> / E|grad L|^2 =
k'(u)/k'(0) - d^2 k''(u) / (n k'(0)); for the squared-exponential kernel k(u) = s exp(u / l^2)
this is ``exp(-d^2 / (2 l^2)) (1 - d^2 / (n l^2))`` (:func:`gradient_correlation_se`).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

import numpy as np

from hessrmt.errors import InputError
from hessrmt.results import Metadata, Result
from hessrmt.rng import RngLike, as_generator, seed_of

Variant = Literal["notebook", "derived"]

#: large-N mean reduced ratios (Atas et al. 2013; docs/reference/oracles.md §4.3)
GOE_MEAN_RATIO = 0.5307
POISSON_MEAN_RATIO = 2 * np.log(2) - 1

#: the paper's kernel sweeps (docs/reference/papers.md §2.7)
SWEEP_KP = (0.0, 1.0)
SWEEP_KPP = (1e-4, 1e-3, 0.01, 0.1, 1.0, 10.0)


def gp_hessian_covariance(
    n: int,
    kp: float,
    kpp: float,
    *,
    variant: Variant = "derived",
    k0: float | None = None,
    condition_k: float | None = None,
) -> np.ndarray:
    """Covariance of the upper-triangular entries of the GP Hessian (dense, for tests/small n).

    Entries are ordered as ``np.triu_indices(n)``. ``variant="derived"``: the kernel formula in
    the module docstring, conditioned on the loss value when ``k0`` is given (shift variance
    ``kpp - kp^2/k0``). ``variant="notebook"``: shift variance ``kp^2`` (or ``kp^2 (1 - 1/k)``
    with ``condition_k=k``).
    """
    shift = _shift_variance(kp, kpp, variant=variant, k0=k0, condition_k=condition_k)
    iu, ju = np.triu_indices(n)
    d = lambda a, b: (a[:, None] == b[None, :]).astype(np.float64)  # noqa: E731
    # GOE part: kpp (delta_ik delta_jl + delta_il delta_jk); shift part: s delta_ij delta_kl
    goe = kpp * (d(iu, iu) * d(ju, ju) + d(iu, ju) * d(ju, iu))
    diag = (iu == ju).astype(np.float64)
    return goe + shift * np.outer(diag, diag)


def _shift_variance(
    kp: float,
    kpp: float,
    *,
    variant: Variant,
    k0: float | None = None,
    condition_k: float | None = None,
) -> float:
    if kpp < 0 or not np.isfinite(kpp):
        raise InputError(f"kpp = k''(0) must be finite and >= 0, got {kpp}")
    if not np.isfinite(kp):
        raise InputError(f"kp = k'(0) must be finite, got {kp}")
    if variant == "derived":
        if condition_k is not None:
            raise InputError("condition_k belongs to the notebook variant; use k0 for 'derived'")
        if k0 is None:
            return float(kpp)
        if k0 <= 0:
            raise InputError(f"k0 = k(0) must be > 0 to condition on the loss value, got {k0}")
        shift = kpp - kp**2 / k0
        if shift < -1e-12 * max(kpp, 1.0):
            raise InputError(
                f"kpp - kp^2/k0 = {shift:.3g} < 0: (k0, kp, kpp) = ({k0}, {kp}, {kpp}) is not a "
                "valid kernel; choose k0 * kpp >= kp^2"
            )
        return float(max(shift, 0.0))
    if variant == "notebook":
        if k0 is not None:
            raise InputError("k0 belongs to the derived variant; use condition_k for 'notebook'")
        if condition_k is None:
            return float(kp**2)
        if condition_k <= 0:
            raise InputError(f"condition_k must be > 0, got {condition_k}")
        return float(kp**2 * (1.0 - 1.0 / condition_k))
    raise InputError(f"variant must be 'notebook' or 'derived', got {variant!r}")


def sample_gp_hessians(
    n: int = 300,
    size: int = 100,
    *,
    kp: float = 3.0,
    kpp: float = 6.0,
    degeneracy: int = 0,
    outliers: int = 0,
    outlier_scale: float = 10.0,
    variant: Variant = "notebook",
    k0: float | None = None,
    condition_k: float | None = None,
    rng: RngLike = None,
) -> np.ndarray:
    """``size`` GP Hessians, shape ``(size, n + degeneracy, n + degeneracy)``, float64.

    ``H = sqrt(kpp) * G + xi I`` with G a GOE matrix (off-diagonal N(0, 1), diagonal N(0, 2)) and
    xi ~ N(0, shift variance) (see the module docstring for both variants); then ``outliers``
    diagonal entries ``(1 + z^2) * outlier_scale`` at random positions of the first n, then
    ``degeneracy`` zero rows and columns appended.
    """
    if n < 3 or size < 1:
        raise InputError(f"need n >= 3 and size >= 1, got n={n}, size={size}")
    if degeneracy < 0 or outliers < 0 or outliers > n:
        raise InputError(
            f"degeneracy must be >= 0 and 0 <= outliers <= n, got {degeneracy}, {outliers}"
        )
    shift_var = _shift_variance(kp, kpp, variant=variant, k0=k0, condition_k=condition_k)
    gen = as_generator(rng)
    a = gen.standard_normal((size, n, n)) * np.sqrt(2.0 * kpp)
    h = 0.5 * (a + np.swapaxes(a, 1, 2))  # off-diagonal var kpp, diagonal var 2 kpp
    xi = gen.standard_normal(size) * np.sqrt(shift_var)
    idx = np.arange(n)
    h[:, idx, idx] += xi[:, None]
    if outliers:
        for s in range(size):
            pos = gen.permutation(n)[:outliers]
            z = gen.standard_normal(outliers)
            h[s, pos, pos] += (1.0 + z**2) * outlier_scale
    if degeneracy:
        full = np.zeros((size, n + degeneracy, n + degeneracy))
        full[:, :n, :n] = h
        h = full
    return h


def reduced_ratio_stats(
    spectra: np.ndarray, *, zero_rtol: float = 1e-10, central: float = 0.8
) -> dict[str, float]:
    """Mean reduced ratio <r~> +- SE over independent spectra (rows), after a relative zero cut.

    Per spectrum: drop |lambda| <= zero_rtol * max|lambda| (exact degeneracies), keep the central
    ``central`` fraction of the remaining sorted levels, r~_i = min(s_{i+1}/s_i, s_i/s_{i+1}).
    The per-spectrum means are independent, so SE = sd / sqrt(m) is honest (adjacent ratios within
    a spectrum are correlated; docs/reference/oracles.md §4.6).
    """
    spectra = np.atleast_2d(np.asarray(spectra, dtype=np.float64))
    if not 0 < central <= 1:
        raise InputError(f"central must lie in (0, 1], got {central}")
    means = []
    n_zero = 0
    n_used = 0
    for ev in spectra:
        ev = np.sort(ev)
        scale = np.max(np.abs(ev)) if ev.size else 0.0
        keep = np.abs(ev) > zero_rtol * scale
        n_zero += int(ev.size - keep.sum())
        ev = ev[keep]
        cut = round(ev.size * (1 - central) / 2)
        ev = ev[cut : ev.size - cut] if cut else ev
        s = np.diff(ev)
        s = s[s > 0]
        if s.size < 2:
            continue
        r = s[1:] / s[:-1]
        rt = np.minimum(r, 1.0 / r)
        means.append(rt.mean())
        n_used += rt.size
    if not means:
        raise InputError("no spectrum has 3 or more non-zero distinct levels; nothing to test")
    m = np.asarray(means)
    se = float(m.std(ddof=1) / np.sqrt(m.size)) if m.size > 1 else float("nan")
    mean = float(m.mean())
    return {
        "mean_ratio": mean,
        "mean_ratio_se": se,
        "n_spectra": int(m.size),
        "n_ratios": int(n_used),
        "n_zero_removed": int(n_zero),
        "z_goe": (mean - GOE_MEAN_RATIO) / se if se > 0 else float("nan"),
        "z_poisson": (mean - POISSON_MEAN_RATIO) / se if se > 0 else float("nan"),
    }


def gradient_correlation(d: np.ndarray, kp_of_u, kpp_of_u, n: int, kp0: float) -> np.ndarray:
    """Gradient correlation E<g(x), g(x')> / E|g|^2 at distance d for a general kernel.

    ``kp_of_u(u)`` = k'(u), ``kpp_of_u(u)`` = k''(u) with u = -d^2/2; formula (1) summed over the
    ``n`` coordinates: ``(n k'(u) - d^2 k''(u)) / (n k'(0))``.
    """
    d = np.asarray(d, dtype=np.float64)
    u = -0.5 * d**2
    return (n * kp_of_u(u) - d**2 * kpp_of_u(u)) / (n * kp0)


def gradient_correlation_se(d: np.ndarray, length_scale: float, n: int | None = None) -> np.ndarray:
    """GP prediction for the squared-exponential kernel ``k(u) = s exp(u / l^2)``.

    ``exp(-d^2 / (2 l^2)) * (1 - d^2 / (n l^2))``; ``n=None`` means n -> infinity.
    """
    if length_scale <= 0:
        raise InputError(f"length_scale must be > 0, got {length_scale}")
    d = np.asarray(d, dtype=np.float64)
    base = np.exp(-(d**2) / (2 * length_scale**2))
    if n is None:
        return base
    return base * (1.0 - d**2 / (n * length_scale**2))


@dataclass(frozen=True)
class GPToyResult(Result):
    """Spectra (one array of shape (size, N) per configuration) and their ratio statistics."""

    spectra: dict[str, np.ndarray]
    configs: dict[str, dict[str, float | int | str | None]]
    stats: dict[str, dict[str, float]]
    meta: Metadata = field(default_factory=Metadata)

    kind = "gp-toy"

    def summary(self) -> dict[str, object]:
        """The ``gp_toy`` section of ``summary.json``."""
        return {
            "configs": {k: {**self.configs[k], **self.stats[k]} for k in self.configs},
            "reference": {"goe": GOE_MEAN_RATIO, "poisson": POISSON_MEAN_RATIO},
            "conventions": self.meta.conventions,
            "seed": self.meta.seed,
        }


def default_configs(*, sweeps: bool = True) -> dict[str, dict[str, object]]:
    """The paper's configurations: plain, degenerate, outliers, both, conditioned, and sweeps."""
    base = {"kp": 3.0, "kpp": 6.0, "degeneracy": 0, "outliers": 0, "variant": "notebook"}
    cfg: dict[str, dict[str, object]] = {
        "plain": dict(base),
        "degenerate": base | {"degeneracy": 100},
        "outliers": base | {"outliers": 20},
        "degenerate+outliers": base | {"degeneracy": 100, "outliers": 20},
        "derived": base | {"variant": "derived"},
        "conditioned_k1": base | {"condition_k": 1.0},
        "conditioned_k2": base | {"condition_k": 2.0},
    }
    if sweeps:
        for kp in SWEEP_KP:
            for kpp in SWEEP_KPP:
                cfg[f"sweep_kp{kp:g}_kpp{kpp:g}"] = base | {
                    "kp": kp,
                    "kpp": kpp,
                    "degeneracy": 100,
                    "outliers": 20,
                }
    return cfg


def run_gp_toy(
    *,
    n: int = 300,
    size: int = 100,
    sweeps: bool = True,
    configs: dict[str, dict[str, object]] | None = None,
    central: float = 0.8,
    rng: RngLike = 0,
    progress: bool = False,
) -> GPToyResult:
    """Sample every configuration, diagonalise in float64, compute <r~> +- SE per configuration."""
    configs = default_configs(sweeps=sweeps) if configs is None else configs
    gens = as_generator(rng).spawn(len(configs))
    spectra: dict[str, np.ndarray] = {}
    stats: dict[str, dict[str, float]] = {}
    items = list(configs.items())
    if progress:
        from tqdm import tqdm

        items = tqdm(items, desc="GP toy", leave=False)
    for (name, c), g in zip(items, gens):
        h = sample_gp_hessians(n, size, rng=g, **c)  # type: ignore[arg-type]
        ev = np.linalg.eigvalsh(h)
        spectra[name] = ev
        stats[name] = reduced_ratio_stats(ev, central=central)
    return GPToyResult(
        spectra=spectra,
        configs={k: {"n": n, "size": size, **v} for k, v in configs.items()},  # type: ignore[misc]
        stats=stats,
        meta=Metadata.create(
            seed=seed_of(rng),
            dtype="float64",
            conventions={
                "kernel": "Cov(L(x), L(x')) = k(-|x-x'|^2/2), kp = k'(0), kpp = k''(0)",
                "hessian": "sqrt(kpp)*GOE (offdiag N(0,1), diag N(0,2)) + common shift xi*I",
                "shift_variance": "notebook: kp^2 (conditioned: kp^2(1-1/k)); derived: kpp",
                "outliers": "(1+z^2)*outlier_scale on random diagonal positions",
                "degeneracy": "zero rows/columns appended",
                "ratios": f"zero cut |lambda| > 1e-10 max|lambda|, central {central:g} of levels",
                "se": "sd of per-spectrum means / sqrt(number of spectra)",
            },
        ),
    )
