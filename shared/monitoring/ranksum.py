"""Pure: the Mann-Whitney U test (Wilcoxon rank-sum) with the Hodges-Lehmann estimate of the
shift and its distribution-free confidence interval, in the standard library only.

Why not scipy.stats: importing it with the functions takes the cold start from 0.9x to 3.3x
the bare framework's time and from 0.7x to 1.8x its memory (`benchmarks/cold_start.py`), far
over the goals (1.3x, 1.2x); the tests
check this module against scipy (`tests/unit/test_monitoring_ranksum.py`).

The p-value follows scipy's `mannwhitneyu(x, y)` default (`method="auto"`, two-sided): exact
when a sample has at most 8 values and no value ties; otherwise the normal approximation with
tie and continuity corrections. The
interval is Moses' (the order statistics of the pairwise differences that the U distribution
puts at the confidence level), as R's `wilcox.test(conf.int = TRUE)` and Kayenta use.
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Sequence
from dataclasses import dataclass
from functools import cache

EXACT_MAX = 8  # scipy's `auto`: exact when a sample has at most 8 values and nothing ties


@dataclass(frozen=True)
class RankSum:
    """`u`: U of the first sample (canary); `p`: two-sided p-value; `estimate`: the
    Hodges-Lehmann shift (first minus second); `low`/`high`: its confidence interval, None when
    the samples are too small for an interval at that level."""

    u: float
    p: float
    estimate: float
    low: float | None
    high: float | None
    exact: bool


def _ranks(values: Sequence[float]) -> tuple[list[float], list[int]]:
    """Mid-ranks (1-based) of `values`, and the size of each group of ties."""
    order = sorted(range(len(values)), key=values.__getitem__)
    ranks = [0.0] * len(values)
    ties: list[int] = []
    i = 0
    while i < len(order):
        j = i
        while j + 1 < len(order) and values[order[j + 1]] == values[order[i]]:
            j += 1
        for k in range(i, j + 1):
            ranks[order[k]] = (i + j) / 2 + 1
        ties.append(j - i + 1)
        i = j + 1
    return ranks, ties


@cache
def _counts(n1: int, n2: int) -> tuple[int, ...]:
    """How many arrangements of n1 + n2 distinct values give U = 0, 1, …, n1·n2."""
    if n1 == 0 or n2 == 0:
        return (1,)
    with_top_in_1 = _counts(n1 - 1, n2)  # the largest value in sample 1: it beats all n2
    with_top_in_2 = _counts(n1, n2 - 1)
    out = [0] * (n1 * n2 + 1)
    for u, c in enumerate(with_top_in_1):
        out[u + n2] += c
    for u, c in enumerate(with_top_in_2):
        out[u] += c
    return tuple(out)


def _exact_sf(u: float, n1: int, n2: int) -> float:
    """P(U >= u) under the null, exactly."""
    counts = _counts(n1, n2)
    return sum(counts[math.ceil(u) :]) / math.comb(n1 + n2, n1)


def _normal_sf(z: float) -> float:
    return 0.5 * math.erfc(z / math.sqrt(2))


def p_value(u1: float, n1: int, n2: int, ties: Sequence[int]) -> tuple[float, bool]:
    """Two-sided p-value of U1, and whether it is exact."""
    u = max(u1, n1 * n2 - u1)
    if (n1 <= EXACT_MAX or n2 <= EXACT_MAX) and all(t == 1 for t in ties):
        return min(1.0, 2 * _exact_sf(u, n1, n2)), True
    n = n1 + n2
    tie_term = sum(t**3 - t for t in ties) / (n * (n - 1))
    sigma = math.sqrt(n1 * n2 / 12 * ((n + 1) - tie_term))
    if sigma == 0:  # every value equal: nothing to tell apart
        return 1.0, False
    z = (u - n1 * n2 / 2 - 0.5) / sigma
    return min(1.0, max(0.0, 2 * _normal_sf(z))), False


def _interval_rank(n1: int, n2: int, confidence: float, exact: bool) -> int:
    """c such that the interval is [d(c+1), d(n1·n2 - c)] of the sorted pairwise differences
    (1-based); -1 when the samples are too small for that confidence."""
    alpha = 1 - confidence
    if exact:
        counts, total = _counts(n1, n2), math.comb(n1 + n2, n1)
        c, cumulative = -1, 0
        for u, k in enumerate(counts):
            cumulative += k
            if cumulative / total > alpha / 2:
                break
            c = u
        return c
    z = statistics.NormalDist().inv_cdf(1 - alpha / 2)
    return math.floor(n1 * n2 / 2 - z * math.sqrt(n1 * n2 * (n1 + n2 + 1) / 12)) - 1


def rank_sum(first: Sequence[float], second: Sequence[float], confidence: float) -> RankSum:
    """The test of `first` (canary) against `second` (stable). Both must be non-empty."""
    if not first or not second:
        raise ValueError("both samples need at least one value")
    n1, n2 = len(first), len(second)
    ranks, ties = _ranks([*first, *second])
    u1 = sum(ranks[:n1]) - n1 * (n1 + 1) / 2
    p, exact = p_value(u1, n1, n2, ties)
    diffs = sorted(a - b for a in first for b in second)
    c = _interval_rank(n1, n2, confidence, exact)
    low, high = (diffs[c], diffs[len(diffs) - 1 - c]) if c >= 0 else (None, None)
    return RankSum(u=u1, p=p, estimate=statistics.median(diffs), low=low, high=high, exact=exact)
