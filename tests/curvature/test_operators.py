"""Acceptance tests of the Hessian / GGN / residual operators against independent dense oracles.

Oracles: ``torch.func.hessian`` of the full-data loss computed on ONE concatenated batch (no batch
weighting involved), GGN from explicit Jacobians (``torch.func.jacrev``) and the output-space
loss Hessian, closed forms. Tolerance: relative error (Frobenius) below 1e-10 in float64.
"""

from __future__ import annotations

import copy

import numpy as np
import pytest
import torch
from torch import nn
from torch.func import functional_call, hessian, jacrev

from hessrmt.curvature import GGNOperator, HessianOperator, ResidualOperator, blocks
from hessrmt.curvature import operators as ops
from hessrmt.errors import DataError, InputError
from tests.curvature.models import (
    ALL_PROBLEMS,
    Problem,
    batchnorm_mlp,
    full_data,
    mlp_relu,
    mlp_tanh,
    reference_hessian,
    regression_mlp,
    small_cnn,
    softmax_regression,
)

TOL = 1e-10
STRATEGIES = ["double-backward", "forward-over-reverse"]
#: the engine ``auto`` picks on CPU beyond the structured case (hessrmt.curvature.kept)
KEPT = "double-backward, gradient graph kept"


def sub_hessian(model: nn.Module, H: torch.Tensor, sel: list[str]) -> torch.Tensor:
    """The rows and columns of the full Hessian ``H`` (model parameter order) of the named
    parameters ``sel``, in model order."""
    offsets = np.cumsum([0] + [q.numel() for q in model.parameters()])
    names = [n for n, _ in model.named_parameters()]
    idx = torch.cat(
        [torch.arange(offsets[i], offsets[i + 1]) for i, n in enumerate(names) if n in sel]
    )
    return H[idx][:, idx]


def rel(a: torch.Tensor, b: torch.Tensor) -> float:
    return float((a - b).norm() / b.norm())


def dense(op) -> torch.Tensor:
    return op @ torch.eye(op.shape[0], dtype=op.dtype)


@pytest.mark.filterwarnings("ignore:forward-over-reverse HVP is not supported")
@pytest.mark.parametrize("hvp", [*STRATEGIES, "auto"])
@pytest.mark.parametrize("name", list(ALL_PROBLEMS))
def test_hessian_matches_full_data_hessian(name: str, hvp: str) -> None:
    p = ALL_PROBLEMS[name]()
    op = HessianOperator(p.model, p.loss_fn, p.batches, hvp=hvp)
    if hvp == "auto":  # plain Sequential / Linear models with CE or MSE: the structured HVP
        plain = name in ("mlp_tanh", "mlp_relu", "softmax_regression", "regression_mlp")
        assert op.hvp_strategy == ("structured" if plain else KEPT)
    H = reference_hessian(p)
    assert op.shape == (p.num_params, p.num_params)
    assert rel(dense(op), H) < TOL
    assert op.num_matvecs == p.num_params


@pytest.mark.filterwarnings("ignore:forward-over-reverse HVP is not supported")
@pytest.mark.parametrize("hvp", [*STRATEGIES, "auto"])
@pytest.mark.parametrize("builder", [mlp_tanh, small_cnn, regression_mlp])
def test_sum_reduction(builder, hvp: str) -> None:
    p = builder()
    loss = type(p.loss_fn)(reduction="sum")
    op = HessianOperator(p.model, loss, p.batches, hvp=hvp)
    assert op.reduction == "sum"
    assert rel(dense(op), reference_hessian(p, loss_fn=loss)) < TOL
    # sum = N x mean for per-sample losses: a check that the two weightings differ correctly
    mean_op = HessianOperator(p.model, p.loss_fn, p.batches, hvp=hvp)
    terms = mean_op.total_terms
    assert rel(dense(op), terms * dense(mean_op)) < TOL


def test_plain_callable_loss_reduction_argument() -> None:
    p = mlp_tanh()

    def ce_sum(out, y):
        return nn.functional.cross_entropy(out, y, reduction="sum")

    def ce_mean(out, y):
        return nn.functional.cross_entropy(out, y)

    op_sum = HessianOperator(p.model, ce_sum, p.batches, reduction="sum")
    op_mean = HessianOperator(p.model, ce_mean, p.batches)  # default: mean over samples
    assert op_mean.reduction == "mean"
    assert rel(dense(op_sum), reference_hessian(p, loss_fn=nn.CrossEntropyLoss(reduction="sum")))
    assert rel(dense(op_mean), reference_hessian(p)) < TOL


def test_uneven_batches_weighted_exactly_and_batching_invariant() -> None:
    p = mlp_tanh(sizes=(1, 3, 19))
    H = reference_hessian(p)
    X, y = full_data(p.batches)
    for batches in (p.batches, [(X, y)], [(X[:22], y[:22]), (X[22:], y[22:])]):
        assert rel(dense(HessianOperator(p.model, p.loss_fn, batches)), H) < TOL
    # the equal-weights mistake (mean of batch Hessians) is far from the truth
    per_batch = [dense(HessianOperator(p.model, p.loss_fn, [b])) for b in p.batches]
    assert rel(sum(per_batch) / len(per_batch), H) > 1e-2


