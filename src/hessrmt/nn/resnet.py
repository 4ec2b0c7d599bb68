"""The CIFAR ResNet of He, Zhang, Ren, Sun, "Deep Residual Learning for Image Recognition"
(CVPR 2016, arXiv 1512.03385, section 4.2): ResNet-(6n+2) with n basic blocks per stage.

Layout (``width`` w, ``blocks`` n; n = 3 is ResNet-20)::

    Conv3x3(c -> w) BN ReLU
    stage 1: n x BasicBlock(w),  stage 2: n x BasicBlock(2w), stage 3: n x BasicBlock(4w)
    global average pool, Linear(4w -> C)

    BasicBlock(x) = ReLU(BN(Conv3x3(ReLU(BN(Conv3x3_s(x))))) + shortcut(x))

The first block of stages 2 and 3 has stride s = 2. Shortcuts are the paper's **option B**:
identity where the shape is unchanged, a projection Conv1x1(stride 2) + BN where it changes, as in
PyHessian's ``models/resnet.py`` (the ResNet-20 of Yao et al. 2020's headline numbers), so the
benchmarks compare the same network. Convolutions have no bias (a BatchNorm follows each).
With w = 16, 32x32x3 inputs and 10 classes: 272,474 parameters (the paper's "0.27M"; option A,
zero-padding shortcuts, would have 269,722).

Whether BatchNorm uses batch statistics (train mode) or running statistics (eval mode) is the
curvature pass's explicit ``mode`` (:func:`hessrmt.nn.architectures.batchnorm_mode`).
"""

from __future__ import annotations

import torch
from torch import nn

__all__ = ["BasicBlock", "resnet_cifar"]


def _conv3x3(cin: int, cout: int, stride: int = 1) -> nn.Conv2d:
    return nn.Conv2d(cin, cout, 3, stride=stride, padding=1, bias=False)


class BasicBlock(nn.Module):
    """ReLU(BN(conv(ReLU(BN(conv_s(x))))) + shortcut(x)), option B projection shortcut."""

    def __init__(self, cin: int, cout: int, stride: int = 1) -> None:
        super().__init__()
        self.conv1 = _conv3x3(cin, cout, stride)
        self.bn1 = nn.BatchNorm2d(cout)
        self.conv2 = _conv3x3(cout, cout)
        self.bn2 = nn.BatchNorm2d(cout)
        self.shortcut: nn.Module = nn.Identity()
        if stride != 1 or cin != cout:
            self.shortcut = nn.Sequential(
                nn.Conv2d(cin, cout, 1, stride=stride, bias=False), nn.BatchNorm2d(cout)
            )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = torch.relu(self.bn1(self.conv1(x)))
        return torch.relu(self.bn2(self.conv2(out)) + self.shortcut(x))


def resnet_cifar(
    in_channels: int, n_outputs: int, *, width: int = 16, blocks: int = 3
) -> nn.Module:
    """ResNet-(6 blocks + 2) for CIFAR-style images (module docstring); ``blocks=3``: ResNet-20."""
    layers: list[nn.Module] = [_conv3x3(in_channels, width), nn.BatchNorm2d(width), nn.ReLU()]
    cin = width
    for stage, cout in enumerate((width, 2 * width, 4 * width)):
        for b in range(blocks):
            stride = 2 if stage > 0 and b == 0 else 1
            layers.append(BasicBlock(cin, cout, stride))
            cin = cout
    layers += [nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(cin, n_outputs)]
    return nn.Sequential(*layers)
