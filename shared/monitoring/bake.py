"""The `BakeAnalysis`: read the env's metrics (I/O), then judge them (pure)."""

from __future__ import annotations

from datetime import datetime, timedelta

from shared.config import EnvConfig
from shared.domain.messages import StepReport
from shared.domain.model import Rollout
from shared.gates.checks_file import ChecksConfig
from shared.monitoring.analysis import analyse
from shared.monitoring.ports import MetricsSource
from shared.monitoring.windows import aggregate


class MetricsBakeAnalysis:
    """Windows since the rollout entered `baking` against thresholds and pre-bake baselines.

    Batches tagged with another release are left out of the bake (old instances still
    serving) and batches tagged with this release are left out of the baseline. A source
    that cannot be read raises: the tick is retried, and no verdict is made without data.
    """

    def __init__(self, checks: ChecksConfig, source: MetricsSource) -> None:
        self.checks, self.source = checks, source

    def evaluate(self, rollout: Rollout, env: EnvConfig, now: datetime) -> StepReport:
        s = self.checks.env(env.name).monitoring
        step = timedelta(seconds=s.window_seconds)
        start = rollout.state_since
        history_from = start - step * s.baseline_windows
        batches = self.source.batches(env, history_from, now)
        ours = (None, rollout.release)
        mine = [b for b in batches if b.window_start >= start and b.release in ours]
        before = [b for b in batches if b.window_start < start and b.release != rollout.release]
        return analyse(
            env=env.name,
            release=rollout.release,
            bake_start=start,
            now=now,
            windows=aggregate(mine),
            baseline_windows=aggregate(before),
            s=s,
            t=env.thresholds,
        )
