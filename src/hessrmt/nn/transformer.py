"""A small transformer encoder classifier for sequences of feature vectors.

Inputs are ``(batch, tokens T, features F)``; with model dimension d (``d_model``), ``heads``
heads and ``layers`` encoder layers::

    h_0 = x W_e + b_e + P                 embedding Linear(F -> d), learned positions P (T x d)
    h_l = h' + MLP(LN(h')),  h' = h_{l-1} + MHA(LN(h_{l-1}))    pre-LayerNorm encoder layer
    logits = Linear(d -> C)(mean_t LN(h_L)_t)              final LayerNorm, mean pool, head

MLP is Linear(d -> 2d) GELU Linear(2d -> d); MHA is ``nn.MultiheadAttention`` inside a standard
``nn.TransformerEncoderLayer`` (``norm_first=True``, ``activation="gelu"``, dropout 0, so the
loss is a deterministic function of the parameters). Pre-LN as in Xiong et al. 2020 (arXiv
2002.04745) and GPT-2/ViT. During curvature passes attention runs through the math kernel
(:func:`hessrmt.curvature.engines.curvature_kernels`). The zoo's default: d = 32, 2 heads, 2
layers; on ``digits-rows`` (8 tokens of 8 features, 10 classes) that is 18,026 parameters.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

from hessrmt.errors import InputError

__all__ = ["SequenceTransformer", "build_transformer"]


class SequenceTransformer(nn.Module):
    """The encoder classifier of the module docstring."""

    def __init__(
        self, tokens: int, features: int, n_outputs: int, *, d_model: int, heads: int, layers: int
    ) -> None:
        super().__init__()
        self.embed = nn.Linear(features, d_model)
        self.positions = nn.Parameter(0.02 * torch.randn(tokens, d_model))
        self.layers = nn.ModuleList(
            nn.TransformerEncoderLayer(
                d_model,
                heads,
                dim_feedforward=2 * d_model,
                dropout=0.0,
                activation="gelu",
                batch_first=True,
                norm_first=True,
            )
            for _ in range(layers)
        )
        self.norm = nn.LayerNorm(d_model)
        self.head = nn.Linear(d_model, n_outputs)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.embed(x) + self.positions
        for layer in self.layers:
            h = layer(h)
        return self.head(self.norm(h).mean(dim=1))


def build_transformer(
    input_shape: Sequence[int], n_outputs: int, *, d_model: int = 32, layers: int = 2
) -> SequenceTransformer:
    """The zoo's ``transformer`` for inputs of shape ``(tokens, features)``; 2 heads when
    ``d_model`` is even, else 1."""
    if len(input_shape) != 2:
        raise InputError(
            f"transformer needs sequence inputs (tokens, features), got input shape "
            f"{tuple(input_shape)}; use a sequence data set such as digits-rows"
        )
    tokens, features = (int(s) for s in input_shape)
    heads = 2 if d_model % 2 == 0 else 1
    return SequenceTransformer(
        tokens, features, n_outputs, d_model=d_model, heads=heads, layers=layers
    )
