"""Dense-or-Lanczos choice from the memory at hand."""

from __future__ import annotations

import pytest

from hessrmt.analysis import method
from hessrmt.analysis.method import choose_method, dense_parameter_limit


def test_limit_formula(monkeypatch: pytest.MonkeyPatch) -> None:
    # 4 copies of a float64 1000 x 1000 matrix use 32e6 bytes; with half the memory usable the
    # limit is exactly P = 1000 when 64e6 bytes are available.
    monkeypatch.setattr(method, "available_memory", lambda device="cpu": 64_000_000)
    assert dense_parameter_limit("float64") == (1000, 64_000_000)
    # float32 halves the bytes per entry: sqrt(2) times more parameters
    assert dense_parameter_limit("float32")[0] == 1414


def test_available_memory_is_memavailable() -> None:
    """Independent read of /proc/meminfo (kB); memory moves between the two reads on a shared
    machine, hence the slack."""
    with open("/proc/meminfo") as fh:
        fields = dict(line.split(":", 1) for line in fh)
    expected = int(fields["MemAvailable"].split()[0]) * 1024
    got = method.available_memory("cpu")
    assert abs(got - expected) <= 0.1 * expected + 512 * 1024**2


def test_limit_is_the_largest_p_that_fits(monkeypatch: pytest.MonkeyPatch) -> None:
    """4 * 8 * P^2 <= 0.5 * available, and P + 1 does not fit (brute-force boundary)."""
    avail = 123_456_789_012
    monkeypatch.setattr(method, "available_memory", lambda device="cpu": avail)
    for dtype, itemsize in (("float64", 8), ("float32", 4)):
        p, a = dense_parameter_limit(dtype)
        assert a == avail
        assert 4 * itemsize * p**2 <= 0.5 * avail < 4 * itemsize * (p + 1) ** 2


def test_auto_switches_at_the_limit() -> None:
    assert choose_method("auto", 100, max_dense_params=100).method == "dense"
    lz = choose_method("auto", 101, max_dense_params=100)
    assert lz.method == "lanczos"
    assert "exceeds the dense limit" in lz.reason and "101" in lz.reason
    assert choose_method("dense", 1000, max_dense_params=100).method == "dense"  # it fits
    assert choose_method("lanczos", 10, max_dense_params=100).method == "lanczos"


