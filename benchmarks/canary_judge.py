"""The canary judge's error rates at a canary step's sample sizes: how often it fails a canary
that is the same as stable (A/A, goal <= 2 %) and how often it fails one whose latency is 20 %
higher (goal >= 95 %), with the default judge settings (Kayenta's: Mann-Whitney at 98 %,
tolerance 0.25, pass 95 / marginal 75; latency and error rate critical).

Each trial builds per-window values the way the app reports them: per window, the canary
serves `--canary-requests` requests and stable `--stable-requests` (a 10 % split), each
request's latency log-normal (median 100 ms, sigma 0.5) and failing with probability 0.5 %;
a window's value is that version's p95 and error rate. The judge compares the two series over
`--windows` windows (one step's bake). The time per judgement is measured as well, and the
rank-sum test is timed against scipy.stats.mannwhitneyu on the same samples when scipy is
installed (the dev extra).

    .venv/bin/python benchmarks/canary_judge.py [--trials 400] [--windows 12]
"""

from __future__ import annotations

import argparse
import random
import statistics
import time
from collections import Counter
from datetime import UTC, datetime, timedelta

from shared.config import Thresholds
from shared.monitoring.judge import judge
from shared.monitoring.ranksum import rank_sum
from shared.monitoring.settings import JudgeSettings, MonitoringSettings
from shared.monitoring.windows import Window

T0 = datetime(2026, 11, 28, tzinfo=UTC)
ERROR_RATE = 0.005


def windows(rng: random.Random, n: int, requests: int, slower: float) -> list[Window]:
    out = []
    for i in range(n):
        lat = sorted(100 * slower * rng.lognormvariate(0, 0.5) for _ in range(requests))
        errors = sum(rng.random() < ERROR_RATE for _ in range(requests))
        out.append(
            Window(
                start=T0 + timedelta(seconds=5 * i),
                counters={
                    "api_requests": requests,
                    "function_invocations": requests,
                    "function_errors": errors,
                },
                api_p95_ms=lat[min(len(lat) - 1, int(0.95 * len(lat)))],
            )
        )
    return out


def run(
    args: argparse.Namespace, slower: float, seed: int
) -> tuple[Counter[str], list[float], float]:
    """Verdicts of one look at all windows, time per judgement, and the share of trials that
    failed at any look as the windows came in (the bake judges on every tick)."""
    rng = random.Random(seed)
    s = MonitoringSettings(window_seconds=5, judge=JudgeSettings(enabled=True))
    t = Thresholds(min_requests=min(args.canary_requests, 100))
    verdicts: Counter[str] = Counter()
    times = []
    any_look = 0
    for _ in range(args.trials):
        canary = windows(rng, args.windows, args.canary_requests, slower)
        stable = windows(rng, args.windows, args.stable_requests, 1.0)
        start = time.perf_counter()
        verdicts[judge(canary, stable, s, t).verdict] += 1
        times.append(time.perf_counter() - start)
        looks = range(s.judge.min_windows, args.windows + 1)  # the judge picks its look sizes
        any_look += any(judge(canary[:n], stable[:n], s, t).verdict == "fail" for n in looks)
    return verdicts, times, any_look / args.trials


def compare_scipy(seed: int) -> str:
    try:
        from scipy import stats  # type: ignore[import-untyped]
    except ImportError:
        return "scipy not installed: skipped"
    rng = random.Random(seed)
    x = [rng.lognormvariate(0, 0.5) for _ in range(12)]
    y = [rng.lognormvariate(0, 0.5) for _ in range(12)]
    n = 2000
    start = time.perf_counter()
    for _ in range(n):
        rank_sum(x, y, 0.98)
    ours = (time.perf_counter() - start) / n
    start = time.perf_counter()
    for _ in range(n):
        stats.mannwhitneyu(x, y)
    theirs = (time.perf_counter() - start) / n
    return (
        f"rank-sum test, 12 vs 12: ours {ours * 1e6:.0f} µs (with HL estimate and interval), "
        f"scipy.stats.mannwhitneyu {theirs * 1e6:.0f} µs (p-value only): {ours / theirs:.2f}x"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trials", type=int, default=400)
    parser.add_argument("--windows", type=int, default=12)
    parser.add_argument("--canary-requests", type=int, default=100)
    parser.add_argument("--stable-requests", type=int, default=900)
    parser.add_argument("--seed", type=int, default=18)
    args = parser.parse_args()
    print(
        f"{args.trials} trials, {args.windows} windows a side, canary {args.canary_requests} / "
        f"stable {args.stable_requests} requests per window\n"
    )
    print(
        f"{'case':24} {'fail':>7} {'marginal':>9} {'pass':>7} {'nodata':>7} {'ms/judge':>9} "
        f"{'fail, any look':>15}"
    )
    results, sequential = {}, {}
    for name, slower, seed in (("A/A", 1.0, args.seed), ("+20 % latency", 1.2, args.seed + 1)):
        verdicts, times, any_look = run(args, slower, seed)
        results[name], sequential[name] = verdicts["fail"] / args.trials, any_look
        shares = [verdicts[v] / args.trials for v in ("fail", "marginal", "pass", "nodata")]
        print(
            f"{name:24} "
            + " ".join(f"{x:7.1%}" if i != 1 else f"{x:9.1%}" for i, x in enumerate(shares))
            + f" {statistics.median(times) * 1000:9.2f} {any_look:15.1%}"
        )
    fp, power = results["A/A"], results["+20 % latency"]
    print(f"\nfalse-positive rate (A/A failed): {fp:.1%} (goal <= 2 %)")
    print(f"detection rate (+20 % failed):   {power:.1%} (goal >= 95 %)")
    print(
        f"judged at every window from {JudgeSettings().min_windows} to {args.windows} (as a "
        f"bake does; samples change only at the judge's look sizes): A/A failed at some look "
        f"{sequential['A/A']:.1%}, +20 % failed at some look {sequential['+20 % latency']:.1%}"
    )
    print(compare_scipy(args.seed))


if __name__ == "__main__":
    main()
