"""Do the local statistics of exact principal sub-blocks agree with the full spectrum's?

For models whose full Hessian fits densely, compare per-layer and random principal sub-blocks
H[S, S] with the full spectrum: <r~> with its 95 % interval, the calibrated verdict, spectral
and bulk edges, outliers. Two matrix controls with known answers run alongside:

* GOE (n = P): a principal sub-block of a GOE matrix is GOE (known answer: agree);
* "rotated Poisson": Q diag(u) Q^T with i.i.d. uniform u and a Haar orthogonal Q. Its full
  spectrum is Poisson (independent levels), but a principal sub-block is a compression
  P_S Q diag(u) Q^T P_S whose eigenvalues are not independent: it shows where sub-block
  statistics answer a different question from the full spectrum's.

Usage::

    python bench/subblock_agreement.py [--quick] [--out docs/subblocks_agreement]

writes ``<out>.json`` (every record) and ``<out>.md`` (the tables quoted in docs/subblocks.md).
The sub-blocks are read from the dense H (equal to the unit-vector products of
:func:`hessrmt.curvature.subblocks.principal_subblock` to float64 round-off: the script checks
one block per model and records the difference).
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

SETUPS = {
    # name: (zoo model, data set, epochs, n_samples)
    "mlp": ("mlp", "digits", 30, None),
    "vgg-small-bn": ("vgg-small-bn", "digits", 30, None),
}
QUICK = {"mlp-tiny": ("mlp", "wine", 2, 60)}


def _records(H: np.ndarray, sets: list[Any], *, dtype: str, seed: int) -> list[dict[str, Any]]:
    from hessrmt.analysis.subblocks import block_record

    out = []
    for s in sets:
        S = s.indices
        B = H[np.ix_(S, S)]
        mu = np.linalg.eigvalsh((B + B.T) / 2)
        out.append(block_record(mu, s.describe(), dtype=dtype, seed=seed))
    return out


def study_model(
    label: str, model: str, data: str, epochs: int, n_samples: int | None, *,
    sizes: tuple[int, ...], count: int, layer_cap: int, seed: int = 0,
) -> dict[str, Any]:  # fmt: skip
    """Full dense spectrum of the trained model's full-data Hessian vs its sub-blocks."""
    import torch

    from hessrmt.analysis.subblocks import agreement_counts, block_record
    from hessrmt.curvature import HessianOperator, dense_matrix
    from hessrmt.curvature.subblocks import (
        layer_index_sets,
        principal_subblock,
        random_index_sets,
    )
    from hessrmt.data import load_dataset
    from hessrmt.nn.data import to_batches
    from hessrmt.nn.losses import make_loss
    from hessrmt.nn.train import train
    from hessrmt.nn.zoo import build_model

    t0 = time.perf_counter()
    ds = load_dataset(data, seed=seed, n_samples=n_samples)
    net = build_model(
        model, input_shape=ds.input_shape, n_outputs=ds.n_outputs, seed=seed, dtype=torch.float64
    )
    hist = train(net, ds, epochs=epochs, seed=seed)
    net.eval()
    batches = to_batches(ds, 256, split="train", dtype=torch.float64)
    op = HessianOperator(net, make_loss("cross-entropy"), batches, mode="eval")
    H = dense_matrix(op).numpy()
    P = H.shape[0]
    lam = np.linalg.eigvalsh(H)
    full = block_record(
        lam, {"name": "full", "size": P, "n_total": P, "subsampled": False}, dtype="float64",
        seed=seed,
    )  # fmt: skip
    layers = layer_index_sets(op, cap=layer_cap, rng=seed)
    check = layers[0].indices[: min(60, layers[0].size)]
    diff = float(np.abs(principal_subblock(op, check).numpy() - H[np.ix_(check, check)]).max())
    res: dict[str, Any] = {
        "label": label, "model": model, "data": data, "epochs": epochs, "n_params": P,
        "n_train": int(ds.n_train), "final_loss": float(hist.loss[-1]) if hist.loss.size else None,
        "bn_mode": "eval", "full": full, "product_vs_dense_max_abs_diff": diff,
        "layers": _records(H, layers, dtype="float64", seed=seed), "random": {},
    }  # fmt: skip
    res["agreement_layers"] = agreement_counts(res["layers"], full)
    for m in sizes:
        if m >= P:
            continue
        sets = random_index_sets(P, size=m, count=count, rng=seed + m)
        recs = _records(H, sets, dtype="float64", seed=seed)
        res["random"][str(m)] = {"blocks": recs, "agreement": agreement_counts(recs, full)}
    res["seconds"] = time.perf_counter() - t0
    return res


