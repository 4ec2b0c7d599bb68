"""hessrmt reproduce universal: the matrix-free (Lanczos) path against the dense path in float64,
its estimators on known answers, the image-data networks of --data-root, and the settings
fingerprint of runs begun before these options."""

import dataclasses
import json

import numpy as np
import pytest
import torch

from hessrmt.errors import DataError
from hessrmt.experiments.universal.data_sources import data_networks, has_cifar10, has_mnist
from hessrmt.experiments.universal.lanczos_path import (
    hutchinson_noise_scale,
    network_lanczos,
    trimmed_quadrature_law,
)
from hessrmt.experiments.universal.networks import NetworkSpec
from hessrmt.experiments.universal.pipeline import LATER_FIELDS, UniversalConfig, run_universal
from hessrmt.runfolder import fingerprint


def test_hutchinson_noise_scale_known_answers():
    rng = np.random.default_rng(0)
    P = 80
    g = rng.standard_normal((P, P))
    A = torch.as_tensor(g @ g.T / P)
    h = rng.standard_normal((P, P))
    Hb = A + torch.as_tensor((h + h.T) / 4)
    exact = float(torch.linalg.matrix_norm(Hb - A) / np.sqrt(P))
    # every basis vector as a probe: sum_i ||X e_i||^2 = ||X||_F^2 exactly
    Z = torch.eye(P, dtype=torch.float64) * np.sqrt(P)  # E z z^T = I needs ||z||^2 = P: scaled
    s, _ = hutchinson_noise_scale(lambda V: Hb @ V, A @ Z, Z)
    assert s == pytest.approx(exact, rel=1e-12)
    # Rademacher probes: unbiased, the error within a few of its own standard errors
    gen = torch.Generator().manual_seed(1)
    Z = torch.randint(0, 2, (P, 400), generator=gen).to(torch.float64) * 2 - 1
    s, se = hutchinson_noise_scale(lambda V: Hb @ V, A @ Z, Z)
    assert 0 < se < 0.05 * exact
    assert abs(s - exact) < 4 * se


def test_trimmed_quadrature_law_removes_the_top_mass():
    nodes = np.array([[5.0, 1.0, 0.0], [4.0, 1.0, 0.0]])
    weights = np.array([[0.1, 0.5, 0.4], [0.1, 0.5, 0.4]])
    law = trimmed_quadrature_law(nodes, weights, 0.1)  # both spikes' nodes (0.05 each) go
    assert law.values.tolist() == [0.0, 1.0]
    np.testing.assert_allclose(law.weights, [0.4 / 0.9, 0.5 / 0.9])
    law = trimmed_quadrature_law(nodes, weights, 0.15)  # and half of the next atom's weight
    np.testing.assert_allclose(law.weights, [0.4 / 0.85, 0.45 / 0.85])


