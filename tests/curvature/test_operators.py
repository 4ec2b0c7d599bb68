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

from hessrmt.curvature import GGNOperator, HessianOperator, ResidualOperator
from hessrmt.errors import DataError, InputError
from tests.curvature.models import (
    ALL_PROBLEMS,
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


def rel(a: torch.Tensor, b: torch.Tensor) -> float:
    return float((a - b).norm() / b.norm())


def dense(op) -> torch.Tensor:
    return op @ torch.eye(op.shape[0], dtype=op.dtype)


@pytest.mark.filterwarnings("ignore:forward-over-reverse HVP is not supported")
@pytest.mark.parametrize("hvp", STRATEGIES)
@pytest.mark.parametrize("name", list(ALL_PROBLEMS))
def test_hessian_matches_full_data_hessian(name: str, hvp: str) -> None:
    p = ALL_PROBLEMS[name]()
    op = HessianOperator(p.model, p.loss_fn, p.batches, hvp=hvp)
    H = reference_hessian(p)
    assert op.shape == (p.num_params, p.num_params)
    assert rel(dense(op), H) < TOL
    assert op.num_matvecs == p.num_params


@pytest.mark.filterwarnings("ignore:forward-over-reverse HVP is not supported")
@pytest.mark.parametrize("hvp", STRATEGIES)
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
    for hvp in STRATEGIES:
        op = HessianOperator(p.model, loss, batches, hvp=hvp)
        assert rel(dense(op), reference_hessian(p, loss_fn=loss)) < TOL
        assert op.total_terms == pytest.approx(float(weight[y[y >= 0]].sum()))


@pytest.mark.parametrize("hvp", STRATEGIES)
def test_parameter_subsets(hvp: str) -> None:
    p = mlp_tanh()
    names = [n for n, _ in p.model.named_parameters()]
    H = reference_hessian(p)
    sizes = [q.numel() for q in p.model.parameters()]
    offsets = np.concatenate([[0], np.cumsum(sizes)])

    def block(sel: list[str]) -> torch.Tensor:
        idx = torch.cat(
            [torch.arange(offsets[i], offsets[i + 1]) for i, n in enumerate(names) if n in sel]
        )
        return H[idx][:, idx]

    op = HessianOperator(p.model, p.loss_fn, p.batches, params=r"^2\.", hvp=hvp)
    assert op.param_names == ["2.weight", "2.bias"]
    assert rel(dense(op), block(["2.weight", "2.bias"])) < TOL
    # a list in any order gives model order
    op = HessianOperator(p.model, p.loss_fn, p.batches, params=["4.bias", "0.weight"], hvp=hvp)
    assert op.param_names == ["0.weight", "4.bias"]
    assert op.param_shapes == [torch.Size([6, 4]), torch.Size([3])]
    assert rel(dense(op), block(["0.weight", "4.bias"])) < TOL
    op = HessianOperator(p.model, p.loss_fn, p.batches, params="weight$", hvp=hvp)
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
    op = HessianOperator(p.model, p.loss_fn, p.batches, hvp="forward-over-reverse")
    with pytest.warns(UserWarning, match="falling back to double backward"):
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
    op = HessianOperator(p.model, p.loss_fn, p.batches, params="^0", hvp="forward-over-reverse")
    c = op.conventions()
    assert c["loss_reduction"] == "mean"
    assert c["mode"] == "eval"
    assert c["dtype"] == "float64"
    assert c["hvp"] == "forward-over-reverse"
    assert c["params"] == "^0"
    assert c["param_names"] == ["0.weight", "0.bias"]
    assert c["num_data"] == 23 and c["num_batches"] == 3
    assert c["curvature"] == "hessian"
    assert GGNOperator(p.model, p.loss_fn, p.batches).conventions()["curvature"] == "ggn"
    assert HessianOperator(p.model, p.loss_fn, p.batches).hvp_strategy == "double-backward"
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
        HessianOperator(m, lf, data, params="^conv")
    with pytest.raises(InputError, match="unknown parameter"):
        HessianOperator(m, lf, data, params=["0.weight", "fc.bias"])
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
