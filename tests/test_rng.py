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


def test_int_seed_is_numpy_default_rng_and_seed_sequence_accepted():
    # the documented contract: an int seeds a new PCG64 generator, i.e. numpy.random.default_rng
    np.testing.assert_array_equal(as_generator(7).random(5), np.random.default_rng(7).random(5))
    np.testing.assert_array_equal(
        as_generator(np.int64(7)).random(5), np.random.default_rng(7).random(5)
    )
    ss = np.random.SeedSequence(11)
    np.testing.assert_array_equal(
        as_generator(ss).random(3), np.random.default_rng(np.random.SeedSequence(11)).random(3)
    )
    assert seed_of(np.int64(9)) == 9 and isinstance(seed_of(np.int64(9)), int)


def test_spawn_is_reproducible_and_children_differ():
    a = [g.random(4) for g in spawn(3, 3)]
    b = [g.random(4) for g in spawn(3, 3)]
    for x, y in zip(a, b):
        np.testing.assert_array_equal(x, y)
    assert not np.array_equal(a[0], a[1]) and not np.array_equal(a[1], a[2])
    assert len(spawn(0, 5)) == 5


def test_none_is_fresh_entropy_and_global_state_untouched():
    state = np.random.get_state()[1].copy()  # noqa: NPY002
    x, y = as_generator(None).random(4), as_generator(None).random(4)
    assert not np.array_equal(x, y)
    assert np.array_equal(state, np.random.get_state()[1])  # noqa: NPY002


def test_bad_rng_message_names_the_type():
    with pytest.raises(InputError, match="str"):
        as_generator("seed")
    with pytest.raises(InputError, match="non-negative"):
        as_generator(-3)