def test_class_weights_and_ignore_index_weighted_mean() -> None:
    p = softmax_regression(sizes=(4, 9, 10))
    X, y = full_data(p.batches)
    y = y.clone()
    y[[0, 5, 13]] = -1  # ignored targets, in two different batches
    batches = [(X[:4], y[:4]), (X[4:13], y[4:13]), (X[13:], y[13:])]
    weight = torch.tensor([0.5, 2.0, 1.0, 3.0], dtype=torch.float64)
    loss = nn.CrossEntropyLoss(weight=weight, ignore_index=-1)
    p.batches = batches
    for hvp in [*STRATEGIES, "structured"]:
        op = HessianOperator(p.model, loss, batches, hvp=hvp)
        assert rel(dense(op), reference_hessian(p, loss_fn=loss)) < TOL
        assert op.total_terms == pytest.approx(float(weight[y[y >= 0]].sum()))


@pytest.mark.parametrize("hvp", [*STRATEGIES, "structured"])
def test_parameter_subsets(hvp: str) -> None:
    p = mlp_tanh()
    names = [n for n, _ in p.model.named_parameters()]
    H = reference_hessian(p)

    def block(sel: list[str]) -> torch.Tensor:
        return sub_hessian(p.model, H, sel)

    op = HessianOperator(p.model, p.loss_fn, p.batches, select=r"^2\.", hvp=hvp)
    assert op.param_names == ["2.weight", "2.bias"]
    assert rel(dense(op), block(["2.weight", "2.bias"])) < TOL
    # a list in any order gives model order
    op = HessianOperator(p.model, p.loss_fn, p.batches, select=["4.bias", "0.weight"], hvp=hvp)
    assert op.param_names == ["0.weight", "4.bias"]
    assert op.param_shapes == [torch.Size([6, 4]), torch.Size([3])]
    assert rel(dense(op), block(["0.weight", "4.bias"])) < TOL
    op = HessianOperator(p.model, p.loss_fn, p.batches, select="weight$", hvp=hvp)
    assert rel(dense(op), block([n for n in names if n.endswith("weight")])) < TOL


def test_frozen_parameters_excluded_by_default() -> None:
    p = mlp_tanh()
    p.model[0].weight.requires_grad_(False)
    op = HessianOperator(p.model, p.loss_fn, p.batches)
    assert "0.weight" not in op.param_names
    assert op.shape[0] == p.num_params
    names = [n for n, q in p.model.named_parameters() if q.requires_grad]
    assert rel(dense(op), reference_hessian(p, names=names)) < TOL


def ggn_reference(p, loss_fn=None) -> torch.Tensor:
    """J^T H_out J from explicit Jacobians of the full-data output and the output-space Hessian."""
    loss_fn = loss_fn or p.loss_fn
    X, y = full_data(p.batches)
    named = {n: q.detach() for n, q in p.model.named_parameters()}
    buffers = dict(p.model.named_buffers())
    shapes = {n: q.shape for n, q in named.items()}
    theta0 = torch.cat([q.reshape(-1) for q in named.values()])

    def out(vec):
        d, off = {**named, **buffers}, 0
        for n, s in shapes.items():
            d[n] = vec[off : off + s.numel()].reshape(s)
            off += s.numel()
        return functional_call(p.model, d, (X,))

    f0 = out(theta0).detach()
    J = jacrev(out)(theta0).reshape(f0.numel(), -1)
    Hout = hessian(lambda f: loss_fn(f.reshape(f0.shape), y))(f0.reshape(-1))
    return J.T @ Hout @ J


@pytest.mark.parametrize(
    "name", ["mlp_tanh", "mlp_relu", "small_cnn", "batchnorm_mlp", "regression_mlp"]
)
def test_ggn_matches_explicit_jacobians(name: str) -> None:
    p = ALL_PROBLEMS[name]()
    G = ggn_reference(p)
    assert rel(dense(GGNOperator(p.model, p.loss_fn, p.batches)), G) < TOL
    # and with sum reduction
    loss = type(p.loss_fn)(reduction="sum")
    assert rel(dense(GGNOperator(p.model, loss, p.batches)), ggn_reference(p, loss)) < TOL


@pytest.mark.filterwarnings("ignore:forward-over-reverse HVP is not supported")
@pytest.mark.parametrize("hvp", STRATEGIES)
@pytest.mark.parametrize("name", ["mlp_tanh", "small_cnn", "batchnorm_mlp", "regression_mlp"])
def test_decomposition_h0_plus_h1(name: str, hvp: str) -> None:
    p = ALL_PROBLEMS[name]()
    H = reference_hessian(p)
    H0 = dense(GGNOperator(p.model, p.loss_fn, p.batches))
    H1 = dense(ResidualOperator(p.model, p.loss_fn, p.batches, hvp=hvp))
    assert rel(H0 + H1, H) < TOL
    # the residual is a genuine, independent part (not zero, not H)
    assert 1e-3 < float(H1.norm() / H.norm()) < 10


def test_residual_vanishes_where_model_is_linear() -> None:
    p = softmax_regression()
    H1 = dense(ResidualOperator(p.model, p.loss_fn, p.batches))
    assert float(H1.abs().max()) == 0.0
    assert rel(dense(GGNOperator(p.model, p.loss_fn, p.batches)), reference_hessian(p)) < TOL
    # ReLU MLP: each layer's own block of H1 is zero (output linear in each layer), cross ones not
    q = mlp_relu()
    R = dense(ResidualOperator(q.model, q.loss_fn, q.batches))
    n0 = 5 * 8 + 8
    assert float(R[:n0, :n0].abs().max()) < 1e-14
    assert float(R[n0:, n0:].abs().max()) < 1e-14
    assert float(R[:n0, n0:].abs().max()) > 1e-3