def test_reason_states_memory(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(method, "available_memory", lambda device="cpu": 64_000_000)
    choice = choose_method("auto", 500)
    assert choice.method == "dense" and choice.limit == 1000
    assert "GiB available" in choice.reason and "P = 1000" in choice.reason


def test_unknown_method_is_an_input_error() -> None:
    from hessrmt.errors import InputError

    with pytest.raises(InputError, match="method"):
        choose_method("Dense", 10**9, max_dense_params=100)


@pytest.mark.parametrize(("dtype", "itemsize"), [("float64", 8), ("float32", 4), ("float16", 2)])
def test_dense_limit_uses_the_dtype_item_size(dtype: str, itemsize: int) -> None:
    from hessrmt.analysis.method import DENSE_COPIES, MEMORY_FRACTION, dense_parameter_limit

    limit, avail = dense_parameter_limit(dtype)
    # the largest P with DENSE_COPIES * itemsize * P^2 <= MEMORY_FRACTION * avail (+-1 for the
    # float square root against the integer one)
    budget = MEMORY_FRACTION * avail / (DENSE_COPIES * itemsize)
    assert abs(limit - int(budget**0.5)) <= 1


def test_unknown_dtype_is_an_input_error() -> None:
    from hessrmt.analysis.method import dense_parameter_limit
    from hessrmt.errors import InputError

    with pytest.raises(InputError, match="complex64"):
        dense_parameter_limit("complex64")


def test_dense_that_cannot_fit_is_refused_naming_lanczos(monkeypatch: pytest.MonkeyPatch) -> None:
    from hessrmt.errors import InputError

    # 64e6 bytes available: 4 * 8 * P^2 <= 32e6 holds up to P = 1000 exactly
    monkeypatch.setattr(method, "available_memory", lambda device="cpu": 64_000_000)
    assert choose_method("dense", 1000).method == "dense"
    with pytest.raises(InputError) as err:
        choose_method("dense", 1001)
    msg = str(err.value)
    assert "--method lanczos" in msg and "P = 1,001" in msg and "P = 1,000" in msg
    assert "\n" not in msg
    # max_dense_params moves only auto's switch; a dense request is checked against memory
    with pytest.raises(InputError, match="--method lanczos"):
        choose_method("dense", 1001, max_dense_params=10**6)


def test_plan_states_the_cost() -> None:
    from hessrmt.analysis.method import MethodChoice, plan_text

    P = 3000
    dense = MethodChoice("dense", 5000, 10 * 1024**3, "")
    text = plan_text(dense, P, dtype="float64", dense_hessians=9, lanczos_runs=4, lanczos_k=20,
                     max_restarts=100, slq_products=640)  # fmt: skip
    # 8 * 3000^2 bytes = 68.7 MiB per matrix, four of them at the peak; 9 * 3000 + 640 products
    assert "9 dense 3,000 x 3,000 float64 matrices of 68.7 MiB" in text
    assert "peak about 275 MiB" in text and "10 GiB available" in text
    assert f"{9 * 3000 + 640:,} Hessian-vector products" in text
    lz = MethodChoice("lanczos", 5000, None, "")
    text = plan_text(lz, 10**6, dtype="float32", dense_hessians=9, lanczos_runs=4, lanczos_k=20,
                     max_restarts=100, slq_products=640)  # fmt: skip
    # Krylov basis max(4k, 40) = 80 vectors and their products, float64 whatever the model's
    # dtype: 2 x 80 x 8e6 bytes; 2 ends x 4 runs x (100 restarts + the first fill) x 80
    assert "basis 80 vectors and their products, 1.19 GiB in float64" in text
    assert "64,640 Hessian-vector" in text
    assert "no P x P matrix" in text


def test_memory_record_is_what_the_krylov_solvers_allocate(monkeypatch: pytest.MonkeyPatch) -> None:
    """summary.json['memory'] states the Lanczos and SLQ bases the solvers really allocate: in
    float64 (the recurrences' dtype) for a float32 model, the Lanczos basis with its kept
    products, all SLQ probes at once (measured by wrapping ``start_state``)."""
    import numpy as np

    from hessrmt.analysis.config import AnalysisConfig
    from hessrmt.analysis.method import MethodChoice, memory_record
    from hessrmt.analysis.spectra import lanczos_spectrum, slq_density
    from hessrmt.curvature.adapters import as_linear_operator
    from hessrmt.curvature.krylov import eigensolver, quadrature, recurrence

    peak: dict[str, int] = {}

    def spy(name: str, module: object) -> None:
        def start_state(*args: object, **kwargs: object) -> recurrence.KrylovState:
            st = recurrence.start_state(*args, **kwargs)
            used = sum(t.numel() * t.element_size() for t in (st.V, st.AV) if t is not None)
            peak[name] = max(peak.get(name, 0), used)
            return st

        monkeypatch.setattr(module, "start_state", start_state)

    spy("lanczos", eigensolver)
    spy("slq", quadrature)
    P = 300
    A = np.random.default_rng(0).standard_normal((P, P)).astype(np.float32)
    A = (A + A.T) / 2
    cfg = AnalysisConfig(dtype="float32", lanczos_k=2, lanczos_restarts=1, slq_probes=3,
                         slq_steps=16)  # fmt: skip
    lanczos_spectrum(as_linear_operator(A), cfg.lanczos_k, max_iter=cfg.lanczos_restarts)
    slq_density(as_linear_operator(A), num_probes=cfg.slq_probes, num_steps=cfg.slq_steps, seed=0)
    rec = memory_record(P, MethodChoice("lanczos", 0, None, ""), cfg, {})
    assert rec["lanczos_basis_mib"] * 2**20 == peak["lanczos"] == 2 * 40 * P * 8
    assert rec["slq_basis_mib"] * 2**20 == peak["slq"] == 3 * 16 * P * 8
