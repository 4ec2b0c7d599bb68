"""Model zoo: architectures and parameter counts (counted by hand), seeding, user models,
checkpoints."""

from __future__ import annotations

import sys
import textwrap

import pytest
import torch

from hessrmt.errors import InputError
from hessrmt.nn.zoo import build_model, count_parameters, load_checkpoint


def _lin(a: int, b: int) -> int:
    return a * b + b


@pytest.mark.parametrize(
    ("name", "shape", "expected"),
    [
        ("logreg", (1, 8, 8), _lin(64, 10)),
        ("mlp", (1, 8, 8), _lin(64, 10) + _lin(10, 100) + _lin(100, 10)),
        ("deep-mlp", (1, 8, 8), _lin(64, 10) + _lin(10, 100) + _lin(100, 100) + _lin(100, 10)),
        ("regression-mlp", (13,), _lin(13, 100) + _lin(100, 100) + _lin(100, 50) + _lin(50, 1)),
        # the paper's LeNetsmall on 32x32x3: 19,217 parameters (docs/reference/papers.md section
        # 2.3)
        ("lenet", (3, 32, 32), 19217),
    ],
)
def test_parameter_counts(name, shape, expected):
    n_out = 1 if name == "regression-mlp" else 10
    model = build_model(name, input_shape=shape, n_outputs=n_out)
    assert count_parameters(model) == expected
    out = model(torch.zeros(2, *shape, dtype=torch.float64))
    assert out.shape == (2, n_out)


def test_paper_mnist_sizes():
    # docs/reference/papers.md section 2.3: Mnist_NN 9,960 and MLP_deep 20,060 parameters on 784
    # inputs
    assert count_parameters(build_model("mlp", input_shape=(784,), n_outputs=10)) == 9960
    assert count_parameters(build_model("deep-mlp", input_shape=(784,), n_outputs=10)) == 20060


def test_seeded_and_global_rng_untouched():
    state = torch.random.get_rng_state()
    a = build_model("mlp", input_shape=(5,), n_outputs=3, seed=4)
    b = build_model("mlp", input_shape=(5,), n_outputs=3, seed=4)
    c = build_model("mlp", input_shape=(5,), n_outputs=3, seed=5)
    assert torch.equal(torch.random.get_rng_state(), state)
    pa, pb, pc = (torch.nn.utils.parameters_to_vector(m.parameters()) for m in (a, b, c))
    assert torch.equal(pa, pb) and not torch.equal(pa, pc)
    assert pa.dtype == torch.float64


def test_user_model(tmp_path, monkeypatch):
    (tmp_path / "mymodels.py").write_text(
        textwrap.dedent("""
        import torch
        def tiny(input_shape, n_outputs):
            return torch.nn.Sequential(torch.nn.Linear(input_shape[0], n_outputs))
        def not_a_model():
            return 3
    """)
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    m = build_model("mymodels:tiny", input_shape=(4,), n_outputs=2)
    assert count_parameters(m) == 10
    with pytest.raises(InputError, match=r"not a torch\.nn\.Module"):
        build_model("mymodels:not_a_model", input_shape=(4,), n_outputs=2)
    with pytest.raises(InputError, match="cannot import"):
        build_model("no_such_pkg.mod:fn", input_shape=(4,), n_outputs=2)
    with pytest.raises(InputError, match="no callable"):
        build_model("mymodels:missing", input_shape=(4,), n_outputs=2)
    sys.modules.pop("mymodels", None)


def test_bad_names_and_shapes():
    with pytest.raises(InputError, match="unknown model"):
        build_model("resnet", input_shape=(4,), n_outputs=2)
    with pytest.raises(InputError, match="image inputs"):
        build_model("lenet", input_shape=(13,), n_outputs=2)


def test_checkpoint_round_trip_and_mismatch(tmp_path):
    a = build_model("mlp", input_shape=(5,), n_outputs=3, seed=1)
    torch.save(a.state_dict(), tmp_path / "a.pt")
    b = load_checkpoint(
        build_model("mlp", input_shape=(5,), n_outputs=3, seed=2), str(tmp_path / "a.pt")
    )
    assert all(torch.equal(p, q) for p, q in zip(a.parameters(), b.parameters()))
    with pytest.raises(InputError, match="does not match"):
        load_checkpoint(build_model("mlp", input_shape=(6,), n_outputs=3), str(tmp_path / "a.pt"))
    with pytest.raises(InputError, match="not found"):
        load_checkpoint(a, str(tmp_path / "missing.pt"))
    (tmp_path / "junk.pt").write_text("junk")
    with pytest.raises(InputError, match="cannot be read"):
        load_checkpoint(a, str(tmp_path / "junk.pt"))