def test_batchnorm_eval_and_train_modes() -> None:
    p = batchnorm_mlp()
    model = p.model
    state = copy.deepcopy(model.state_dict())
    model.train()  # the user's mode must not matter nor change
    op_eval = HessianOperator(model, p.loss_fn, p.batches, mode="eval")
    model.eval()
    H_eval = reference_hessian(p)
    model.train()
    assert rel(dense(op_eval), H_eval) < TOL
    assert model.training

    # train mode: batch statistics per batch, weighted sum of per-batch Hessians
    op_train = HessianOperator(model, p.loss_fn, p.batches, mode="train")
    Ht = dense(op_train)
    fwd = HessianOperator(model, p.loss_fn, p.batches, mode="train", hvp="forward-over-reverse")
    assert rel(dense(fwd), Ht) < TOL
    ref = torch.zeros_like(Ht)
    n = sum(len(b[0]) for b in p.batches)
    for b in p.batches:
        sub = copy.copy(p)
        sub.batches = [b]
        sub.model = copy.deepcopy(model).train()  # the copy's running stats may change
        ref += len(b[0]) / n * reference_hessian(sub, method="autograd")
    assert rel(Ht, ref) < TOL
    assert rel(Ht, H_eval) > 1e-3
    # nothing of the user's model was modified
    for k, v in model.state_dict().items():
        assert torch.equal(v, state[k]), k
    assert model.training and all(
        m.track_running_stats for m in model.modules() if isinstance(m, nn.BatchNorm1d)
    )
    assert op_train.conventions()["mode"] == "train"


def test_dropout_train_mode_needs_seed_and_is_then_fixed() -> None:
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(3, 6), nn.Tanh(), nn.Dropout(0.5), nn.Linear(6, 2)).double()
    X = torch.randn(10, 3, dtype=torch.float64)
    y = torch.randint(0, 2, (10,))
    data = [(X[:4], y[:4]), (X[4:], y[4:])]
    with pytest.raises(InputError, match="seed"):
        HessianOperator(model, nn.CrossEntropyLoss(), data, mode="train")
    for hvp in STRATEGIES:
        op = HessianOperator(model, nn.CrossEntropyLoss(), data, mode="train", seed=3, hvp=hvp)
        A, B = dense(op), dense(op)
        assert torch.equal(A, B)
        assert rel(A, A.T) < 1e-12
        assert rel(A, dense(HessianOperator(model, nn.CrossEntropyLoss(), data))) > 1e-3
    other = dense(HessianOperator(model, nn.CrossEntropyLoss(), data, mode="train", seed=4))
    assert rel(other, A) > 1e-3


def test_from_function_matches_model_operator() -> None:
    p = small_cnn()
    params = {n: q.detach() for n, q in p.model.named_parameters()}

    def loss_of(theta, batch):
        x, y = batch
        return p.loss_fn(functional_call(p.model, theta, (x,)), y)

    for hvp in STRATEGIES:
        op = HessianOperator.from_function(loss_of, params, p.batches, hvp=hvp)
        assert op.param_names == list(params)
        assert rel(dense(op), reference_hessian(p)) < TOL
    sub = HessianOperator.from_function(loss_of, params, p.batches, select="^fc")
    assert sub.param_names == ["fc.weight", "fc.bias"]


def test_from_function_closed_form_least_squares() -> None:
    """L(w) = (1/N) sum_i (x_i.w - y_i)^2 has H = (2/N) X^T X, here over uneven batches."""
    gen = torch.Generator().manual_seed(5)
    X = torch.randn(17, 4, generator=gen, dtype=torch.float64)
    y = torch.randn(17, generator=gen, dtype=torch.float64)
    data = [(X[:2], y[:2]), (X[2:12], y[2:12]), (X[12:], y[12:])]

    def loss_of(theta, batch):
        return ((batch[0] @ theta["w"] - batch[1]) ** 2).mean()

    op = HessianOperator.from_function(loss_of, {"w": torch.zeros(4, dtype=torch.float64)}, data)
    assert rel(dense(op), 2 * X.T @ X / 17) < TOL
    assert op.loss() == pytest.approx(float((y**2).mean()), rel=1e-14)
    assert torch.allclose(op.gradient(), -2 * X.T @ y / 17, rtol=1e-12, atol=0)
    ops = HessianOperator.from_function(
        loss_of, {"w": torch.zeros(4, dtype=torch.float64)}, data, reduction="sum"
    )
    # sum of batch MEANS: a different objective, weighted 1 per batch
    ref = sum(2 * b[0].T @ b[0] / len(b[0]) for b in data)
    assert rel(dense(ops), ref) < TOL


def test_ggn_residual_from_functions() -> None:
    p = mlp_tanh()
    params = {n: q.detach() for n, q in p.model.named_parameters()}

    def output_of(theta, batch):
        return functional_call(p.model, theta, (batch[0],))

    def loss_of_output(out, batch):
        return p.loss_fn(out, batch[1])

    G = dense(GGNOperator.from_functions(output_of, loss_of_output, params, p.batches))
    R = dense(ResidualOperator.from_functions(output_of, loss_of_output, params, p.batches))
    assert rel(G, ggn_reference(p)) < TOL
    assert rel(G + R, reference_hessian(p)) < TOL
    op = GGNOperator.from_functions(output_of, loss_of_output, params, p.batches)
    assert op.conventions()["mode"].startswith("n/a")


