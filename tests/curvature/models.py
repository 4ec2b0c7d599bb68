"""Small float64 test models and tiny random data, shared by the curvature tests.

Every builder takes a ``seed`` and returns a :class:`Problem`: a model (float64, eval mode), a
mean-reduced loss, and a list of (inputs, targets) batches of UNEVEN sizes (so that a wrong batch
weighting shows up). Parameter counts are kept small (tens to a few hundred) so that a dense
reference Hessian by ``torch.func.hessian`` takes well under a second.

Use :func:`full_data` to concatenate the batches (for reference computations of the full-data
loss) and :func:`ALL_PROBLEMS` to parametrise a test over every model.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import torch
from torch import nn

from hessrmt.curvature.linop import CurvatureOperator, DenseOperator

#: Default uneven batch sizes (N = 23).
BATCH_SIZES: tuple[int, ...] = (7, 5, 11)


@dataclass
class Problem:
    """A model, a loss and uneven batches of data: everything a curvature operator needs.

    Attributes:
        name: short identifier (for test ids).
        model: a float64 ``nn.Module`` in eval mode.
        loss_fn: the loss (mean reduction unless stated otherwise).
        batches: list of (inputs, targets) tuples of uneven sizes.
        task: "classification" or "regression".
    """

    name: str
    model: nn.Module
    loss_fn: nn.Module
    batches: list[tuple[torch.Tensor, torch.Tensor]]
    task: str

    @property
    def num_params(self) -> int:
        return sum(p.numel() for p in self.model.parameters() if p.requires_grad)


def _split(
    X: torch.Tensor, y: torch.Tensor, sizes: tuple[int, ...]
) -> list[tuple[torch.Tensor, torch.Tensor]]:
    out, start = [], 0
    for s in sizes:
        out.append((X[start : start + s], y[start : start + s]))
        start += s
    return out


def _class_data(
    gen: torch.Generator, input_shape: tuple[int, ...], n_classes: int, sizes: tuple[int, ...]
) -> list[tuple[torch.Tensor, torch.Tensor]]:
    n = sum(sizes)
    X = torch.randn(n, *input_shape, generator=gen, dtype=torch.float64)
    y = torch.randint(0, n_classes, (n,), generator=gen)
    return _split(X, y, sizes)


def _finish(
    name: str,
    model: nn.Module,
    batches: list[tuple[torch.Tensor, torch.Tensor]],
    loss_fn: nn.Module | None = None,
    task: str = "classification",
) -> Problem:
    model = model.to(torch.float64).eval()
    return Problem(name, model, loss_fn or nn.CrossEntropyLoss(), batches, task)


def mlp_tanh(seed: int = 0, sizes: tuple[int, ...] = BATCH_SIZES) -> Problem:
    """MLP 4 -> 6 -> 5 -> 3 with tanh, cross-entropy (P = 30 + 35 + 18 = 83)."""
    torch.manual_seed(seed)
    model = nn.Sequential(nn.Linear(4, 6), nn.Tanh(), nn.Linear(6, 5), nn.Tanh(), nn.Linear(5, 3))
    gen = torch.Generator().manual_seed(seed + 1)
    return _finish("mlp_tanh", model, _class_data(gen, (4,), 3, sizes))


def mlp_relu(seed: int = 0, sizes: tuple[int, ...] = BATCH_SIZES) -> Problem:
    """MLP 5 -> 8 -> 3 with ReLU, cross-entropy (P = 48 + 27 = 75).

    ReLU is piecewise linear, so the diagonal blocks of the residual (H1) term vanish almost
    everywhere (the output is linear in each layer's parameters); the cross-layer blocks do not.
    """
    torch.manual_seed(seed)
    model = nn.Sequential(nn.Linear(5, 8), nn.ReLU(), nn.Linear(8, 3))
    gen = torch.Generator().manual_seed(seed + 1)
    return _finish("mlp_relu", model, _class_data(gen, (5,), 3, sizes))


class SmallCNN(nn.Module):
    """Conv(1->3, 3x3) - tanh - avg-pool 2 - Linear(27 -> 3) on 1 x 8 x 8 inputs (P = 30 + 84)."""

    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(1, 3, kernel_size=3)
        self.pool = nn.AvgPool2d(2)
        self.fc = nn.Linear(27, 3)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.pool(torch.tanh(self.conv(x)))
        return self.fc(h.flatten(1))


def small_cnn(seed: int = 0, sizes: tuple[int, ...] = BATCH_SIZES) -> Problem:
    """A small CNN on 1 x 8 x 8 random images, cross-entropy (P = 114)."""
    torch.manual_seed(seed)
    model = SmallCNN()
    gen = torch.Generator().manual_seed(seed + 1)
    return _finish("small_cnn", model, _class_data(gen, (1, 8, 8), 3, sizes))


def batchnorm_mlp(seed: int = 0, sizes: tuple[int, ...] = BATCH_SIZES) -> Problem:
    """Linear(4->6) - BatchNorm1d(6) - tanh - Linear(6->3), cross-entropy (P = 30 + 12 + 21 = 63).

    The BatchNorm running statistics are set to non-trivial values (as after training) so that
    eval mode and train mode give different curvatures.
    """
    torch.manual_seed(seed)
    model = nn.Sequential(nn.Linear(4, 6), nn.BatchNorm1d(6), nn.Tanh(), nn.Linear(6, 3))
    gen = torch.Generator().manual_seed(seed + 1)
    bn = model[1]
    with torch.no_grad():
        bn.running_mean.copy_(0.3 * torch.randn(6, generator=gen))
        bn.running_var.copy_(0.5 + torch.rand(6, generator=gen))
        bn.weight.copy_(1.0 + 0.2 * torch.randn(6, generator=gen))
        bn.bias.copy_(0.1 * torch.randn(6, generator=gen))
    return _finish("batchnorm_mlp", model, _class_data(gen, (4,), 3, sizes))


def softmax_regression(
    seed: int = 0, sizes: tuple[int, ...] = BATCH_SIZES, n_features: int = 5, n_classes: int = 4
) -> Problem:
    """Multinomial logistic regression: one ``nn.Linear(d, C)`` and cross-entropy (P = C(d+1))."""
    torch.manual_seed(seed)
    model = nn.Linear(n_features, n_classes)
    gen = torch.Generator().manual_seed(seed + 1)
    return _finish("softmax_regression", model, _class_data(gen, (n_features,), n_classes, sizes))


def regression_mlp(seed: int = 0, sizes: tuple[int, ...] = BATCH_SIZES) -> Problem:
    """MLP 3 -> 5 -> 2 with tanh and MSE loss on random targets (P = 20 + 12 = 32)."""
    torch.manual_seed(seed)
    model = nn.Sequential(nn.Linear(3, 5), nn.Tanh(), nn.Linear(5, 2))
    gen = torch.Generator().manual_seed(seed + 1)
    n = sum(sizes)
    X = torch.randn(n, 3, generator=gen, dtype=torch.float64)
    y = torch.randn(n, 2, generator=gen, dtype=torch.float64)
    return _finish("regression_mlp", model, _split(X, y, sizes), nn.MSELoss(), "regression")


class TinyEncoder(nn.Module):
    """One ``nn.TransformerEncoderLayer`` (d_model 4, 2 heads, feed-forward 6, GELU, LayerNorm)
    on sequences of length 5, mean-pooled into ``nn.Linear(4, 3)`` (P = 169)."""

    def __init__(self) -> None:
        super().__init__()
        self.encoder = nn.TransformerEncoderLayer(
            4, 2, dim_feedforward=6, activation="gelu", batch_first=True
        )
        self.head = nn.Linear(4, 3)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.encoder(x).mean(1))


class TinyAttention(nn.Module):
    """``nn.MultiheadAttention`` (embed 4, 2 heads, dropout 0.1: inactive in eval mode)
    self-attention with a residual connection, mean-pooled into ``nn.Linear(4, 3)`` (P = 95)."""

    def __init__(self) -> None:
        super().__init__()
        self.attn = nn.MultiheadAttention(4, 2, dropout=0.1, batch_first=True)
        self.head = nn.Linear(4, 3)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h, _ = self.attn(x, x, x, need_weights=False)
        return self.head((x + h).mean(1))


def transformer_encoder(seed: int = 0, sizes: tuple[int, ...] = BATCH_SIZES) -> Problem:
    """:class:`TinyEncoder` on random sequences (5 tokens of 4 features), cross-entropy."""
    torch.manual_seed(seed)
    gen = torch.Generator().manual_seed(seed + 1)
    return _finish("transformer_encoder", TinyEncoder(), _class_data(gen, (5, 4), 3, sizes))


def multihead_attention(seed: int = 0, sizes: tuple[int, ...] = BATCH_SIZES) -> Problem:
    """:class:`TinyAttention` on random sequences (5 tokens of 4 features), cross-entropy."""
    torch.manual_seed(seed)
    gen = torch.Generator().manual_seed(seed + 1)
    return _finish("multihead_attention", TinyAttention(), _class_data(gen, (5, 4), 3, sizes))


def full_data(
    batches: list[tuple[torch.Tensor, torch.Tensor]],
) -> tuple[torch.Tensor, torch.Tensor]:
    """All batches concatenated: (X, y) of the full data set."""
    return torch.cat([b[0] for b in batches]), torch.cat([b[1] for b in batches])


#: name -> builder(seed) for every classification/regression test problem.
ALL_PROBLEMS: dict[str, Callable[..., Problem]] = {
    "mlp_tanh": mlp_tanh,
    "mlp_relu": mlp_relu,
    "small_cnn": small_cnn,
    "batchnorm_mlp": batchnorm_mlp,
    "softmax_regression": softmax_regression,
    "regression_mlp": regression_mlp,
}


def reference_hessian(
    problem: Problem,
    names: list[str] | None = None,
    loss_fn: Callable[..., torch.Tensor] | None = None,
    method: str = "func",
) -> torch.Tensor:
    """The dense Hessian of the FULL-DATA loss by ``torch.func.hessian`` (an independent oracle).

    ``method="autograd"`` uses ``torch.autograd.functional.hessian`` instead: needed for
    BatchNorm in TRAIN mode, where ``torch.func.hessian`` (jacfwd of jacrev) returns a wrong
    matrix in torch 2.13 (off by ~10 %, against finite differences; double backward is right),
    and for ``nn.TransformerEncoderLayer`` (off by ~7 %; see ``test_attention.py``).

    All batches are concatenated into one, so no batch weighting is involved: with a mean (or
    weighted-mean) loss this is the full-data mean, with a sum loss the full-data sum. ``names``
    selects parameters (model order is the caller's responsibility); the model's mode is used
    as it is.
    """
    from torch.func import functional_call, hessian

    model = problem.model
    loss_fn = loss_fn or problem.loss_fn
    X, y = full_data(problem.batches)
    named = {n: p.detach() for n, p in model.named_parameters()}
    buffers = dict(model.named_buffers())
    names = list(named) if names is None else names
    shapes = [named[n].shape for n in names]
    theta0 = torch.cat([named[n].reshape(-1) for n in names])

    def f(vec: torch.Tensor) -> torch.Tensor:
        d = {**named, **buffers}
        off = 0
        for n, s in zip(names, shapes):
            d[n] = vec[off : off + s.numel()].reshape(s)
            off += s.numel()
        return loss_fn(functional_call(model, d, (X,)), y)

    if method == "autograd":
        return torch.autograd.functional.hessian(f, theta0)
    return hessian(f)(theta0)


class NonFiniteOperator(CurvatureOperator):
    """An operator whose products contain ``value`` (nan or inf), as an overflowing float16 HVP
    can: for the error paths of the algorithms."""

    def __init__(self, n: int, value: float) -> None:
        super().__init__(n, torch.float64, "cpu")
        self.value = value

    def _matmat(self, V: torch.Tensor) -> torch.Tensor:
        out = V.clone()
        out[0] = self.value
        return out


class Recording(DenseOperator):
    """A dense operator that keeps the blocks it is applied to (the first one holds the start
    vectors q_i = z_i / ||z_i|| of every probe, so seeded probes can be checked from outside)."""

    def __init__(self, A) -> None:
        super().__init__(torch.as_tensor(A))
        self.blocks: list[torch.Tensor] = []

    def _matmat(self, V: torch.Tensor) -> torch.Tensor:
        self.blocks.append(V.clone())
        return super()._matmat(V)
