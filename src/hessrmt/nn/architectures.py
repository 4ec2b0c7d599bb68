"""Small convolutional architectures with and without BatchNorm for the beyond-RMT reproduction
(issue 13, via issue 18 item 1), sized for small images (e.g. the bundled 8x8 digits).

=====================  =====================================================================
``vgg-small``          [Conv3x3(c->w) ReLU Conv3x3(w->w) ReLU MaxPool2] x 2 blocks (widths w, 2w),
                       Flatten, Linear(-> C): VGG-style, no BatchNorm
``vgg-small-bn``       the same with BatchNorm2d after every convolution (Granziol's VGG16BN
                       pattern, ``docs/reference/papers.md`` §3)
``preresnet-small``    Conv3x3(c->w), two pre-activation residual blocks
                       x + Conv(ReLU(BN(Conv(ReLU(BN(x)))))) (He et al. 2016, identity
                       mappings), BN ReLU, global average pool, Linear(w -> C)
``resnet20``           He, Zhang, Ren, Sun 2016 (arXiv 1512.03385, section 4.2) CIFAR ResNet-20:
                       Conv3x3(c->w) BN ReLU, 3 stages x 3 basic blocks of widths w, 2w, 4w
                       (stride 2 at the first block of stages 2 and 3), global average pool,
                       Linear(4w -> C); default w = 16: 272,474 parameters on 32x32x3, 10
                       classes (:mod:`hessrmt.nn.resnet`; option B shortcuts)
``transformer``        pre-LayerNorm transformer encoder for (tokens, features) sequences
                       (:mod:`hessrmt.nn.transformer`; e.g. the ``digits-rows`` data set)
=====================  =====================================================================

``width`` is the base width: the channels of the first stage (CNNs) or the model dimension
(transformer); tests build tiny instances with small widths.

BatchNorm mode is the caller's explicit choice: curvature operators take ``mode="train"`` (batch
statistics, Granziol's ``bn_train_mode``) or ``mode="eval"`` (running statistics), and
:func:`batchnorm_mode` records which was used. No convolution has a bias where a BatchNorm follows.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

from hessrmt.errors import InputError

__all__ = ["ARCHITECTURES", "batchnorm_mode", "build_architecture", "has_batchnorm"]

ARCHITECTURES = ("vgg-small", "vgg-small-bn", "preresnet-small", "resnet20", "transformer")

#: default base width of each architecture (``width=None``)
DEFAULT_WIDTH = {
    "vgg-small": 4,
    "vgg-small-bn": 4,
    "preresnet-small": 4,
    "resnet20": 16,
    "transformer": 32,
}


def _image_shape(name: str, input_shape: Sequence[int]) -> tuple[int, int, int]:
    if len(input_shape) != 3:
        raise InputError(
            f"{name} needs image inputs (channels, height, width), got input shape "
            f"{tuple(input_shape)}; use an image data set such as digits, mnist or cifar10"
        )
    c, h, w = (int(s) for s in input_shape)
    if min(h, w) < 4:
        raise InputError(f"{name} needs images of side >= 4, got {h}x{w}")
    return c, h, w


def _vgg(input_shape: Sequence[int], n_outputs: int, width: int, bn: bool) -> nn.Sequential:
    c, h, w = _image_shape("vgg-small-bn" if bn else "vgg-small", input_shape)
    layers: list[nn.Module] = []
    cin = c
    for cout in (width, 2 * width):
        for _ in range(2):
            layers.append(nn.Conv2d(cin, cout, 3, padding=1, bias=not bn))
            if bn:
                layers.append(nn.BatchNorm2d(cout))
            layers.append(nn.ReLU())
            cin = cout
        layers.append(nn.MaxPool2d(2))
    layers.append(nn.Flatten())
    layers.append(nn.Linear(cin * (h // 4) * (w // 4), n_outputs))
    return nn.Sequential(*layers)


class PreActBlock(nn.Module):
    """x + conv2(relu(bn2(conv1(relu(bn1(x)))))) (He, Zhang, Ren, Sun 2016, identity mappings)."""

    def __init__(self, width: int) -> None:
        super().__init__()
        self.bn1 = nn.BatchNorm2d(width)
        self.conv1 = nn.Conv2d(width, width, 3, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(width)
        self.conv2 = nn.Conv2d(width, width, 3, padding=1, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.conv1(torch.relu(self.bn1(x)))
        return x + self.conv2(torch.relu(self.bn2(out)))


def _preresnet(input_shape: Sequence[int], n_outputs: int, width: int) -> nn.Sequential:
    c, _, _ = _image_shape("preresnet-small", input_shape)
    return nn.Sequential(
        nn.Conv2d(c, width, 3, padding=1, bias=False),
        PreActBlock(width),
        PreActBlock(width),
        nn.BatchNorm2d(width),
        nn.ReLU(),
        nn.AdaptiveAvgPool2d(1),
        nn.Flatten(),
        nn.Linear(width, n_outputs),
    )


def build_architecture(
    name: str,
    input_shape: Sequence[int],
    n_outputs: int,
    *,
    width: int | None = None,
    depth: int | None = None,
) -> nn.Module:
    """One of :data:`ARCHITECTURES` (module docstring) with base width ``width`` (None: the
    architecture's :data:`DEFAULT_WIDTH`). ``depth`` (resnet20: basic blocks per stage, default
    3; transformer: encoder layers, default 2) lets tests build shallow instances; the other
    architectures have a fixed depth."""
    if name not in ARCHITECTURES:
        raise InputError(f"unknown architecture {name!r}; choose one of {', '.join(ARCHITECTURES)}")
    width = DEFAULT_WIDTH[name] if width is None else int(width)
    if width < 1:
        raise InputError(f"width must be positive, got {width}")
    if depth is not None and depth < 1:
        raise InputError(f"depth must be positive, got {depth}")
    if name == "resnet20":
        from hessrmt.nn.resnet import resnet_cifar

        c, _, _ = _image_shape(name, input_shape)
        return resnet_cifar(c, n_outputs, width=width, blocks=3 if depth is None else depth)
    if name == "transformer":
        from hessrmt.nn.transformer import build_transformer

        return build_transformer(
            input_shape, n_outputs, d_model=width, layers=2 if depth is None else depth
        )
    if depth is not None:
        raise InputError(f"{name} has a fixed depth; depth= applies to resnet20 and transformer")
    if name == "vgg-small":
        return _vgg(input_shape, n_outputs, width, bn=False)
    if name == "vgg-small-bn":
        return _vgg(input_shape, n_outputs, width, bn=True)
    if name == "preresnet-small":
        return _preresnet(input_shape, n_outputs, width)
    raise InputError(f"unknown architecture {name!r}; choose one of {', '.join(ARCHITECTURES)}")


def has_batchnorm(model: nn.Module) -> bool:
    return any(isinstance(m, nn.modules.batchnorm._BatchNorm) for m in model.modules())


def batchnorm_mode(model: nn.Module, mode: str) -> dict[str, object]:
    """Metadata recording the BatchNorm choice for a curvature pass (``mode`` "train" or
    "eval"; meaningless but recorded as "none" for models without BatchNorm)."""
    if mode not in ("train", "eval"):
        raise InputError(f"BatchNorm mode must be 'train' or 'eval', got {mode!r}")
    bn = has_batchnorm(model)
    return {
        "batchnorm": bn,
        "batchnorm_mode": mode if bn else "none",
        "note": "train: batch statistics of each batch (running statistics untouched); eval: "
        "running statistics",
    }