def test_gradient_and_loss() -> None:
    p = batchnorm_mlp()
    X, y = full_data(p.batches)
    p.model.zero_grad()
    loss = p.loss_fn(p.model(X), y)
    loss.backward()
    g = torch.cat([q.grad.reshape(-1) for q in p.model.parameters()])
    op = HessianOperator(p.model, p.loss_fn, p.batches)
    assert op.loss() == pytest.approx(loss.item(), rel=1e-13)
    assert rel(op.gradient(), g) < 1e-12


def test_float32_and_dtype_casting() -> None:
    p = mlp_tanh()
    H = reference_hessian(p)
    model32 = copy.deepcopy(p.model).float()
    batches32 = [(x.float(), y) for x, y in p.batches]
    op32 = HessianOperator(model32, p.loss_fn, batches32, dtype=torch.float32)
    M32 = dense(op32)
    assert M32.dtype == torch.float32
    assert rel(M32.double(), H) < 1e-4
    # a float32 model evaluated in float64 (parameters and data cast): float32-rounded weights
    op64 = HessianOperator(model32, p.loss_fn, batches32, dtype=torch.float64)
    assert dense(op64).dtype == torch.float64
    assert next(model32.parameters()).dtype == torch.float32
    assert op64.conventions()["dtype"] == "float64"


def test_dataloader_and_scipy_export() -> None:
    p = mlp_tanh()
    X, y = full_data(p.batches)
    loader = torch.utils.data.DataLoader(torch.utils.data.TensorDataset(X, y), batch_size=5)
    op = HessianOperator(p.model, p.loss_fn, loader)
    assert op.num_batches == 5 and op.num_data == 23
    H = reference_hessian(p)
    assert rel(dense(op), H) < TOL
    v = np.random.default_rng(0).standard_normal(op.shape[0])
    np.testing.assert_allclose(op.to_scipy().matvec(v), H.numpy() @ v, rtol=1e-10, atol=1e-13)


def test_forward_mode_fallback_for_mse_is_announced_and_recorded() -> None:
    p = regression_mlp()
    # the engine is probed on the data when the operator is built, and chosen then, once
    with pytest.warns(UserWarning, match="falling back to double backward"):
        op = HessianOperator(p.model, p.loss_fn, p.batches, hvp="forward-over-reverse")
    assert op.conventions()["hvp"] == "double-backward"
    assert "ZeroTensor" in op.conventions()["hvp_note"]
    M = dense(op)
    assert op.conventions()["hvp"] == "double-backward"
    assert rel(M, reference_hessian(p)) < TOL


def test_shuffled_dataloader_gives_the_same_operator() -> None:
    p = mlp_tanh()
    X, y = full_data(p.batches)
    ds = torch.utils.data.TensorDataset(X, y)
    gen = torch.Generator().manual_seed(0)
    loader = torch.utils.data.DataLoader(ds, batch_size=6, shuffle=True, generator=gen)
    op = HessianOperator(p.model, p.loss_fn, loader)
    assert rel(dense(op), reference_hessian(p)) < TOL
    assert rel(dense(op), dense(op)) < 1e-14  # reshuffled on every pass, same full-data matrix


def test_mean_over_elements_with_varying_output_shapes() -> None:
    """MSE averages over all output elements; batches with different trailing shapes (e.g.
    sequences of different lengths) must still be weighted by their element counts."""
    gen = torch.Generator().manual_seed(3)
    lin = nn.Linear(2, 1).double()
    seqs = [torch.randn(4, L, 2, generator=gen, dtype=torch.float64) for L in (3, 7)]
    data = [(x, torch.randn(4, x.shape[1], 1, generator=gen, dtype=torch.float64)) for x in seqs]
    op = HessianOperator(lin, nn.MSELoss(), data)
    # closed form: L = sum over all 4*3 + 4*7 = 40 elements of (w.x + b - y)^2 / 40
    Xa = torch.cat([x.reshape(-1, 2) for x, _ in data])
    A = torch.cat([Xa, torch.ones(len(Xa), 1, dtype=torch.float64)], 1)
    assert op.total_terms == 40
    assert rel(dense(op), 2 * A.T @ A / 40) < TOL


def test_conventions_recorded() -> None:
    p = mlp_tanh()
    op = HessianOperator(p.model, p.loss_fn, p.batches, select="^0", hvp="forward-over-reverse")
    c = op.conventions()
    assert c["loss_reduction"] == "mean"
    assert c["mode"] == "eval"
    assert c["dtype"] == "float64"
    assert c["hvp"] == "forward-over-reverse"
    assert c["select"] == "^0"
    assert c["param_names"] == ["0.weight", "0.bias"]
    assert c["num_data"] == 23 and c["num_batches"] == 3
    assert c["curvature"] == "hessian"
    assert GGNOperator(p.model, p.loss_fn, p.batches).conventions()["curvature"] == "ggn"
    assert HessianOperator(p.model, p.loss_fn, p.batches).hvp_strategy == "structured"
    assert repr(op).startswith("HessianOperator(P=30, N=23, batches=3, reduction='mean'")


def test_operator_snapshot_ignores_later_model_changes() -> None:
    p = mlp_tanh()
    op = HessianOperator(p.model, p.loss_fn, p.batches)
    before = dense(op)
    with torch.no_grad():
        for q in p.model.parameters():
            q.mul_(2.0)
    assert torch.equal(dense(op), before)


