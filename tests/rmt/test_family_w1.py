"""W1 family fits that respect the atom, and the refitting bootstrap (hessrmt.rmt.family_w1).

Oracles: spectra of matrices sampled with known parameters (hessrmt.rmt.ensembles, independent of
the laws) and iid draws from the laws; the tabulated law against the closed-form MP law; the size
of the bootstrap test at several levels on spectra drawn from the fitted family (p-values roughly
uniform) and its power against a wrong family.
"""

from __future__ import annotations

import numpy as np
import pytest

from hessrmt.errors import InputError
from hessrmt.rmt import ensembles as E
from hessrmt.rmt.family_fit import fit_families, fit_one
from hessrmt.rmt.family_tables import (
    U_GRID,
    FittedLaw,
    exact_atom,
    interpolated_quantiles,
    quantile_table,
    shape_grid,
)
from hessrmt.rmt.family_w1 import fit_w1
from hessrmt.rmt.goodness import snap_zeros
from hessrmt.rmt.laws import MarchenkoPastur, Semicircle
from hessrmt.rmt.products import WignerWishartProduct

pytestmark = pytest.mark.usefixtures("one_thread")


def _covers(fit: dict, truth: dict[str, float]) -> None:
    for k, v in truth.items():
        lo, hi = fit["intervals"][k]
        assert lo <= v <= hi, (fit["family"], k, v, lo, hi)


def test_tabulated_law_matches_closed_form() -> None:
    """The table of MP(0.5) at scale 2 reproduces MarchenkoPastur(0.5, 2): cdf, moments; the
    atom-carrying MP(2) in 'family' form has the exact atom 1/2."""
    law = FittedLaw("marchenko-pastur", (0.5,), quantile_table("marchenko-pastur", (0.5,)), 0, 2.0)
    ref = MarchenkoPastur(0.5, 2.0)
    x = np.linspace(-1, 8, 301)
    assert np.max(np.abs(law.cdf(x) - ref.cdf(x))) < 2e-3
    for k in (1, 2, 3):
        assert law.moment(k) == pytest.approx(ref.moment(k), rel=5e-3)
    assert law.stieltjes(np.array([10.0 + 1j]))[0] == pytest.approx(
        ref.stieltjes(np.array([10.0 + 1j]))[0], rel=1e-3
    )
    assert exact_atom("marchenko-pastur", (2.0,)) == 0.5
    grid = shape_grid("marchenko-pastur", "matched")
    assert np.array_equal(
        interpolated_quantiles("marchenko-pastur", grid, grid[3]),
        quantile_table("marchenko-pastur", grid[3]),
    )
    assert U_GRID[0] == 0 and U_GRID[-1] == 1


def test_continuous_part_of_mp_is_scale_free_in_phi() -> None:
    """The identity behind the matched-mode grid (phi <= 1): nonzero MP(phi) eigenvalues are
    phi times MP(1/phi) ones (X X^T vs X^T X)."""
    a = quantile_table("marchenko-pastur", (0.25,))
    b = quantile_table("marchenko-pastur", (4.0,))
    assert np.max(np.abs(b - 4.0 * a)) < 5e-3 * b.max()


@pytest.mark.parametrize("atom", ["matched", "family"])
@pytest.mark.parametrize(
    ("family", "eigs", "truth"),
    [
        ("semicircle", lambda: E.goe(500, rng=1, variance=2.0), {"variance": 2.0, "center": 0.0}),
        ("marchenko-pastur", lambda: E.wishart(500, 250, rng=2), {"phi": 2.0, "scale": 1.0}),
        (
            "wigner-wishart-product",
            lambda: E.wigner_wishart_product(500, 250, rng=4, variance=0.5),
            {"phi": 2.0, "variance": 0.5},
        ),
    ],
)
def test_recovery_on_matrix_spectra(family: str, eigs, truth: dict[str, float], atom: str) -> None:
    """Right family first and the true parameters inside the refitting-bootstrap intervals. In
    matched mode the continuous part of phi = 2 is that of phi = 1/2 rescaled by phi (MP: scale
    s phi; Wigner x Wishart: A^T H A / m = phi C'^{1/2} H_m C'^{1/2} with C' ~ MP(1/phi) and H_m of
    variance v / phi, so variance v phi) and the atom is the
    measured zero fraction."""
    x = np.linalg.eigvalsh(eigs())
    families = ["semicircle", "marchenko-pastur", "wigner-wishart-product"]
    res = fit_families(x, families, n_boot=25, rng=0, atom=atom)
    assert res["best"] == family, [(f["family"], f["w1"]) for f in res["families"]]
    best = res["families"][0]
    if atom == "matched":
        zf = float(np.mean(snap_zeros(x) == 0))
        assert best["params"]["zero_mass"] == zf and best["atom_at_zero"] == zf
        if family == "marchenko-pastur":
            truth = {"phi": 0.5, "scale": 2.0}
        elif family == "wigner-wishart-product":
            truth = {"phi": 0.5, "variance": 1.0}
    else:
        phi = best["params"].get("phi")
        own = exact_atom(family, (phi,)) if phi is not None else 0.0
        assert best["atom_at_zero"] == own
        assert own == pytest.approx(exact_atom(family, (truth.get("phi", 1.0),)), abs=0.01)
    _covers(best, truth)
    assert best["pvalue"] > 0.05


