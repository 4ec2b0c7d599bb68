"""Matrix-free path of the universal experiment, for networks too large for dense Hessians.

Used automatically when the network has more than ``UniversalConfig.dense_max_params``
parameters (recorded per network as ``path``). The network, its training and the batches are the
dense path's (:func:`.hessians.trained_network`, the same seeded draws), and every product is a
float64 Hessian-vector product (:class:`hessrmt.curvature.HessianOperator`, eval mode, mean
cross-entropy over the training split for A, over the batch for H_b). Measured, per batch size b
with mean and standard error over batches:

* **spikes** theta_i, u_i: A's top r = C - 1 eigenpairs by thick-restart Lanczos
  (:func:`hessrmt.curvature.lanczos`, ``which="LA"``);
* **bulk law of A**: stochastic Lanczos quadrature of A (:func:`hessrmt.curvature.slq`,
  Rademacher probes), the quadrature nodes pooled with weights w / n_probes, then the top r / P
  of the mass (the spikes) removed. Outside the spectrum G(z) = int dmu / (z - l) is a smooth
  function, which Gauss quadrature integrates accurately, so the subordination prediction
  (evaluated outside the bulk) hardly depends on this approximation;
* **noise scale** s(b)^2 = tr(X_b^2) / P, X_b = H_b - A, by Hutchinson's estimator with
  Rademacher probes z: tr(X^2) = E z^T X^2 z = E ||X z||^2 (Hutchinson 1989), ||X z|| from two
  products H_b z - A z (A z computed once per probe and shared by all batches); the probes'
  standard error is recorded per batch next to the between-batch standard error;
* **outliers**: H_b's top r eigenvalues by Lanczos, against the prediction of
  :class:`hessrmt.rmt.local_law.DeformedModel` (bulk law boxplus semicircle of variance s^2);
* **overlaps**: max |<v, u_i>|^2 over H_b's top 2r Lanczos eigenvectors v, against
  1 / omega'(rho_i).

Not measured on this path (they need every eigenvector of X_b): the delocalisation, the spacing
ratios and the damping quadratic forms; their sections say so.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import torch

from hessrmt.rmt.batch_noise import mean_se
from hessrmt.rmt.laws import EmpiricalLaw, Semicircle
from hessrmt.rmt.local_law import DeformedModel

from .networks import NetworkSpec, _batch_size_law, fit_noise_scale


def trimmed_quadrature_law(nodes: np.ndarray, weights: np.ndarray, top_mass: float) -> EmpiricalLaw:
    """Pooled SLQ measure (rows of ``nodes``/``weights``, each row's weights summing to 1)
    with the fraction ``top_mass`` of the mass removed from the top (the spikes)."""
    x = np.asarray(nodes, dtype=float).ravel()
    w = np.asarray(weights, dtype=float).ravel()
    keep = w > 0
    x, w = x[keep], w[keep] / w[keep].sum()
    order = np.argsort(x)[::-1]
    x, w = x[order], w[order]
    above = np.cumsum(w) - w  # mass strictly above each node
    w = np.clip(w - np.clip(top_mass - above, 0.0, None), 0.0, None)
    keep = w > 1e-15
    return EmpiricalLaw(x[keep], w[keep])


def hutchinson_noise_scale(apply_hb: Any, AZ: torch.Tensor, Z: torch.Tensor) -> tuple[float, float]:
    """s^2 = tr(X^2)/P by the probes' mean of ||X z||^2 / P, X z = H_b z - A z: returns
    (s, standard error of s from the probes by the delta method)."""
    P = Z.shape[0]
    XZ = apply_hb(Z) - AZ
    per = (XZ**2).sum(dim=0).cpu().numpy() / P  # one estimate of tr(X^2)/P per probe
    s2 = float(per.mean())
    se2 = float(per.std(ddof=1) / np.sqrt(per.size)) if per.size > 1 else float("nan")
    s = float(np.sqrt(max(s2, 0.0)))
    return s, se2 / (2 * s) if s > 0 else float("nan")


def network_lanczos(
    spec: NetworkSpec,
    batch_sizes: Sequence[int],
    n_batches: int,
    *,
    seed: int = 0,
    probes: int = 30,
    slq_probes: int = 8,
    slq_steps: int = 80,
    tol: float = 1e-8,
    progress: bool = False,
    root: str | None = None,
) -> dict[str, Any]:
    """Everything of the module docstring for the network of ``spec`` (JSON-able dict with the
    sections of :func:`.networks.analyse_batches`; delocalisation and damping left empty)."""
    from hessrmt.curvature import HessianOperator, lanczos, slq

    from .hessians import trained_network

    model, data, hist, X, y, full = trained_network(
        spec, batch_sizes, seed=seed, progress=progress, root=root
    )
    n = X.shape[0]
    loss = torch.nn.CrossEntropyLoss()
    opA = HessianOperator(model, loss, full, dtype=torch.float64)
    P = int(opA.shape[0])
    r = int(data.n_outputs) - 1
    k = min(2 * r, P - 1)
    topA = lanczos(opA, k=r, which="LA", tol=tol, rng=seed, output="numpy")
    theta = np.asarray(topA.eigenvalues, dtype=float)
    U = np.asarray(topA.eigenvectors, dtype=float)
    dens = slq(opA, num_probes=slq_probes, num_steps=min(slq_steps, P), rng=seed)
    bulk = trimmed_quadrature_law(dens.nodes, dens.weights, r / P)
    gen_t = torch.Generator().manual_seed(seed)
    Z = torch.randint(0, 2, (P, probes), generator=gen_t).to(torch.float64) * 2 - 1
    AZ = opA.matmat(Z)
    gen = np.random.default_rng(seed)  # the dense path's draws
    steps = [(b, j) for b in batch_sizes for j in range(n_batches)]
    it: Any = steps
    if progress:
        from tqdm.auto import tqdm

        it = tqdm(steps, desc=f"{spec.key}: batch Hessians (Lanczos)", leave=False)
    per_b: dict[int, dict[str, list]] = {}
    matvecs = topA.num_matvecs + dens.num_matvecs + probes
    for b, j in it:
        idx = torch.as_tensor(gen.choice(n, size=b, replace=False))
        opB = HessianOperator(model, loss, [(X[idx], y[idx])], dtype=torch.float64)
        s, s_probe_se = hutchinson_noise_scale(opB.matmat, AZ, Z)
        top = lanczos(opB, k=k, which="LA", tol=tol, rng=seed + 1 + j, output="numpy")
        V = np.asarray(top.eigenvectors, dtype=float)
        matvecs += top.num_matvecs + probes
        rec = per_b.setdefault(int(b), {"s": [], "s_probe_se": [], "top": [], "ov": []})
        rec["s"].append(s)
        rec["s_probe_se"].append(s_probe_se)
        rec["top"].append(np.asarray(top.eigenvalues, dtype=float)[:r])
        rec["ov"].append(((V.T @ U) ** 2).max(axis=0))
    noise_rows, out_rows, ov_rows = [], [], []
    for b in sorted(per_b):
        rec = per_b[b]
        m, se = mean_se(rec["s"])
        noise_rows.append(
            {
                "b": b,
                "s": float(m),
                "s_se": float(se),
                "n_batches": len(rec["s"]),
                "s_probe_se": float(np.mean(rec["s_probe_se"])),
            }
        )
        model_b = DeformedModel(bulk, Semicircle(float(m) ** 2))
        top_m, top_se = mean_se(rec["top"])
        ov_m, ov_se = mean_se(rec["ov"])
        out_rows.append(
            {
                "b": b,
                "theta": theta,
                "predicted": [None if p is None else float(p) for p in model_b.outliers(theta)],
                "measured": top_m,
                "measured_se": top_se,
                "bulk_edge": model_b.support()[1],
            }
        )
        ov_rows.append(
            {"b": b, "predicted": model_b.overlaps(theta), "measured": ov_m, "measured_se": ov_se}
        )
    bs = np.array(sorted(per_b), dtype=float)
    s_arr = np.array([row["s"] for row in noise_rows])
    why = "not measured on the Lanczos path (needs every eigenvector of H_b - A)"
    return {
        "path": "lanczos",
        "n_parameters": P,
        "n_train": int(n),
        "n_spikes": r,
        "noise_scale": {
            "rows": noise_rows,
            "fit": fit_noise_scale(bs, s_arr, n) if bs.size >= 3 else None,
            "estimator": f"Hutchinson, {probes} Rademacher probes: tr((H_b - A)^2) / P",
        },
        "delocalisation": {"rows": [], "note": why},
        "outliers": {
            "rows": out_rows,
            "batch_size_law": _batch_size_law(bs, s_arr, bulk, theta, out_rows),
        },
        "overlaps": {"rows": ov_rows},
        "damping": {"rows": [], "note": why},
        "lanczos": {
            "A_top": theta,
            "A_residuals": np.asarray(topA.residuals, dtype=float),
            "slq_probes": slq_probes,
            "slq_steps": int(min(slq_steps, P)),
            "hutchinson_probes": probes,
            "tol": tol,
            "num_matvecs": int(matvecs),
        },
        "train_loss": float(hist.loss[-1]) if len(hist.loss) else None,
        "train_accuracy": float(hist.train_accuracy[-1]) if len(hist.loss) else None,
    }
