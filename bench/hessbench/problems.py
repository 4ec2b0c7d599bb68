"""The benchmark problems: identical models, data and losses for every tool.

Every problem is a model, a mean-reduced cross-entropy loss and a list of EQUAL-SIZED batches
covering the training data used (the training split truncated to a multiple of the batch size).
Equal batches make the full-data Hessian the same object for every tool: hessian-eigenthings
1.0.0a5 averages per-batch Hessians with equal weights (biased for a smaller last batch), while
hessrmt, PyHessian and curvlinops weight batches by their sizes.

=================  ===================================================================
``digits-mlp``     hessrmt zoo ``mlp`` (64 -> 10 -> 100 -> 10, ReLU; 2,760 parameters)
                   on scikit-learn digits, float64
``digits-lenet``   hessrmt zoo ``lenet`` (3x3 convolutions for 8x8 images; 5,525
                   parameters) on digits, float64
``digits-mlp5k``   64 -> 50 -> 40 -> 10 ReLU MLP (5,700 parameters) on digits, float64: the
                   dense-Hessian problem
``synthetic-mlp``  20 -> w -> w -> 4 ReLU MLP on hessrmt's ``synthetic`` Gaussian mixture;
                   w = 1000 (1,026,004 parameters, float32) in the full run, w = 256 (72,196
                   parameters) with ``--quick``: the large problem for the iterative tasks
``cifar-resnet20`` hessrmt zoo ``resnet20`` (He et al. 2016, option B shortcuts as PyHessian's;
                   272,474 parameters) on CIFAR-10 from ``HESSBENCH_DATA_ROOT`` (the
                   ``--data-root`` of ``bench/run.py``) when given, else hessrmt's labelled
                   ``cifar10-synthetic`` stand-in of the same shape; float32, BatchNorm in
                   eval mode (running statistics at initialisation) for every tool
``cifar-resnet18`` the CIFAR ResNet-18 (:func:`resnet18_cifar`: 4 stages x 2 basic blocks,
                   widths 64-512, option B shortcuts; 11,173,962 parameters) on the same
                   data, float32, eval mode: the curvlinops HVP comparison
``digits-transformer`` hessrmt zoo ``transformer`` (pre-LN, d = 32, 2 heads, 2 layers; 18,026
                   parameters) on ``digits-rows`` (8 tokens of 8 pixels), float32
=================  ===================================================================

Parameters are initialised by PyTorch's defaults under a fixed seed (untrained networks: the
tasks measure tools, not training).
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass, field
from typing import Any

import torch
from torch import nn

#: Problem sizes: (number of batches, batch size) per problem and mode.
SIZES: dict[str, dict[str, tuple[int, int]]] = {
    "quick": {
        "digits-mlp": (2, 128),
        "digits-lenet": (2, 32),
        "digits-mlp5k": (2, 64),
        "synthetic-mlp": (2, 128),
        "tiny-mlp": (2, 16),
        "cifar-resnet20": (1, 8),  # a shared 2-core CPU: the SLQ reference needs ~250 products
        "cifar-resnet18": (1, 8),  # 11M parameters: a tiny batch
        "digits-transformer": (2, 64),
    },
    "full": {
        "digits-mlp": (2, 128),
        "digits-lenet": (2, 32),
        "digits-mlp5k": (2, 64),
        "synthetic-mlp": (2, 16),
        "tiny-mlp": (2, 16),
        "cifar-resnet20": (2, 128),
        "cifar-resnet18": (1, 128),
        "digits-transformer": (2, 128),
    },
}
LARGE_WIDTH = {"quick": 256, "full": 1000}


@dataclass
class Problem:
    """A model, a loss and equal-sized batches (see the module docstring)."""

    name: str
    description: str
    model: nn.Module
    loss_fn: nn.Module
    batches: list[tuple[torch.Tensor, torch.Tensor]]
    dtype: torch.dtype
    device: torch.device
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def num_params(self) -> int:
        return sum(p.numel() for p in self.model.parameters() if p.requires_grad)

    @property
    def num_data(self) -> int:
        return sum(int(x.shape[0]) for x, _ in self.batches)

    @property
    def batch_size(self) -> int:
        return int(self.batches[0][0].shape[0])

    def params(self) -> list[torch.Tensor]:
        return [p for p in self.model.parameters() if p.requires_grad]

    def describe(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "description": self.description,
            "num_params": self.num_params,
            "num_data": self.num_data,
            "num_batches": len(self.batches),
            "batch_size": self.batch_size,
            "dtype": str(self.dtype).replace("torch.", ""),
            "device": str(self.device),
            "loss": "cross-entropy, mean over all samples",
            **self.extra,
        }


def _mlp(sizes: list[int], seed: int) -> nn.Sequential:
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        layers: list[nn.Module] = [nn.Flatten()]
        for i in range(len(sizes) - 1):
            layers.append(nn.Linear(sizes[i], sizes[i + 1]))
            if i < len(sizes) - 2:
                layers.append(nn.ReLU())
        return nn.Sequential(*layers)


def _batches(
    X: Any, y: Any, num_batches: int, batch_size: int, dtype: torch.dtype, device: torch.device
) -> list[tuple[torch.Tensor, torch.Tensor]]:
    n = num_batches * batch_size
    if X.shape[0] < n:
        raise ValueError(f"need {n} training samples, the data set has {X.shape[0]}")
    xt = torch.as_tensor(X[:n], dtype=dtype, device=device)
    yt = torch.as_tensor(y[:n], dtype=torch.int64, device=device)
    return [(xt[i : i + batch_size], yt[i : i + batch_size]) for i in range(0, n, batch_size)]


def build_problem(
    name: str,
    *,
    mode: str = "full",
    device: str | torch.device = "cpu",
    dtype: torch.dtype | None = None,
    sizes: tuple[int, int] | None = None,
) -> Problem:
    """Build problem ``name`` for ``mode`` ("quick" or "full") on ``device``.

    ``dtype`` overrides the problem's default dtype; ``sizes`` = (batches, batch size) overrides
    :data:`SIZES`.
    """
    from hessrmt.data import load_dataset
    from hessrmt.nn.zoo import build_model

    if mode not in SIZES:
        raise ValueError(f"mode must be 'quick' or 'full', got {mode!r}")
    if name not in SIZES[mode]:
        raise ValueError(f"unknown problem {name!r}; choose one of {sorted(SIZES[mode])}")
    device = torch.device(device)
    extra: dict[str, Any] = {}
    nb, bs = sizes if sizes is not None else SIZES[mode][name]
    if name in ("digits-mlp", "digits-lenet", "digits-mlp5k", "tiny-mlp"):
        ds = load_dataset("digits", seed=0)
        X, y = ds.X_train, ds.y_train
        dt = dtype or torch.float64
        if name == "digits-mlp":
            model = build_model("mlp", input_shape=ds.input_shape, n_outputs=10, seed=0)
            desc = "zoo mlp 64-10-100-10 ReLU on digits"
        elif name == "digits-lenet":
            model = build_model("lenet", input_shape=ds.input_shape, n_outputs=10, seed=0)
            desc = "zoo lenet (3x3 conv 6, 16; FC 35, 50) on digits"
        elif name == "digits-mlp5k":
            model = _mlp([64, 50, 40, 10], seed=0)
            desc = "MLP 64-50-40-10 ReLU on digits"
        else:
            model = _mlp([64, 8, 10], seed=0)
            desc = "MLP 64-8-10 ReLU on digits (harness tests)"
    elif name in ("cifar-resnet20", "cifar-resnet18"):
        import os

        root = os.environ.get("HESSBENCH_DATA_ROOT")
        n = max(64, int(nb * bs / 0.8) + 2)
        if root:
            ds = load_dataset("cifar10", root=root, seed=0, n_samples=n)
        else:
            ds = load_dataset("cifar10-synthetic", seed=0, n_samples=n)
        X, y = ds.X_train, ds.y_train
        dt = dtype or torch.float32
        if name == "cifar-resnet20":
            model = build_model("resnet20", input_shape=(3, 32, 32), n_outputs=10, seed=0)
            desc = f"zoo resnet20 (BatchNorm eval mode) on {ds.name}"
        else:
            model = resnet18_cifar(seed=0)
            desc = f"CIFAR ResNet-18 (BatchNorm eval mode) on {ds.name}"
    elif name == "digits-transformer":
        ds = load_dataset("digits-rows", seed=0)
        X, y = ds.X_train, ds.y_train
        dt = dtype or torch.float32
        model = build_model("transformer", input_shape=ds.input_shape, n_outputs=10, seed=0)
        desc = "zoo transformer (pre-LN, d 32, 2 heads, 2 layers) on digits-rows"
        extra = {"attention": "math SDPA kernel for every tool (fused kernel: no double backward)"}
    elif name == "synthetic-mlp":
        ds = load_dataset("synthetic", seed=0, n_samples=max(1000, int(nb * bs / 0.8) + 2))
        X, y = ds.X_train, ds.y_train
        w = LARGE_WIDTH[mode]
        dt = dtype or torch.float32
        model = _mlp([20, w, w, 4], seed=0)
        desc = f"MLP 20-{w}-{w}-4 ReLU on synthetic 4-class Gaussian mixture"
    else:  # pragma: no cover - guarded above
        raise ValueError(name)
    model = model.to(device=device, dtype=dt).eval()
    if name in ("cifar-resnet20", "cifar-resnet18"):
        extra = {"batchnorm": "eval mode (running statistics at initialisation) for every tool"}
    return Problem(
        name=name,
        description=desc,
        model=model,
        loss_fn=nn.CrossEntropyLoss(),
        batches=_batches(X, y, nb, bs, dt, device),
        dtype=dt,
        device=device,
        extra=extra,
    )


def attention_kernels(problem: Problem) -> contextlib.AbstractContextManager[Any]:
    """The math scaled-dot-product attention kernel for problems with attention (for EVERY tool
    and the references: PyTorch's fused CPU kernel has no double backward, so PyHessian,
    curvlinops, hessian-eigenthings and plain autograd all crash without it); a no-op
    otherwise."""
    if not problem.extra.get("attention"):
        return contextlib.nullcontext()
    from torch.nn.attention import SDPBackend, sdpa_kernel

    return sdpa_kernel([SDPBackend.MATH])


def resnet18_cifar(seed: int = 0, n_outputs: int = 10) -> nn.Module:
    """ResNet-18 for 32x32 images (He et al. 2016's ImageNet ResNet-18 with a 3x3 stem and no
    max pool, the common CIFAR variant): Conv3x3(3 -> 64) BN ReLU, 4 stages x 2 basic blocks of
    widths 64, 128, 256, 512 (stride 2 from stage 2), option B shortcuts, average pool,
    Linear(512 -> C); built from the zoo's :class:`hessrmt.nn.resnet.BasicBlock`."""
    from hessrmt.nn.resnet import BasicBlock

    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        layers: list[nn.Module] = [
            nn.Conv2d(3, 64, 3, padding=1, bias=False),
            nn.BatchNorm2d(64),
            nn.ReLU(),
        ]
        cin = 64
        for stage, cout in enumerate((64, 128, 256, 512)):
            for b in range(2):
                layers.append(BasicBlock(cin, cout, 2 if stage > 0 and b == 0 else 1))
                cin = cout
        layers += [nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(512, n_outputs)]
        return nn.Sequential(*layers)


def full_data_loss(problem: Problem, params: list[torch.Tensor] | None = None) -> torch.Tensor:
    """The mean loss over all batches (equal sizes: the mean of batch means), with graph."""
    total = None
    for x, y in problem.batches:
        loss = problem.loss_fn(problem.model(x), y)
        total = loss if total is None else total + loss
    assert total is not None
    return total / len(problem.batches)


def reference_gradient(problem: Problem) -> torch.Tensor:
    """The full-data gradient by plain reverse mode, batch by batch (the timing baseline)."""
    params = problem.params()
    acc = [torch.zeros_like(p) for p in params]
    for x, y in problem.batches:
        loss = problem.loss_fn(problem.model(x), y) / len(problem.batches)
        for a, g in zip(acc, torch.autograd.grad(loss, params)):
            a.add_(g)
    return torch.cat([a.reshape(-1) for a in acc])