# ---------------------------------------------------------------------------------------------
# Errors
# ---------------------------------------------------------------------------------------------


def test_errors() -> None:
    p = mlp_tanh()
    m, lf, data = p.model, p.loss_fn, p.batches
    with pytest.raises(InputError, match="empty"):
        HessianOperator(m, lf, [])
    with pytest.raises(InputError, match="re-iterable"):
        HessianOperator(m, lf, iter(data))
    with pytest.raises(InputError, match="re-iterable"):
        HessianOperator(m, lf, (b for b in data))
    with pytest.raises(InputError, match="inputs but"):
        HessianOperator(m, lf, [(data[0][0], data[1][1])])
    with pytest.raises(InputError, match="pair"):
        HessianOperator(m, lf, [data[0][0]])
    with pytest.raises(InputError, match="reduction"):
        HessianOperator(m, nn.CrossEntropyLoss(reduction="none"), data)
    with pytest.raises(InputError, match="contradicts"):
        HessianOperator(m, lf, data, reduction="sum")
    with pytest.raises(InputError, match="mode"):
        HessianOperator(m, lf, data, mode="training")
    with pytest.raises(InputError, match="hvp"):
        HessianOperator(m, lf, data, hvp="finite-difference")
    with pytest.raises(InputError, match="matches no"):
        HessianOperator(m, lf, data, select="^conv")
    with pytest.raises(InputError, match="unknown parameter"):
        HessianOperator(m, lf, data, select=["0.weight", "fc.bias"])
    op = HessianOperator(m, lf, data)
    with pytest.raises(InputError):
        op @ torch.zeros(op.shape[0] + 1, dtype=torch.float64)
    with pytest.raises(InputError):
        op.matmat(torch.zeros(op.shape[0] - 1, 2, dtype=torch.float64))

    frozen = copy.deepcopy(m).requires_grad_(False)
    with pytest.raises(InputError, match="no trainable"):
        HessianOperator(frozen, lf, data)
    bad = copy.deepcopy(m)
    with torch.no_grad():
        bad[0].weight[0, 0] = float("nan")
    with pytest.raises(InputError, match="non-finite"):
        HessianOperator(bad, lf, data)
    huge = copy.deepcopy(m)
    with torch.no_grad():
        huge[4].bias[0] = float("inf")
    with pytest.raises(InputError, match="non-finite"):
        HessianOperator(huge, lf, data)
    X, y = data[0]
    Xbad = X.clone()
    Xbad[0, 0] = float("inf")
    with pytest.raises(InputError, match="non-finite"):
        HessianOperator(m, lf, [(Xbad, y)])
    with pytest.raises(InputError, match="loss on batch 1 is not finite"):
        # finite on batches 0 and 2 (7 and 11 samples), log(0) on batch 1 (5 samples)
        HessianOperator(
            m, lambda out, t: out.mean() + torch.log(out.new_tensor(len(t) - 5.0)), data
        )
    with pytest.raises(InputError, match="scalar"):
        HessianOperator(m, lambda out, t: out.sum(1), data)


def test_data_changing_between_passes_is_detected() -> None:
    p = mlp_tanh()

    class Shrinking:
        def __init__(self) -> None:
            self.calls = 0

        def __iter__(self):
            self.calls += 1
            return iter(p.batches if self.calls == 1 else p.batches[:2])

    op = HessianOperator(p.model, p.loss_fn, Shrinking())
    with pytest.raises(DataError, match="changed between passes"):
        op @ torch.ones(op.shape[0], dtype=torch.float64)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
@pytest.mark.parametrize("hvp", ["auto", *STRATEGIES])
def test_cuda_matches_cpu(hvp: str) -> None:
    p = small_cnn()
    cpu = dense(HessianOperator(p.model, p.loss_fn, p.batches, hvp=hvp))
    op = HessianOperator(p.model, p.loss_fn, p.batches, device="cuda", hvp=hvp)
    assert op.device.type == "cuda" and next(p.model.parameters()).device.type == "cpu"
    M = op @ torch.eye(op.shape[0], dtype=torch.float64, device="cuda")
    assert rel(M.cpu(), cpu) < 1e-10
    G = GGNOperator(p.model, p.loss_fn, p.batches, device="cuda")
    R = ResidualOperator(p.model, p.loss_fn, p.batches, device="cuda", hvp=hvp)
    eye = torch.eye(op.shape[0], dtype=torch.float64, device="cuda")
    assert rel((G @ eye + R @ eye).cpu(), cpu) < 1e-10


# ---------------------------------------------------------------------------------------------
# The structured (per-layer forward-over-reverse) HVP for plain Sequential models
# ---------------------------------------------------------------------------------------------


def seq_cnn(seed: int = 0, sizes: tuple[int, ...] = (7, 5, 11)) -> Problem:
    """A plain Sequential using every layer type the structured HVP covers (P = 119):
    Conv(1->3, 3x3, pad 1) ReLU MaxPool2 [Conv(3->2, 2x2, stride 2) Sigmoid] Flatten Dropout
    Linear(8->5) Identity Tanh Linear(5->3), cross-entropy, on 1 x 8 x 8 random images."""
    torch.manual_seed(seed)
    model = nn.Sequential(
        nn.Conv2d(1, 3, 3, padding=1),
        nn.ReLU(),
        nn.MaxPool2d(2),
        nn.Sequential(nn.Conv2d(3, 2, 2, stride=2), nn.Sigmoid()),
        nn.Flatten(),
        nn.Dropout(0.3),
        nn.Linear(8, 5),
        nn.Identity(),
        nn.Tanh(),
        nn.Linear(5, 3),
    )
    gen = torch.Generator().manual_seed(seed + 1)
    n = sum(sizes)
    X = torch.randn(n, 1, 8, 8, generator=gen, dtype=torch.float64)
    y = torch.randint(0, 3, (n,), generator=gen)
    batches, start = [], 0
    for size in sizes:
        batches.append((X[start : start + size], y[start : start + size]))
        start += size
    return Problem(
        "seq_cnn", model.double().eval(), nn.CrossEntropyLoss(), batches, "classification"
    )


