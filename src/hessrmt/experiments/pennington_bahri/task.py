"""The memorisation task of Pennington & Bahri (2017): a one-hidden-layer tanh network fitting
random Gaussian targets on random Gaussian inputs with the squared loss.

Conventions (recorded in every result by :func:`task_conventions`):

* Network f(x) = W2 tanh(W1 x) (+ biases when ``bias=True``), x in R^n_in, hidden width ``width``,
  outputs n_out; the paper's set-up is width = n_in = n_out = 16 without biases (unverified), so
  P = 2 * 16^2 = 512 parameters. Initialisation: weights N(0, 1/fan_in), biases 0.
* Data: m inputs x_mu ~ N(0, I_n_in) and targets y_mu ~ N(0, I_n_out), iid, seeded.
* phi = P / (m * n_out) (parameters per data point per output; the paper's exact convention is
  unverified). Given a target phi the number of data points is m = round(P / (phi * n_out)); the
  *actual* phi = P / (m * n_out) is what is recorded and used in the theory.
* Loss (energy):  L(theta) = 1/(2 m n_out) sum_{mu, i} (f_i(x_mu) - y_{i mu})^2,
  i.e. half the mean squared residual, so the residuals have mean square 2 L (the "variance 2 eps"
  of the H1 model) and the zero predictor has E L = 1/2, the phi -> 0 value of (1 - phi)^2 / 2.
  Derivation of the scale check: for a *linear* model y = W x (n_in parameters per output, so
  phi_lin = n_in / m), the least-squares residual of each output is the projection of a standard
  Gaussian m-vector onto the (m - n_in)-dimensional complement of the column space of X, hence
  E L_min = (m - n_in) n_out / (2 m n_out) = (1 - phi_lin) / 2 exactly. The paper's
  (1 - phi)^2 / 2 for the nonlinear network is an empirical observation (open problem there).
* Hessian split (Pennington & Bahri): H = H0 + H1 with H0 = J^T J / (m n_out) the Gauss-Newton
  matrix (J = d f / d theta over all m n_out outputs) and H1 = 1/(m n_out) sum e_{i mu}
  d^2 f_{i mu} / d theta^2 the residual term.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable
from typing import Any

import numpy as np
import torch

from hessrmt.errors import InputError


@dataclasses.dataclass(frozen=True)
class MemorisationTask:
    """Data and sizes of one memorisation problem (see the module docstring for conventions)."""

    phi_target: float
    phi: float
    width: int
    n_in: int
    n_out: int
    n_data: int
    n_params: int
    bias: bool
    activation: str
    seed: int
    X: torch.Tensor  # (m, n_in) float64
    Y: torch.Tensor  # (m, n_out) float64

    def batches(self) -> list[tuple[torch.Tensor, torch.Tensor]]:
        """The whole data set as one batch (the curvature operators' ``data`` argument)."""
        return [(self.X, self.Y)]

    def conventions(self) -> dict[str, Any]:
        return task_conventions() | {
            "width": self.width,
            "n_in": self.n_in,
            "n_out": self.n_out,
            "n_data": self.n_data,
            "n_params": self.n_params,
            "phi": self.phi,
            "phi_target": self.phi_target,
            "bias": self.bias,
            "activation": self.activation,
        }


def task_conventions() -> dict[str, str]:
    return {
        "phi": "n_params / (n_data * n_out); m = round(P / (phi_target * n_out))",
        "loss": "L = 1/(2 m n_out) sum_{mu,i} (f_i(x_mu) - y_i,mu)^2 (half mean squared residual)",
        "data": "x ~ N(0, I), y ~ N(0, I), iid",
        "init": "weights N(0, 1/fan_in), biases 0",
        "H0": "Gauss-Newton J^T J / (m n_out) (GGNOperator)",
        "H1": "residual term 1/(m n_out) sum e d^2 f (ResidualOperator); H = H0 + H1",
    }


def n_params_of(width: int, n_in: int, n_out: int, bias: bool) -> int:
    return width * n_in + n_out * width + ((width + n_out) if bias else 0)


def make_task(
    phi: float,
    *,
    width: int = 16,
    n_in: int | None = None,
    n_out: int | None = None,
    bias: bool = False,
    activation: str = "tanh",
    seed: int = 0,
) -> MemorisationTask:
    """Random Gaussian data for the memorisation task at (about) the requested ``phi``."""
    n_in = width if n_in is None else int(n_in)
    n_out = width if n_out is None else int(n_out)
    if not (isinstance(phi, (int, float)) and math.isfinite(phi) and phi > 0):
        raise InputError(f"phi must be a positive number, got {phi!r}")
    if min(width, n_in, n_out) < 1:
        raise InputError(f"width, n_in and n_out must be >= 1, got {width}, {n_in}, {n_out}")
    if activation not in ("tanh", "linear"):
        raise InputError(f"activation must be 'tanh' or 'linear', got {activation!r}")
    if seed < 0:
        raise InputError(f"seed must be >= 0, got {seed}")
    P = n_params_of(width, n_in, n_out, bias)
    m = max(1, round(P / (float(phi) * n_out)))
    gen = np.random.default_rng([int(seed), m, width, n_in, n_out])
    X = torch.from_numpy(gen.standard_normal((m, n_in)))
    Y = torch.from_numpy(gen.standard_normal((m, n_out)))
    return MemorisationTask(
        phi_target=float(phi),
        phi=P / (m * n_out),
        width=int(width),
        n_in=n_in,
        n_out=n_out,
        n_data=m,
        n_params=P,
        bias=bool(bias),
        activation=activation,
        seed=int(seed),
        X=X,
        Y=Y,
    )


def build_model(task: MemorisationTask) -> torch.nn.Module:
    """The network (float64, parameters to be set by :func:`set_parameters`)."""
    act: torch.nn.Module = torch.nn.Tanh() if task.activation == "tanh" else torch.nn.Identity()
    return torch.nn.Sequential(
        torch.nn.Linear(task.n_in, task.width, bias=task.bias),
        act,
        torch.nn.Linear(task.width, task.n_out, bias=task.bias),
    ).to(torch.float64)


def initial_parameters(task: MemorisationTask, rng: np.random.Generator, scale: float = 1.0):
    """A flat float64 starting vector: weights N(0, scale^2 / fan_in), biases 0."""
    parts = [rng.standard_normal(task.width * task.n_in) * scale / math.sqrt(task.n_in)]
    if task.bias:
        parts.append(np.zeros(task.width))
    parts.append(rng.standard_normal(task.n_out * task.width) * scale / math.sqrt(task.width))
    if task.bias:
        parts.append(np.zeros(task.n_out))
    return torch.from_numpy(np.concatenate(parts))


def set_parameters(model: torch.nn.Module, theta: torch.Tensor | np.ndarray) -> torch.nn.Module:
    """Load a flat vector (``parameters_to_vector`` order) into ``model``; returns it."""
    vec = torch.as_tensor(np.asarray(theta), dtype=torch.float64)
    torch.nn.utils.vector_to_parameters(vec, model.parameters())
    return model


def loss_fn(output: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """L = 1/(2 m n_out) sum (output - target)^2 (a mean-reduced loss over m samples)."""
    return 0.5 * torch.mean((output - target) ** 2)


def flat_loss(task: MemorisationTask) -> Callable[[torch.Tensor], torch.Tensor]:
    """theta -> L(theta) on the whole data set, for :mod:`torch.func` (gradient, Hessian)."""
    from torch.func import functional_call

    model = build_model(task)
    names = [n for n, _ in model.named_parameters()]
    shapes = [p.shape for _, p in model.named_parameters()]
    sizes = [p.numel() for _, p in model.named_parameters()]

    def fun(theta: torch.Tensor) -> torch.Tensor:
        chunks = torch.split(theta, sizes)
        params = {n: c.view(s) for n, c, s in zip(names, chunks, shapes)}
        return loss_fn(functional_call(model, params, (task.X,)), task.Y)

    return fun


def least_squares_energy(task: MemorisationTask) -> float:
    """min over linear maps W of 1/(2 m n_out) |X W^T - Y|^2 (closed form via lstsq)."""
    X, Y = task.X.numpy(), task.Y.numpy()
    coef, *_ = np.linalg.lstsq(X, Y, rcond=None)
    return float(np.sum((X @ coef - Y) ** 2) / (2 * X.shape[0] * Y.shape[1]))


def flat_derivatives(
    task: MemorisationTask,
) -> tuple[Callable[[torch.Tensor], torch.Tensor], Callable[[torch.Tensor], torch.Tensor]]:
    """Closed-form gradient and Hessian of :func:`flat_loss` (no biases), for fast searches.

    With A = X W1^T, Z = phi(A) (tanh or identity), F = Z W2^T, E = F - Y, N = m n_out and
    L = |E|^2 / (2N):

    * grad_W2 L = E^T Z / N,  grad_W1 L = ((E W2) * phi'(A))^T X / N;
    * H = J^T J / N + H1 / N (Gauss-Newton plus residual term), J the Jacobian of F with
      dF[mu,i]/dW1[k,j] = W2[i,k] phi'(A[mu,k]) X[mu,j] and dF[mu,i]/dW2[i',k] = d_ii' Z[mu,k];
      H1 has the W1-W1 blocks (diagonal in the hidden unit k)
      sum_mu (E W2)[mu,k] phi''(A[mu,k]) X[mu,:]^T X[mu,:] and the W1-W2 entries
      d_kk' sum_mu E[mu,i'] phi'(A[mu,k]) X[mu,j]; the W2-W2 block of H1 is 0.

    Same parameter order as ``parameters_to_vector`` (W1 row-major, then W2). Tested against
    :mod:`torch.func`; the searches use these (about 10x faster than ``torch.func.hessian`` at
    P = 50) and the spectra at the points found still come from :mod:`hessrmt.curvature`.
    """
    if task.bias:
        raise InputError("flat_derivatives supports networks without biases only")
    X, Y = task.X, task.Y
    m, n_in = X.shape
    h, n_out = task.width, task.n_out
    N = m * n_out
    n1 = h * n_in
    tanh = task.activation == "tanh"

    def forward(theta: torch.Tensor):
        W1 = theta[:n1].view(h, n_in)
        W2 = theta[n1:].view(n_out, h)
        A = X @ W1.T
        if tanh:
            Z = torch.tanh(A)
            d1 = 1.0 - Z * Z
            d2 = -2.0 * Z * d1
        else:
            Z, d1, d2 = A, torch.ones_like(A), torch.zeros_like(A)
        E = Z @ W2.T - Y
        return W1, W2, Z, d1, d2, E

    def grad_fn(theta: torch.Tensor) -> torch.Tensor:
        _, W2, Z, d1, _, E = forward(theta)
        g1 = ((E @ W2) * d1).T @ X / N
        g2 = E.T @ Z / N
        return torch.cat([g1.reshape(-1), g2.reshape(-1)])

    eye = torch.eye(n_out, dtype=X.dtype)

    def hess_fn(theta: torch.Tensor) -> torch.Tensor:
        _, W2, Z, d1, d2, E = forward(theta)
        J1 = torch.einsum("ik,mk,mj->mikj", W2, d1, X).reshape(m * n_out, n1)
        J2 = torch.einsum("ab,mk->mabk", eye, Z).reshape(m * n_out, n_out * h)
        J = torch.cat([J1, J2], dim=1)
        H = J.T @ J
        G = (E @ W2) * d2  # (m, h)
        B = torch.einsum("mk,mj,ml->kjl", G, X, X)  # W1-W1 blocks, one per hidden unit
        idx = torch.arange(h)
        H1 = H[:n1, :n1].view(h, n_in, h, n_in)
        H1[idx, :, idx, :] += B
        C = torch.einsum("mi,mk,mj->kji", E, d1, X)  # (k, j, i'): d2F / dW1[k,j] dW2[i',k]
        cross = torch.zeros(h, n_in, n_out, h, dtype=X.dtype)
        cross[idx, :, :, idx] = C
        cross = cross.reshape(n1, n_out * h)
        H[:n1, n1:] += cross
        H[n1:, :n1] += cross.T
        return H / N

    return grad_fn, hess_fn


def with_weight_decay(
    fun: Callable[[torch.Tensor], torch.Tensor],
    grad_fn: Callable[[torch.Tensor], torch.Tensor] | None,
    hess_fn: Callable[[torch.Tensor], torch.Tensor] | None,
    weight_decay: float,
) -> tuple[Callable, Callable | None, Callable | None]:
    """L_lam(theta) = L(theta) + (lam / 2) |theta|^2 with gradient g + lam theta and Hessian
    H + lam I (the inputs unchanged when lam = 0; None derivatives stay None, for torch.func)."""
    lam = float(weight_decay)
    if not (math.isfinite(lam) and lam >= 0):
        raise InputError(f"weight_decay must be >= 0, got {weight_decay!r}")
    if lam == 0.0:
        return fun, grad_fn, hess_fn

    def f(theta: torch.Tensor) -> torch.Tensor:
        return fun(theta) + 0.5 * lam * (theta @ theta)

    g = None if grad_fn is None else (lambda theta: grad_fn(theta) + lam * theta)
    h = (
        None
        if hess_fn is None
        else (lambda theta: hess_fn(theta) + lam * torch.eye(theta.numel(), dtype=theta.dtype))
    )
    return f, g, h


def saturated_fraction(task: MemorisationTask, theta: np.ndarray, threshold: float = 3.0) -> float:
    """Fraction of hidden pre-activations a = W1 x (+ b) over the data with |a| > ``threshold``
    (tanh'(3) = 0.0099: units there pass almost no gradient). Measures the runaway of
    minimisation into saturation."""
    model = set_parameters(build_model(task), theta)
    with torch.no_grad():
        a = model[0](task.X)
    return float((a.abs() > threshold).double().mean())