@pytest.mark.slow
@pytest.mark.parametrize(
    ("family", "eigs", "truth", "atom"),
    [
        (
            # dims (400, 200, 800): nonzero part = that of dims (200, 400, 800) (smallest first),
            # i.e. 2 MP(1/2) boxtimes MP(1/4): r = (0.5, 0.25), scale 400/200
            "wishart-product",
            lambda: E.product_wishart((400, 200, 800), rng=3),
            {"r1": 0.5, "r2": 0.25, "scale": 2.0},
            "matched",
        ),
        (
            "percolated-wigner",
            lambda: E.percolated_wigner(800, 3.0 / 800, rng=5),
            {"c": 3.0, "variance": 1.0},
            "family",
        ),
    ],
)
def test_recovery_products_and_percolated(
    family: str, eigs, truth: dict[str, float], atom: str
) -> None:
    x = np.linalg.eigvalsh(eigs())
    res = fit_families(x, n_boot=20, rng=0, atom=atom)
    assert res["best"] == family, [(f["family"], f["w1"]) for f in res["families"]]
    _covers(res["families"][0], truth)


def test_atom_is_respected_where_moments_are_not() -> None:
    """Wigner x Wishart with phi = 0.5 (no atom) plus 5% exact zeros and a heavy tail: the W1
    fit keeps the atom at the measured 5% (the moment fit drives it far away)."""
    rng = np.random.default_rng(3)
    x = np.linalg.eigvalsh(E.wigner_wishart_product(400, 800, rng=3))
    x = np.concatenate([x, np.zeros(21), 4 * rng.standard_t(3, 10)])
    zf = float(np.mean(x == 0))
    w1 = fit_one("wigner-wishart-product", x, n_boot=0, rng=0)
    mom = fit_one("wigner-wishart-product", x, n_boot=0, rng=0, method="moments")
    assert w1.atom_at_zero == zf
    assert abs(mom.atom_at_zero - zf) > 0.2
    assert w1.w1 < mom.w1


