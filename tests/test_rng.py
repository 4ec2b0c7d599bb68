"""rng handling: same seed same stream, Generators passed through, bad input rejected."""

from __future__ import annotations

import numpy as np
import pytest

from hessrmt.errors import InputError
from hessrmt.rng import as_generator, seed_of, spawn


def test_seed_reproducible_and_generator_passthrough():
    assert as_generator(5).standard_normal() == as_generator(5).standard_normal()
    g = np.random.default_rng(1)
    assert as_generator(g) is g
    assert seed_of(5) == 5 and seed_of(g) is None and seed_of(None) is None


def test_spawn_independent_streams():
    a, b = spawn(0, 2)
    assert a.standard_normal() != b.standard_normal()


@pytest.mark.parametrize("bad", [-1, "seed", 1.5])
def test_bad_rng(bad):
    with pytest.raises(InputError):
        as_generator(bad)