@pytest.mark.slow
def test_lanczos_path_matches_dense_path_float64():
    from hessrmt.experiments.universal.hessians import network_hessians
    from hessrmt.experiments.universal.networks import analyse_batches

    spec = NetworkSpec("tiny", "mlp:4", epochs=3, lr=0.1, n_samples=300)
    sizes = (8, 32)
    h = network_hessians(spec, sizes, 2, seed=2)
    dense = analyse_batches(
        h["A_eigs"], h["A_vecs"], h["batches"], n_train=h["n_train"], n_spikes=9
    )
    lz = network_lanczos(spec, sizes, 2, seed=2, probes=300, slq_probes=6, slq_steps=50)
    assert lz["n_parameters"] == dense["n_parameters"] == 310
    for rd, rl, nd, nl, od, ol in zip(
        dense["outliers"]["rows"],
        lz["outliers"]["rows"],
        dense["noise_scale"]["rows"],
        lz["noise_scale"]["rows"],
        dense["overlaps"]["rows"],
        lz["overlaps"]["rows"],
    ):
        assert rd["b"] == rl["b"]
        np.testing.assert_allclose(rl["theta"], rd["theta"], rtol=1e-7)
        np.testing.assert_allclose(rl["measured"], rd["measured"], rtol=1e-6)  # same batches
        np.testing.assert_allclose(ol["measured"], od["measured"], atol=1e-4)
        # Hutchinson vs the exact ||X||_F / sqrt(P): within its probe error
        assert abs(nl["s"] - nd["s"]) < 4 * nl["s_probe_se"]
        assert nl["s_probe_se"] < 0.05 * nd["s"]
        # the SLQ bulk gives nearly the dense bulk's prediction (spikes near the threshold may
        # have an outlier by one bulk and not by the other: compared where both have one)
        both = [(pl, pd) for pl, pd in zip(rl["predicted"], rd["predicted"]) if pl and pd]
        assert len(both) >= 3
        for pl, pd in both:
            assert pl == pytest.approx(pd, rel=0.02)
    assert lz["delocalisation"]["rows"] == [] and "Lanczos" in lz["damping"]["note"]
    # damping by multi-shift MINRES: the dense path's rows (same keys and shapes, plus the
    # solver's), the same deltas, and u^T (H_b + delta)^-1 u equal to dense solves
    U = h["A_vecs"][:, ::-1][:, :9]
    assert len(lz["damping"]["rows"]) == len(dense["damping"]["rows"]) == len(sizes)
    for rd, rl in zip(dense["damping"]["rows"], lz["damping"]["rows"]):
        assert set(rd) <= set(rl) and {"max_residual", "converged"} <= set(rl)
        for key in rd:
            assert np.shape(rl[key]) == np.shape(rd[key]), key
        assert all(rl["converged"]) and np.max(rl["max_residual"]) <= 1e-9
        np.testing.assert_allclose(rl["delta"], rd["delta"], rtol=1e-9)
        exact = np.mean(
            [
                [
                    [U[:, i] @ np.linalg.solve(H + d * np.eye(310), U[:, i]) for d in rl["delta"]]
                    for i in range(9)
                ]
                for H in h["batches"][rd["b"]]
            ],
            axis=0,
        )
        np.testing.assert_allclose(rl["measured"], exact, rtol=1e-8)
        np.testing.assert_allclose(rl["measured"], rd["measured"], rtol=1e-8)
        np.testing.assert_allclose(rl["measured_se"], rd["measured_se"], rtol=0, atol=1e-8)
        np.testing.assert_allclose(rl["naive"], rd["naive"], rtol=1e-8)


def _write_idx(path, arr):
    import gzip

    header = bytes([0, 0, 8, arr.ndim]) + b"".join(int(s).to_bytes(4, "big") for s in arr.shape)
    with gzip.open(path, "wb") as fh:
        fh.write(header + arr.astype(np.uint8).tobytes())


def _fake_mnist(root, n_train=200, n_test=50, seed=0):
    rng = np.random.default_rng(seed)
    raw = root / "MNIST" / "raw"
    raw.mkdir(parents=True)
    for prefix, n in (("train", n_train), ("t10k", n_test)):
        y = rng.integers(0, 10, n)
        x = rng.integers(0, 60, (n, 28, 28))
        x[np.arange(n), 2 * y + 3, :] = 255  # a learnable, class-dependent stripe
        _write_idx(raw / f"{prefix}-images-idx3-ubyte.gz", x)
        _write_idx(raw / f"{prefix}-labels-idx1-ubyte.gz", y)


def test_data_root_networks(tmp_path):
    assert data_networks(quick=True, data_root=None) == ()
    with pytest.raises(DataError, match="does not exist"):
        data_networks(quick=True, data_root=tmp_path / "nowhere")
    assert data_networks(quick=True, data_root=tmp_path) == ()
    _fake_mnist(tmp_path)
    assert has_mnist(tmp_path) and not has_cifar10(tmp_path)
    (tmp_path / "cifar-10-batches-bin").mkdir()
    (tmp_path / "cifar-10-batches-bin" / "data_batch_1.bin").write_bytes(b"")
    assert has_cifar10(tmp_path)
    keys = [s.key for s in data_networks(quick=True, data_root=tmp_path, mnist5k=True)]
    assert keys == ["mlp8-mnist", "mlp8-cifar10", "mlp8-mnist5k"]
    cfg = UniversalConfig.create(quick=True, data_root=str(tmp_path))
    assert [s.dataset for s in cfg.networks] == ["digits", "mnist", "cifar10"]
    assert cfg.data_root == str(tmp_path.resolve())


