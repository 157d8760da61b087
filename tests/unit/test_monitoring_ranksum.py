"""The canary judge's rank-sum test against scipy.stats on known and random distributions."""

from __future__ import annotations

import random
import statistics

import pytest
from scipy import stats  # type: ignore[import-untyped]

from shared.monitoring.ranksum import rank_sum


def _scipy(x: list[float], y: list[float]) -> tuple[float, float]:
    res = stats.mannwhitneyu(x, y, alternative="two-sided")
    return float(res.statistic), float(res.pvalue)


@pytest.mark.parametrize("seed", range(40))
def test_u_and_p_match_scipy_on_random_samples_with_and_without_ties(seed: int) -> None:
    rng = random.Random(seed)
    n1, n2 = rng.randint(2, 30), rng.randint(2, 30)
    ties = seed % 2 == 0  # rounded values tie; continuous ones do not
    shift = rng.choice([0.0, 0.3, 1.0])

    def draw(mu: float) -> float:
        v = rng.lognormvariate(mu, 0.4)
        return round(v, 1) if ties else v

    x = [draw(shift) for _ in range(n1)]
    y = [draw(0.0) for _ in range(n2)]
    ours = rank_sum(x, y, 0.98)
    u, p = _scipy(x, y)
    assert ours.u == pytest.approx(u)
    assert ours.p == pytest.approx(p, rel=1e-9, abs=1e-12)


def test_small_samples_without_ties_use_the_exact_distribution_as_scipy_does() -> None:
    x, y = [1.0, 2.5, 3.1, 4.7], [0.2, 0.9, 1.4, 2.0, 2.2]
    ours = rank_sum(x, y, 0.98)
    assert ours.exact
    assert (ours.u, ours.p) == pytest.approx(_scipy(x, y))
    exact = stats.mannwhitneyu(x, y, method="exact")
    assert ours.p == pytest.approx(float(exact.pvalue))


def test_hodges_lehmann_estimate_is_the_median_of_pairwise_differences() -> None:
    x, y = [10.0, 12.0, 15.0, 11.0, 30.0], [9.0, 8.5, 10.5, 9.5]
    assert rank_sum(x, y, 0.98).estimate == statistics.median(a - b for a in x for b in y)


def test_interval_matches_the_exact_moses_order_statistics() -> None:
    # n = m = 5 at 98 %: P(U <= 1) = 2/252 <= 1 %, P(U <= 2) = 4/252 > 1 %, so the interval
    # is the 2nd smallest and 2nd largest of the 25 differences (R's qwilcox gives the same)
    x = [1.0, 2.0, 3.0, 4.0, 5.0]
    y = [0.15, 0.35, 0.55, 0.75, 0.95]
    diffs = sorted(a - b for a in x for b in y)
    r = rank_sum(x, y, 0.98)
    assert (r.low, r.high) == (diffs[1], diffs[-2])


def test_too_few_values_for_a_98_percent_interval_give_none() -> None:
    r = rank_sum([1.0, 2.0, 3.0, 4.0], [5.0, 6.0, 7.0, 8.0], 0.98)
    assert (r.low, r.high) == (None, None)  # P(U = 0) = 1/70 > 1 %


def test_the_interval_covers_the_true_shift_about_as_often_as_its_level() -> None:
    rng = random.Random(7)
    covered, runs = 0, 400
    for _ in range(runs):
        x = [rng.gauss(1.0, 1.0) for _ in range(20)]
        y = [rng.gauss(0.0, 1.0) for _ in range(20)]
        r = rank_sum(x, y, 0.90)
        assert r.low is not None and r.high is not None
        covered += r.low <= 1.0 <= r.high
    assert 0.85 <= covered / runs <= 0.95


def test_every_value_equal_is_no_evidence() -> None:
    assert rank_sum([3.0] * 10, [3.0] * 12, 0.98).p == 1.0


def test_an_empty_sample_is_refused() -> None:
    with pytest.raises(ValueError, match="at least one value"):
        rank_sum([], [1.0], 0.98)