def test_structured_hvp_matches_full_data_hessian_on_every_layer_type() -> None:
    p = seq_cnn()
    op = HessianOperator(p.model, p.loss_fn, p.batches)
    assert op.hvp_strategy == "structured" and op.conventions()["hvp"] == "structured"
    H = reference_hessian(p)
    assert rel(dense(op), H) < TOL  # one block of P columns
    gen = torch.Generator().manual_seed(5)
    V = torch.randn(op.shape[0], 3, generator=gen, dtype=torch.float64)
    for j in range(3):  # single columns (the k = 1 path)
        assert rel(op @ V[:, j], H @ V[:, j]) < TOL
    assert rel(op.matmat(V[:, :2]), H @ V[:, :2]) < TOL
    # the same operator by double backward, and the float32 structured product near float64
    db = HessianOperator(p.model, p.loss_fn, p.batches, hvp="double-backward")
    assert rel(op @ V[:, 0], db @ V[:, 0]) < 1e-13
    op32 = HessianOperator(p.model, p.loss_fn, p.batches, dtype=torch.float32)
    assert op32.hvp_strategy == "structured"
    assert rel((op32 @ V[:, 0].float()).double(), H @ V[:, 0]) < 1e-5


def test_structured_hvp_grouped_strided_convolution_without_bias() -> None:
    p = seq_cnn()
    torch.manual_seed(4)
    p.model = (
        nn.Sequential(
            nn.Conv2d(1, 4, 3, padding=1, bias=False),
            nn.Tanh(),
            nn.Conv2d(4, 4, 3, stride=2, groups=2),
            nn.Flatten(),
            nn.Linear(36, 3),
        )
        .double()
        .eval()
    )
    op = HessianOperator(p.model, p.loss_fn, p.batches)
    assert op.hvp_strategy == "structured"
    H = reference_hessian(p)
    assert rel(dense(op), H) < TOL
    v = torch.randn(op.shape[0], generator=torch.Generator().manual_seed(6), dtype=torch.float64)
    assert rel(op @ v, H @ v) < TOL


def test_structured_hvp_parameter_subsets_and_frozen_parameters() -> None:
    p = seq_cnn()
    H = reference_hessian(p)

    def block(sel: list[str]) -> torch.Tensor:
        return sub_hessian(p.model, H, sel)

    for spec in (r"^3\.", ["0.weight", "6.bias"], ["9.bias"], "weight$"):
        op = HessianOperator(p.model, p.loss_fn, p.batches, select=spec)
        assert op.hvp_strategy == "structured"
        assert rel(dense(op), block(op.param_names)) < TOL, spec
    frozen = copy.deepcopy(p.model)
    frozen[0].requires_grad_(False)  # the first convolution is frozen: not in the operator
    op = HessianOperator(frozen, p.loss_fn, p.batches)
    assert op.hvp_strategy == "structured" and "0.weight" not in op.param_names
    assert rel(dense(op), block(op.param_names)) < TOL


@pytest.mark.parametrize("reduction", ["mean", "sum"])
def test_structured_hvp_mse_and_weighted_cross_entropy(reduction: str) -> None:
    p = regression_mlp()
    loss = nn.MSELoss(reduction=reduction)
    op = HessianOperator(p.model, loss, p.batches)
    assert op.hvp_strategy == "structured"
    assert rel(dense(op), reference_hessian(p, loss_fn=loss)) < TOL
    q = seq_cnn()
    X, y = full_data(q.batches)
    y = y.clone()
    y[[1, 8, 20]] = 7  # ignored targets in all three batches
    q.batches = [(X[:7], y[:7]), (X[7:12], y[7:12]), (X[12:], y[12:])]
    weight = torch.tensor([0.5, 2.0, 3.0], dtype=torch.float64)
    ce = nn.CrossEntropyLoss(weight=weight, ignore_index=7, reduction=reduction)
    op = HessianOperator(q.model, ce, q.batches)
    assert op.hvp_strategy == "structured"
    H = reference_hessian(q, loss_fn=ce)
    assert rel(dense(op), H) < TOL
    # uint8 class indices (the loss takes them) are indices, not masks; the oracle (torch.func)
    # cannot differentiate through them, so it is the one of the same int64 targets
    batches8 = [(bx, by.to(torch.uint8)) for bx, by in q.batches]
    for hvp in ("structured", "double-backward"):
        op = HessianOperator(q.model, ce, batches8, hvp=hvp)
        assert rel(dense(op), H) < TOL