def _pvalues(family: str, law, n: int, reps: int, n_boot: int, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    out = []
    for _ in range(reps):
        x = snap_zeros(law.sample(n, rng))
        out.append(fit_one(family, x, n_boot=n_boot, rng=rng).pvalue)
    return np.array(out)


@pytest.mark.parametrize(
    ("family", "law"),
    [("semicircle", Semicircle(1.0, 0.5)), ("marchenko-pastur", MarchenkoPastur(2.0, 1.0))],
)
def test_bootstrap_size_is_nominal(family: str, law) -> None:
    """Spectra drawn from the family: rejection rates at levels 0.1, 0.25, 0.5 within 3 binomial
    standard errors of the level (the refit makes p roughly uniform)."""
    reps = 60
    p = _pvalues(family, law, n=150, reps=reps, n_boot=19, seed=11)
    for level in (0.1, 0.25, 0.5):
        rate = float(np.mean(p <= level))
        se = np.sqrt(level * (1 - level) / reps)
        assert abs(rate - level) <= 3 * se + 1e-9, (family, level, rate)


def test_bootstrap_has_power_against_a_wrong_family() -> None:
    """Wigner x Wishart (phi = 1) spectra fitted by the semicircle: rejected at 5% in most
    replicates; and a wrong family fitted to a matrix spectrum (MP to a square Wishart product)
    is rejected, the right one is not."""
    p = _pvalues("semicircle", WignerWishartProduct(1.0), n=1000, reps=10, n_boot=19, seed=5)
    assert np.mean(p <= 0.05) >= 0.8, p
    x = np.linalg.eigvalsh(E.product_wishart((400, 400, 400), rng=8))
    wrong = fit_one("marchenko-pastur", x, n_boot=19, rng=0)
    assert wrong.pvalue <= 0.05


def test_bad_input_and_determinism() -> None:
    x = np.concatenate([np.zeros(100), np.linspace(1, 2, 5)])
    with pytest.raises(InputError, match="nonzero"):
        fit_w1("semicircle", np.sort(x))
    with pytest.raises(InputError, match="atom"):
        fit_families(np.arange(1.0, 30.0), atom="free")
    with pytest.raises(InputError, match="method"):
        fit_families(np.arange(1.0, 30.0), method="ml")
    y = np.linalg.eigvalsh(E.wishart(200, 100, rng=2))
    a = fit_families(y, ["marchenko-pastur", "semicircle"], n_boot=5, rng=4)
    b = fit_families(y, ["marchenko-pastur", "semicircle"], n_boot=5, rng=4)
    assert a == b


def test_free_sum_table_matches_pennington_bahri() -> None:
    """The free-sum table (density integrated) against PenningtonBahriLaw: the mean 1 and second
    moment 1 + phi + 2 epsilon (free cumulants add) and the cdf at interior points."""
    from hessrmt.rmt.pennington_bahri import PenningtonBahriLaw

    q = quantile_table("free-sum", (0.5, 0.1))
    law = FittedLaw("free-sum", (0.5, 0.1), q, 0.0, 1.0)
    assert law.moment(1) == pytest.approx(1.0, abs=2e-3)
    assert law.moment(2) == pytest.approx(1.0 + 0.5 + 0.2, rel=3e-3)
    ref = PenningtonBahriLaw(0.5, 0.1)
    x = np.array([0.3, 1.0, 2.0])
    assert np.max(np.abs(law.cdf(x) - ref.cdf(x))) < 2e-3


@pytest.mark.slow
def test_free_sum_recovery_on_model_spectra() -> None:
    """Eigenvalues of the Pennington-Bahri matrix model (H0 = X X^T / m plus a Wigner matrix,
    phi = 0.5, epsilon = 0.1), times 2: free-sum first, truth inside the intervals."""
    from hessrmt.rmt.pennington_bahri import sample_model_eigenvalues

    x = 2.0 * np.asarray(sample_model_eigenvalues(600, 0.5, 0.1, rng=0)).ravel()
    fams = ["free-sum", "semicircle", "marchenko-pastur"]
    res = fit_families(x, fams, n_boot=15, rng=0)
    assert res["best"] == "free-sum"
    _covers(res["families"][0], {"phi": 0.5, "epsilon": 0.1, "scale": 2.0})
    assert res["families"][0]["pvalue"] > 0.05
    assert "free-sum" in fit_families(x, fams, n_boot=0, method="moments")["skipped"]


@pytest.mark.slow
def test_recovery_percolated_wishart() -> None:
    """A sparse percolated Wishart spectrum (p = 500, n = 1000, c = 2: atom 0.16): the opt-in
    family ranks first among the positive families and its intervals cover (phi, c, scale)."""
    x = np.linalg.eigvalsh(E.percolated_wishart(500, 1000, 2.0 / 1000, rng=7))
    fams = ["marchenko-pastur", "wishart-product", "percolated-wishart"]
    res = fit_families(x, fams, n_boot=12, rng=0)
    assert res["best"] == "percolated-wishart", [(f["family"], f["w1"]) for f in res["families"]]
    best = res["families"][0]
    _covers(best, {"phi": 0.5, "c": 2.0, "scale": 1.0})
    assert best["pvalue"] > 0.05
    assert exact_atom("percolated-wishart", (0.5, 2.0)) == pytest.approx(0.1595, abs=1e-4)


def test_pvalue_floor_is_recorded() -> None:
    """p of a wrong family at the floor 1/(B + 1) is flagged; format_pvalue prints "<= floor"."""
    from hessrmt.rmt.family_fit import format_pvalue

    x = np.linalg.eigvalsh(E.wishart(300, 600, rng=1))
    bad = fit_one("semicircle", x, n_boot=15, rng=0).to_dict()
    assert bad["pvalue_floor"] == pytest.approx(1 / 16) and bad["pvalue_at_floor"]
    assert format_pvalue(bad) == "<= 0.0625"
    good = fit_one("marchenko-pastur", x, n_boot=15, rng=0).to_dict()
    assert not good["pvalue_at_floor"] and format_pvalue(good) == f"{good['pvalue']:.3g}"
    none = fit_one("marchenko-pastur", x, n_boot=0, rng=0).to_dict()
    assert not none["pvalue_at_floor"] and format_pvalue(none) == "nan"
