"""``hessrmt fit FILE [--key K] [--family F ...] [--method M] [--atom A] [--json]``: fit a
spectrum by each random-matrix family (semicircle, Marchenko-Pastur, Wishart product, Wigner x
Wishart product, percolated Wigner, Pennington-Bahri free sum; percolated Wishart when named)
and rank them by W1
(:func:`hessrmt.rmt.family_fit.fit_families`). Never imports torch.

``--json`` prints ``{"families": [{"family", "params", "w1", "ks", "pvalue", "n_params", ...},
...], "best": name, ...}`` with the best family first (non-finite numbers as null); each family
carries ``pvalue_floor`` = 1/(B + 1) (B: bootstrap replicates that refitted) and
``pvalue_at_floor``, and the table prints such a p as "<= 1/(B + 1)" (e.g. "<= 0.0196"). A bad
file, an empty or constant spectrum or an unknown family is one line on stderr and exit status 2
(the CLI's error handling).
"""

from __future__ import annotations

import argparse
import json
import sys


def register(sub: argparse._SubParsersAction) -> None:
    parser = sub.add_parser(
        "fit",
        help="fit an eigenvalue file by each random-matrix family and rank the families",
        description=(
            "Fit the eigenvalues in FILE (.npy, .npz or text; a 2-D array is pooled) by each "
            "family (by default W1 fits with the atom at zero matched to the measured zero "
            "fraction), with refitting parametric-bootstrap intervals and KS p-values, W1 and "
            "KS distances; families ranked by W1, best first."
        ),
    )
    parser.add_argument("file", metavar="FILE", help="eigenvalue file (.npy, .npz or text)")
    parser.add_argument("--key", default=None, help="array name inside a .npz file")
    parser.add_argument(
        "--family",
        action="append",
        default=None,
        metavar="F",
        help="family to fit (repeatable; default all but percolated-wishart): semicircle, "
        "marchenko-pastur, wishart-product, wigner-wishart-product, percolated-wigner, free-sum, "
        "percolated-wishart (opt-in: its tables cost about a minute of CPU)",
    )
    parser.add_argument(
        "--method",
        default="w1",
        help="w1 (default: W1 fits, refitting bootstrap) or moments (moment fits, no refit)",
    )
    parser.add_argument(
        "--atom",
        default="matched",
        help="W1 fits: 'matched' (default: atom at zero = the measured zero fraction, one more "
        "parameter) or 'family' (each family's own atom)",
    )
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    parser.add_argument(
        "--remove-outliers",
        action="store_true",
        help="keep outliers apart (found by the bulk/outlier split of hessrmt stats) and fit the "
        "families to the rest",
    )
    parser.add_argument(
        "--zero-rtol",
        type=float,
        default=None,
        help="eigenvalues with |l| <= RTOL max|l| are zeros (default from --dtype; float64: "
        "|l| < 1e-9 max(1, max|l|))",
    )
    parser.add_argument(
        "--dtype",
        default=None,
        choices=["float64", "float32", "float16", "bfloat16"],
        help="precision the eigenvalues were computed in (default: the file's dtype); sets "
        "the zero tolerance as in hessrmt stats",
    )
    parser.add_argument("--n-boot", type=int, default=50, help="bootstrap replicates (>= 0)")
    parser.add_argument("--seed", type=int, default=0, help="seed of the bootstrap")
    parser.set_defaults(handler=run)


def _fmt_params(params: dict[str, float], intervals: dict[str, list[float]]) -> str:
    parts = []
    for k, v in params.items():
        lo, hi = intervals.get(k, (float("nan"), float("nan")))
        parts.append(f"{k}={v:.4g} [{lo:.3g}, {hi:.3g}]")
    return ", ".join(parts)


def run(args: argparse.Namespace) -> int:
    from hessrmt.errors import InputError
    from hessrmt.io import to_jsonable
    from hessrmt.rmt.bulk import fit_zero_rtol
    from hessrmt.rmt.family_fit import FAMILIES, fit_families, format_pvalue
    from hessrmt.rmt.spectrum_io import load_spectrum

    for name in args.family or ():
        if name not in FAMILIES:
            raise InputError(f"unknown family {name!r}; choose from {', '.join(FAMILIES)}")
    if args.n_boot < 0:
        raise InputError(f"--n-boot must be >= 0, got {args.n_boot}")
    if args.zero_rtol is not None and not 0 <= args.zero_rtol < 1:
        raise InputError(f"--zero-rtol must be in [0, 1), got {args.zero_rtol}")
    eigs = load_spectrum(args.file, key=args.key)
    res = fit_families(
        eigs.ravel(),
        args.family,
        n_boot=args.n_boot,
        rng=args.seed,
        outliers="remove" if args.remove_outliers else "keep",
        method=args.method,
        atom=args.atom,
        zero_rtol=fit_zero_rtol(args.zero_rtol, args.dtype or eigs.dtype),
    )
    res["seed"] = args.seed
    if args.json:
        sys.stdout.write(json.dumps(to_jsonable(res), allow_nan=False) + "\n")
        return 0
    lines = [
        f"{res['n_eigenvalues']} eigenvalues (zeros: {res['conventions']['zero_tolerance']}); "
        "families ranked by W1 (best first)"
    ]
    if res["outliers"]:
        lines.append(f"{len(res['outliers'])} outliers kept apart: {res['outliers']}")
    for f in res["families"]:
        lines.append(
            f"{f['family']:<24} W1 {f['w1']:.4g}  KS {f['ks']:.4g}  p {format_pvalue(f)}  "
            f"k={f['n_params']}  atom {f['atom_at_zero']:.3g}  "
            f"{_fmt_params(f['params'], f['intervals'])}"
        )
    for name, why in res["skipped"].items():
        lines.append(f"{name:<24} skipped: {why}")
    lines.append(f"best: {res['best']}")
    sys.stdout.write("\n".join(lines) + "\n")
    return 0
