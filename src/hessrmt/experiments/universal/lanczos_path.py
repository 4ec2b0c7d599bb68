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

* **damping**: u_i^T (H_b + delta)^{-1} u_i for A's Lanczos spike vectors u_i, by multi-shift
  MINRES (:func:`hessrmt.curvature.shifted_minres`: products only; H_b + delta may be
  indefinite), at the dense path's deltas: ``DAMPING_QUANTILES`` x max(-(left edge of the
  model's bulk), -min_j lambda_min(H_b,j)), H_b's lowest eigenvalue by Lanczos (``which="SA"``).
  Against 1 / (theta_i + delta') and the naive 1 / (theta_i + delta), mean and standard error
  over batches, as :func:`.networks.analyse_batches`. Every solve's true relative residual is
  recorded (``max_residual`` per delta); a delta where any solve stayed above 10 x ``solve_rtol``
  is refused: its measured values are None and ``converged`` is False for it.

Not measured on this path (they need every eigenvector of X_b): the delocalisation and the spacing
ratios; their section says so.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import torch

from hessrmt.rmt.batch_noise import mean_se
from hessrmt.rmt.laws import EmpiricalLaw, Semicircle
from hessrmt.rmt.local_law import DeformedModel

from .networks import (
    NetworkSpec,
    _batch_size_law,
    damping_deltas,
    damping_record,
    fit_noise_scale,
)


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


def damping_row(
    b: int,
    ops: Sequence[Any],
    lowest: Sequence[float],
    model_b: DeformedModel,
    theta: np.ndarray,
    U: torch.Tensor,
    solve_rtol: float,
) -> tuple[dict[str, Any], int]:
    """The damping row of batch size ``b`` (the keys of the dense path's, plus the solver's):
    deltas as :func:`.networks.analyse_batches` chooses them (``lowest``: each batch Hessian's
    lowest eigenvalue), u_i^T (H_b + delta)^{-1} u_i by :func:`shifted_minres` per batch
    operator in ``ops``; returns the row and the products spent."""
    from hessrmt.curvature import shifted_minres

    deltas = damping_deltas(model_b, lowest)
    q, res, iters, used = [], [], [], 0
    for op in ops:
        sol = shifted_minres(op, U, deltas, rtol=solve_rtol)
        qf = sol.quadratic_forms(U).T  # (r, deltas)
        qf[~sol.converged.T] = np.nan  # refused: that solve did not converge
        q.append(qf)
        res.append(sol.residuals.max(axis=1))
        iters.append(int(sol.iterations.max()))
        used += sol.num_matvecs
    q_m, q_se = mean_se(np.array(q))
    max_res = np.max(res, axis=0)
    converged = max_res <= 10 * solve_rtol
    q_m[:, ~converged] = np.nan  # a refused delta: no value for any spike
    q_se[:, ~converged] = np.nan
    row = {
        **damping_record(b, deltas, model_b, theta, q_m, q_se),
        "max_residual": max_res,
        "converged": converged.tolist(),
        "minres_iterations": iters,
        "lowest_eigenvalues": list(lowest),
    }
    return row, used


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
    solve_rtol: float = 1e-10,
    progress: bool = False,
    root: str | None = None,
) -> dict[str, Any]:
    """Everything of the module docstring for the network of ``spec`` (JSON-able dict with the
    sections of :func:`.networks.analyse_batches`; the delocalisation left empty)."""
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
        low = lanczos(opB, k=1, which="SA", tol=tol, rng=seed + 1 + j, output="numpy")
        V = np.asarray(top.eigenvectors, dtype=float)
        matvecs += top.num_matvecs + low.num_matvecs + probes
        rec = per_b.setdefault(
            int(b), {"s": [], "s_probe_se": [], "top": [], "ov": [], "low": [], "ops": []}
        )
        rec["s"].append(s)
        rec["s_probe_se"].append(s_probe_se)
        rec["top"].append(np.asarray(top.eigenvalues, dtype=float)[:r])
        rec["ov"].append(((V.T @ U) ** 2).max(axis=0))
        rec["low"].append(float(low.eigenvalues[0]))
        rec["ops"].append(opB)
    noise_rows, out_rows, ov_rows, damp_rows = [], [], [], []
    Ut = torch.as_tensor(U, dtype=torch.float64)
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
        row, used = damping_row(b, rec["ops"], rec["low"], model_b, theta, Ut, solve_rtol)
        damp_rows.append(row)
        matvecs += used
    bs = np.array(sorted(per_b), dtype=float)
    s_arr = np.array([row["s"] for row in noise_rows])
    why = "not measured on the Lanczos path (needs every eigenvector of H_b - A)"
    solver = (
        f"multi-shift MINRES on the Lanczos path (products only), relative residual target "
        f"{solve_rtol:g}; u_i from A's Lanczos eigenvectors"
    )
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
        "damping": {"rows": damp_rows, "note": solver, "solve_rtol": solve_rtol},
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