def study_control(
    kind: str, n: int, *, sizes: tuple[int, ...], count: int, seed: int = 0
) -> dict[str, Any]:
    """Sub-blocks of a GOE or a rotated-Poisson matrix of size n (see the module docstring)."""
    from hessrmt.analysis.subblocks import agreement_counts, block_record
    from hessrmt.curvature.subblocks import random_index_sets

    rng = np.random.default_rng(seed)
    if kind == "goe":
        A = rng.standard_normal((n, n))
        H = (A + A.T) / np.sqrt(2 * n)
    else:
        Q, R = np.linalg.qr(rng.standard_normal((n, n)))
        Q = Q * np.sign(np.diag(R))  # Haar
        H = (Q * rng.uniform(-1, 1, n)) @ Q.T
        H = (H + H.T) / 2
    lam = np.linalg.eigvalsh(H)
    full = block_record(lam, {"name": "full", "size": n, "n_total": n}, dtype="float64", seed=seed)
    res: dict[str, Any] = {"label": kind, "n_params": n, "full": full, "random": {}}
    for m in sizes:
        if m >= n:
            continue
        recs = _records(
            H, random_index_sets(n, size=m, count=count, rng=seed + m), dtype="float64", seed=seed
        )
        res["random"][str(m)] = {"blocks": recs, "agreement": agreement_counts(recs, full)}
    return res


def _row(name: str, r: dict[str, Any], full: dict[str, Any] | None = None) -> str:
    iv = r.get("mean_ratio_interval")
    e = r.get("bulk_edges")
    return (
        f"| {name} | {r.get('size')} | "
        + (f"{r['mean_ratio']:.4f} [{iv[0]:.4f}, {iv[1]:.4f}]" if iv else "-")
        + f" | {r.get('verdict') or 'not computed'} | "
        + f"[{r['lambda_min']:.4g}, {r['lambda_max']:.4g}] | "
        + (f"[{e[0]:.4g}, {e[1]:.4g}]" if e else "-")
        + f" | {r.get('n_outliers') if r.get('n_outliers') is not None else '-'} |"
    )


def to_markdown(results: list[dict[str, Any]]) -> str:
    """The tables of docs/subblocks.md (one per model or control)."""
    lines = []
    head = (
        "| block | size | <r~> [95 %] | verdict | [lambda_min, lambda_max] | bulk edges | "
        "outliers |\n|---|---|---|---|---|---|---|"
    )
    for res in results:
        title = f"### {res['label']} (P = {res['n_params']}"
        if "model" in res:
            title += f"; {res['model']} on {res['data']}, {res['epochs']} epochs, BatchNorm eval"
        lines += [title + ")", "", head, _row("full spectrum", res["full"])]
        for r in res.get("layers", []):
            lines.append(_row(f"layer {r['name']}" + (" (sub)" if r["subsampled"] else ""), r))
        for m, rec in res["random"].items():
            for r in rec["blocks"]:
                lines.append(_row(f"{r['name']} (m = {m})", r))
        lines.append("")
        ags = []
        if "agreement_layers" in res:
            ags.append(("layers", res["agreement_layers"]))
        ags += [(f"random m = {m}", rec["agreement"]) for m, rec in res["random"].items()]
        for name, ag in ags:
            if ag.get("full_spectrum"):
                lines.append(
                    f"- {name}: {ag['same_verdict']} of {ag['n_with_statistics']} blocks share "
                    f"the full verdict ({ag['full_spectrum']['verdict']}); "
                    f"{ag['ratio_interval_overlaps']} have a <r~> interval overlapping the "
                    "full spectrum's"
                )
        if "product_vs_dense_max_abs_diff" in res:
            lines.append(
                "- unit-vector products vs the dense H on a 60-index block: max |difference| = "
                f"{res['product_vs_dense_max_abs_diff']:.2e}"
            )
        lines.append("")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--quick", action="store_true", help="tiny sizes (the test runs this)")
    ap.add_argument("--out", default="docs/subblocks_agreement", help="output stem")
    ap.add_argument(
        "--only",
        default=None,
        help="comma-separated subset of the models and controls (goe, rotated-poisson) to run",
    )
    args = ap.parse_args(argv)
    setups = QUICK if args.quick else SETUPS
    only = None if args.only is None else set(args.only.split(","))
    if only is not None:
        setups = {k: v for k, v in setups.items() if k in only}
    sizes = (40,) if args.quick else (500, 1000)
    count = 2 if args.quick else 3
    cap = 100 if args.quick else 1000
    from hessrmt.io import atomic_write_json, atomic_write_text, to_jsonable

    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    results: list[dict[str, Any]] = []

    def save() -> None:  # after every model or control, so a long run keeps what it has
        atomic_write_json(out.with_suffix(".json"), to_jsonable(results))
        atomic_write_text(out.with_suffix(".md"), to_markdown(results))

    for label, (model, data, epochs, n) in setups.items():
        print(f"{label}: training and dense Hessian", file=sys.stderr)
        results.append(
            study_model(label, model, data, epochs, n, sizes=sizes, count=count, layer_cap=cap)
        )
        save()
    n_ctrl = 80 if args.quick else 2000
    for kind in ("goe", "rotated-poisson"):
        if only is not None and kind not in only:
            continue
        print(f"control {kind}", file=sys.stderr)
        results.append(study_control(kind, n_ctrl, sizes=sizes, count=count))
        save()
    print(to_markdown(results))
    return 0


if __name__ == "__main__":
    sys.exit(main())
