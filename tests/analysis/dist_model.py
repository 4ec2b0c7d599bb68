"""A tiny model for the torchrun tests of ``hessrmt analyze`` (test_distributed_analyze.py).

``--model tests.analysis.dist_model:tiny_mlp``: inputs -> 4 tanh units -> outputs, with a
:class:`FailOn` layer that raises a :class:`~hessrmt.errors.DataError` on the rank named by
``HESSRMT_TEST_FAIL_RANK`` when it sees a batch of ``HESSRMT_TEST_FAIL_BATCH`` samples (a
rank's shard of one batch-Hessian batch), to make one rank fail in the middle of a run.
"""

from __future__ import annotations

import math
import os
from collections.abc import Sequence

import torch
from torch import nn

from hessrmt.errors import DataError


class FailOn(nn.Module):
    """Identity, except on the chosen rank and batch size (see the module docstring)."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        rank = os.environ.get("HESSRMT_TEST_FAIL_RANK")
        size = os.environ.get("HESSRMT_TEST_FAIL_BATCH")
        if rank is not None and rank == os.environ.get("RANK") and str(x.shape[0]) == size:
            raise DataError(f"injected failure on rank {rank} (test)")
        return x


def tiny_mlp(input_shape: Sequence[int], n_outputs: int) -> nn.Module:
    d = math.prod(input_shape)
    return nn.Sequential(
        nn.Flatten(), FailOn(), nn.Linear(d, 4), nn.Tanh(), nn.Linear(4, n_outputs)
    )