def test_default_settings_fingerprint_unchanged_by_later_fields():
    """Runs begun before the later fields existed resume: at their defaults those fields are
    not fingerprinted; set to anything else they are."""
    for quick in (False, True):
        cfg = UniversalConfig.create(quick=quick)
        before = {k: v for k, v in dataclasses.asdict(cfg).items() if k not in LATER_FIELDS}
        assert cfg.run_settings() == before
        assert fingerprint(cfg.run_settings()) == fingerprint(before)
        for name, value in (("dense_max_params", 10), ("lanczos_probes", 5), ("data_root", "/x")):
            changed = dataclasses.replace(cfg, **{name: value})
            assert fingerprint(changed.run_settings()) != fingerprint(before)


@pytest.mark.slow
def test_reduced_run_on_fake_mnist_takes_the_lanczos_path(tmp_path):
    _fake_mnist(tmp_path / "data", n_train=240, n_test=60)
    cfg = UniversalConfig(
        quick=True,
        synthetic_sizes=(60, 120),
        synthetic_reps=2,
        networks=(NetworkSpec("fake-mnist", "mlp:2", dataset="mnist", epochs=2, lr=0.1),),
        batch_sizes=(8, 16, 32),
        n_batches=2,
        damping_seeds=2,
        damping_steps=2,
        dense_max_params=1000,  # P = 1,600: the matrix-free path
        lanczos_probes=10,
        slq_probes=3,
        slq_steps=30,
        data_root=str(tmp_path / "data"),
    )
    out = tmp_path / "run"
    s = run_universal(out, config=cfg, progress=False)
    doc = json.loads((out / "summary.json").read_text())
    net = doc["networks"]["fake-mnist"]
    assert net["path"] == "lanczos" and net["n_parameters"] == 1600
    assert "1600 > dense_max_params = 1000" in net["path_reason"]
    rows = doc["noise_scale"]["fake-mnist"]["rows"]
    assert [r["b"] for r in rows] == [8, 16, 32] and all(r["s_probe_se"] > 0 for r in rows)
    assert len(doc["outliers"]["fake-mnist"]["rows"][0]["measured"]) == 9
    report = (out / "report.html").read_text()
    assert "matrix-free path" in report and "not measured on the Lanczos path" in report
    assert s["config"]["data_root"] == str(tmp_path / "data")


def test_damping_row_solves_and_refuses_unconverged_deltas():
    from hessrmt.experiments.universal.lanczos_path import damping_row
    from hessrmt.rmt.laws import Semicircle
    from hessrmt.rmt.local_law import DeformedModel, point_mass

    rng = np.random.default_rng(0)
    P = 60
    U = np.linalg.qr(rng.standard_normal((P, 2)))[0]
    theta = np.array([3.0, 2.0])
    hs = []
    for _ in range(2):
        g = rng.standard_normal((P, P)) * 0.1
        hs.append((U * theta) @ U.T + (g + g.T) / 2)
    lowest = [float(np.linalg.eigvalsh(h)[0]) for h in hs]
    model = DeformedModel(point_mass(), Semicircle(0.01))
    Ut = torch.as_tensor(U)
    row, used = damping_row(16, hs, lowest, model, theta, Ut, 1e-12)
    assert all(row["converged"]) and used > 0
    exact = np.mean(
        [
            [[u @ np.linalg.solve(h + d * np.eye(P), u) for d in row["delta"]] for u in U.T]
            for h in hs
        ],
        axis=0,
    )
    np.testing.assert_allclose(row["measured"], exact, rtol=1e-9)
    np.testing.assert_allclose(row["delta"][0], 1.1 * max(-min(lowest), -model.support()[0]))
    # an unreachable residual target: every delta is refused (None after to_jsonable)
    row, _ = damping_row(16, hs, lowest, model, theta, Ut, 1e-17)
    assert not any(row["converged"]) and np.isnan(row["measured"]).all()
    assert np.all(row["max_residual"] > 1e-16)