def test_structured_hvp_falls_back_exactly_where_it_does_not_apply() -> None:
    # a Linear on 3-D inputs (sequences) is not covered: ``auto`` switches on CPU to double
    # backward with the graphs kept (what it picks for any other uncovered model), within the
    # memory budget estimated from the build pass's data counts; an explicit request for the
    # structured engine falls back to plain double backward
    gen = torch.Generator().manual_seed(2)
    model = nn.Sequential(nn.Linear(3, 4), nn.Tanh(), nn.Linear(4, 2)).double().eval()
    data = [
        (torch.randn(n, 5, 3, generator=gen, dtype=torch.float64),
         torch.randn(n, 5, 2, generator=gen, dtype=torch.float64))
        for n in (4, 6)
    ]  # fmt: skip
    # found when the operator is built (the engine is probed on every batch), chosen once
    op = HessianOperator(model, nn.MSELoss(), data)
    assert op.hvp_strategy == KEPT and "not applicable" in op.conventions()["hvp_note"]
    assert "graphs kept" in op.conventions()["hvp_note"]
    M = dense(op)
    assert op.hvp_strategy == KEPT and op.engine.builds == 1
    assert op.engine._num_data == 10 and op.engine._num_batches == 2
    assert "kept" in op.conventions()["hvp_graphs"]
    p = Problem("seq", model, nn.MSELoss(), data, "regression")
    assert rel(M, reference_hessian(p)) < TOL
    tight = HessianOperator(model, nn.MSELoss(), data, graph_memory_budget=0)
    assert rel(dense(tight), reference_hessian(p)) < TOL
    assert "exceed graph_memory_budget" in tight.conventions()["hvp_graphs"]
    plain = HessianOperator(model, nn.MSELoss(), data, hvp="structured")
    assert plain.hvp_strategy == "double-backward" and "not applicable" in plain.hvp_note
    assert rel(dense(plain), reference_hessian(p)) < TOL
    # models the structured HVP does not cover never use it
    bn = batchnorm_mlp()
    assert HessianOperator(bn.model, bn.loss_fn, bn.batches).hvp_strategy == KEPT
    with pytest.raises(InputError, match="structured"):
        HessianOperator(bn.model, bn.loss_fn, bn.batches, hvp="structured")
    cnn = small_cnn()  # a custom forward
    with pytest.raises(InputError, match="structured"):
        HessianOperator(cnn.model, cnn.loss_fn, cnn.batches, hvp="structured")
    q = seq_cnn()
    train = HessianOperator(q.model, q.loss_fn, q.batches, mode="train", seed=0)
    assert train.hvp_strategy == KEPT  # active dropout
    hooked = copy.deepcopy(q.model)
    hooked[6].register_forward_hook(lambda m, i, o: 2 * o)
    op = HessianOperator(hooked, q.loss_fn, q.batches)
    assert op.hvp_strategy == KEPT
    assert rel(dense(op), reference_hessian(Problem("h", hooked, q.loss_fn, q.batches, ""))) < TOL
    # GGN and residual operators are not affected by the Hessian's structured path
    assert GGNOperator(q.model, q.loss_fn, q.batches).conventions()["hvp"].startswith("jvp")
    assert ResidualOperator(q.model, q.loss_fn, q.batches).hvp_strategy == KEPT


# ---------------------------------------------------------------------------------------------
# Per-batch records (validation and c_b reused only for the very same, unmodified tensors)
# ---------------------------------------------------------------------------------------------


class Reshuffled:
    """A re-iterable that deals a new random permutation of (X, y) into fixed-size batches on
    every pass (fresh tensors each time, as a shuffling DataLoader does)."""

    def __init__(self, X: torch.Tensor, y: torch.Tensor, sizes: tuple[int, ...]) -> None:
        self.X, self.y, self.sizes = X, y, sizes
        self.gen = torch.Generator().manual_seed(11)
        self.passes = 0

    def __iter__(self):
        self.passes += 1
        perm = torch.randperm(len(self.y), generator=self.gen)
        start = 0
        for size in self.sizes:
            idx = perm[start : start + size]
            start += size
            yield self.X[idx], self.y[idx]


@pytest.mark.parametrize("hvp", [*STRATEGIES, "structured"])
def test_records_stay_exact_when_batches_change_between_passes(hvp: str) -> None:
    """Class-weighted CE: c_b (the sum of the class weights in batch b) differs from pass to pass
    when the data are reshuffled, and must be recomputed; reusing the first pass's c_b by batch
    position would weight the batches wrongly."""
    p = softmax_regression(sizes=(4, 9, 10))
    X, y = full_data(p.batches)
    weight = torch.tensor([0.2, 5.0, 1.0, 3.0], dtype=torch.float64)
    loss = nn.CrossEntropyLoss(weight=weight)
    H = reference_hessian(p, loss_fn=loss)
    data = Reshuffled(X, y, (4, 9, 10))
    op = HessianOperator(p.model, loss, data, hvp=hvp)
    v = torch.randn(op.shape[0], generator=torch.Generator().manual_seed(1), dtype=torch.float64)
    for _ in range(3):
        assert rel(op @ v, H @ v) < TOL
    assert data.passes == 4
    assert rel(dense(op), H) < TOL


