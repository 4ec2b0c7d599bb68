"""Brute-force non-crossing partitions and Kreweras complements (test oracle, small n only).

m_n(ab) = sum_{pi in NC(n)} kappa_pi[a] m_{K(pi)}[b] for free a, b (Nica & Speicher, Lectures on
the Combinatorics of Free Probability, Thm 14.4): an implementation independent of the S-transform
series and of the Dyson-equation solvers in hessrmt.rmt.products.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator


def set_partitions(items: list[int]) -> Iterator[list[list[int]]]:
    if not items:
        yield []
        return
    first, rest = items[0], items[1:]
    for part in set_partitions(rest):
        for i in range(len(part)):
            yield [*part[:i], [first, *part[i]], *part[i + 1 :]]
        yield [[first], *part]


def _crossing(blocks: list[list[int]]) -> bool:
    label = {}
    for b, block in enumerate(blocks):
        for i in block:
            label[i] = b
    pts = sorted(label)
    for a in pts:
        for b in pts:
            for c in pts:
                for d in pts:
                    if a < b < c < d and label[a] == label[c] != label[b] == label[d]:
                        return True
    return False


def noncrossing(n: int) -> list[list[list[int]]]:
    return [p for p in set_partitions(list(range(n))) if not _crossing(p)]


def kreweras(pi: list[list[int]], n: int) -> list[list[int]]:
    """Coarsest sigma on the barred points with pi (at 2i) and sigma (at 2i+1) non-crossing."""
    best = None
    for sigma in set_partitions(list(range(n))):
        joint = [[2 * i for i in b] for b in pi] + [[2 * i + 1 for i in b] for b in sigma]
        if not _crossing(joint) and (best is None or len(sigma) < len(best)):
            best = sigma
    assert best is not None
    return best


def product_moment(
    n: int, kappa_a: Callable[[int], float], moment_b: Callable[[int], float]
) -> float:
    total = 0.0
    for pi in noncrossing(n):
        ka = math.prod(kappa_a(len(b)) for b in pi)
        if ka == 0.0:
            continue
        total += ka * math.prod(moment_b(len(b)) for b in kreweras(pi, n))
    return total
