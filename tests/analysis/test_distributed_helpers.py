"""hessrmt.analysis.distributed in one process (no process started): sharding of the data,
the single-process no-ops, the command line's process-group detection and the timeout option.
The multi-process behaviour is tested in test_distributed_analyze.py."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from hessrmt.analysis.config import AnalysisConfig
from hessrmt.analysis.distributed import Ranks, process_group
from hessrmt.cli.main import main
from hessrmt.curvature.distributed import all_sum, broadcast_object
from hessrmt.data import load_dataset
from hessrmt.errors import InputError


def _pretend(world: int, rank: int) -> Ranks:
    """A Ranks object that believes it is rank ``rank`` of ``world`` (sharding needs no
    communication, so this tests it without processes)."""
    ranks = Ranks(60)
    ranks.world_size, ranks.rank, ranks.active, ranks.backend = world, rank, world > 1, "gloo"
    return ranks


def test_one_process_is_a_no_op() -> None:
    assert not torch.distributed.is_initialized()
    ranks = Ranks(60)
    assert (ranks.active, ranks.world_size, ranks.rank, ranks.is_main) == (False, 1, 0, True)
    assert ranks.record(33) == {"world_size": 1, "backend": None, "samples_per_rank": [33]}
    op = object()
    assert ranks.wrap(op) is op
    obj = {"a": np.arange(3)}
    assert ranks.broadcast(obj, "x") is obj and broadcast_object(obj) is obj
    np.testing.assert_array_equal(all_sum([1.5, 2.0]), [1.5, 2.0])
    batches = [(torch.zeros(5, 2), torch.zeros(5))]
    assert ranks.split_batches(batches) is batches


def test_sharded_batches_partition_the_data() -> None:
    data = load_dataset("wine", seed=0, n_samples=41)  # 33 training samples
    n = data.n_train
    X_all = torch.as_tensor(data.split("train")[0])
    seen = []
    for rank in range(3):
        ranks = _pretend(3, rank)
        got = ranks.train_batches(data, 5, dtype=torch.float64, device="cpu")
        assert all(len(x) <= 5 for x, _ in got)
        X = torch.cat([x for x, _ in got])
        np.testing.assert_array_equal(X.numpy(), X_all[rank::3].numpy())  # samples r, r+3, ...
        seen.append(len(X))
        assert ranks.record(n)["samples_per_rank"] == [11, 11, 11]
    assert sum(seen) == n
    assert _pretend(2, 1).record(n)["samples_per_rank"] == [17, 16]  # uneven


def test_batch_hessian_batches_are_split_within_the_batch() -> None:
    x = torch.arange(7.0).reshape(7, 1)
    y = torch.arange(7)
    parts = [_pretend(3, r).split_batches([(x, y)])[0] for r in range(3)]
    assert [p[1].tolist() for p in parts] == [[0, 3, 6], [1, 4], [2, 5]]
    with pytest.raises(InputError, match="--batch-size"):
        _pretend(3, 0).split_batches([(x[:2], y[:2])])


def test_process_group_outside_torchrun(monkeypatch: pytest.MonkeyPatch) -> None:
    for var in ("WORLD_SIZE", "RANK", "MASTER_ADDR", "MASTER_PORT"):
        monkeypatch.delenv(var, raising=False)
    with process_group("cpu", 60) as (device, rank):
        assert (device, rank) == ("cpu", 0)
    assert not torch.distributed.is_initialized()
    monkeypatch.setenv("WORLD_SIZE", "2")
    with pytest.raises(InputError, match="torchrun"), process_group("cpu", 60):
        pass  # pragma: no cover


def test_collective_timeout_is_checked(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(InputError, match="collective-timeout"):
        AnalysisConfig(collective_timeout=0)
    assert "collective_timeout" not in AnalysisConfig().numeric_settings()  # not fingerprinted
    assert main(["analyze", "--collective-timeout", "-1", "--out", "/nonexistent/x"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "--collective-timeout" in err