@pytest.mark.parametrize("hvp", [*STRATEGIES, "structured"])
def test_records_stay_exact_after_in_place_changes(hvp: str) -> None:
    """The same tensor objects edited in place (targets moved between batches, inputs changed):
    their version counters change, so nothing recorded about them is reused."""
    p = softmax_regression(sizes=(6, 6, 11))
    X, y = full_data(p.batches)
    X, y = X.clone(), y.clone()
    weight = torch.tensor([0.2, 5.0, 1.0, 3.0], dtype=torch.float64)
    loss = nn.CrossEntropyLoss(weight=weight)
    batches = [(X[:6], y[:6]), (X[6:12], y[6:12]), (X[12:], y[12:])]  # views of X and y
    op = HessianOperator(p.model, loss, batches, hvp=hvp)
    with torch.no_grad():  # swap the targets of batches 0 and 1, same total weight
        first, second = batches[0][1].clone(), batches[1][1].clone()
        batches[0][1].copy_(second)
        batches[1][1].copy_(first)
        batches[2][0].mul_(1.5)
    assert not torch.equal(weight[first].sum(), weight[second].sum())
    q = softmax_regression(sizes=(6, 6, 11))
    q.batches = [(b[0].clone(), b[1].clone()) for b in batches]
    assert rel(dense(op), reference_hessian(q, loss_fn=loss)) < TOL


def test_records_dropped_when_the_class_weights_change() -> None:
    p = softmax_regression(sizes=(4, 9, 10))
    loss = nn.CrossEntropyLoss(weight=torch.tensor([0.2, 5.0, 1.0, 3.0], dtype=torch.float64))
    op = HessianOperator(p.model, loss, p.batches)
    v = torch.ones(op.shape[0], dtype=torch.float64)
    op @ v
    with torch.no_grad():
        loss.weight[1] = 1.0  # the loss is now a different function: the operator must notice
    with pytest.raises(DataError, match="changed between passes"):
        op @ v


# ---------------------------------------------------------------------------------------------
# Blocks of vectors: every way of serving the k columns gives the column-by-column products
# ---------------------------------------------------------------------------------------------


def _columns(op, V: torch.Tensor) -> torch.Tensor:
    """The products one contiguous column at a time (the k = 1 path)."""
    return torch.stack([op.matvec(V[:, j].contiguous()) for j in range(V.shape[1])], dim=1)


@pytest.mark.filterwarnings("ignore:forward-over-reverse HVP is not supported")
@pytest.mark.parametrize("block_columns", [None, 1, 2, 5])
@pytest.mark.parametrize("hvp", ["structured", "double-backward", "forward-over-reverse"])
def test_block_equals_column_by_column_products(hvp: str, block_columns: int | None) -> None:
    """Row-major and transposed (k, P) blocks, in one data pass or in column chunks
    (``block_columns``), equal the single-column products (to 1e-12) and the dense Hessian;
    the result has the block's layout, and a later product never changes an earlier result
    (the operator reuses its buffers for row-major blocks)."""
    p = seq_cnn()
    op = HessianOperator(p.model, p.loss_fn, p.batches, hvp=hvp, block_columns=block_columns)
    assert op.hvp_strategy == hvp
    H = reference_hessian(p)
    gen = torch.Generator().manual_seed(11)
    R = torch.randn(5, op.shape[0], generator=gen, dtype=torch.float64)  # rows: V = R.T
    V = R.T.contiguous()  # row-major (P, 5)
    cols = _columns(op, V)
    assert rel(cols, H @ V) < TOL
    row_major = op.matmat(V)
    assert row_major.is_contiguous()
    assert rel(row_major, cols) < 1e-12
    kept = row_major.clone()
    transposed = op.matmat(R.T)
    assert transposed.T.is_contiguous()
    assert rel(transposed, cols) < 1e-12
    assert rel(op.matmat(2.0 * V), 2.0 * cols) < 1e-12
    assert torch.equal(row_major, kept)
    assert rel(op.matmat(V[:, 1:4]), cols[:, 1:4]) < 1e-12  # a strided, offset block
    assert op.conventions()["block_columns"] == (block_columns or ops.BLOCK_RULE)


@pytest.mark.parametrize("cap_columns", [0, 1, 2, 7])
def test_block_size_rule_branches_give_the_column_products(
    monkeypatch: pytest.MonkeyPatch, cap_columns: int
) -> None:
    """The size rule for row-major blocks: the kept buffers hold ``cap_columns`` columns (0:
    none, new buffers per chunk), so a block of 5 is served in chunks of 1, 1, 2 or all 5."""
    p = seq_cnn()
    op = HessianOperator(p.model, p.loss_fn, p.batches)
    P = op.shape[0]
    monkeypatch.setattr(blocks, "WORKSPACE_MAX_BYTES", 2 * cap_columns * P * 8)
    assert op._columns_per_pass(5, False, 8) == min(5, max(1, cap_columns))
    assert op._columns_per_pass(5, True, 8) == 5  # transposed blocks: one pass
    assert (op._kept_buffer(0, 1, torch.zeros(1, dtype=torch.float64)) is None) == (
        cap_columns == 0
    )
    H = reference_hessian(p)
    gen = torch.Generator().manual_seed(12)
    V = torch.randn(P, 5, generator=gen, dtype=torch.float64)
    cols = _columns(op, V)
    assert rel(op.matmat(V), cols) < 1e-12
    assert rel(op.matmat(V), H @ V) < TOL
    # the general (jvp / output Hessian / vjp) path of the GGN through the same rule
    G = GGNOperator(p.model, p.loss_fn, p.batches)
    assert rel(G.matmat(V), _columns(G, V)) < 1e-12


def test_block_columns_is_validated() -> None:
    p = seq_cnn()
    for bad in (0, -1, 2.5, True, "2"):
        with pytest.raises(InputError, match="block_columns"):
            HessianOperator(p.model, p.loss_fn, p.batches, block_columns=bad)
