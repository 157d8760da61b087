"""The `BakeAnalysis`: read the env's metrics (I/O), then judge them (pure)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta

from shared.config import EnvConfig
from shared.domain.messages import StepReport
from shared.domain.model import Rollout
from shared.gates.checks_file import ChecksConfig
from shared.monitoring.analysis import analyse, judged_windows
from shared.monitoring.client import window_start
from shared.monitoring.judge import judge, with_judgement
from shared.monitoring.ports import MetricsSource
from shared.monitoring.settings import MonitoringSettings
from shared.monitoring.windows import Sample, Window, aggregate

# A live watch judges the last `consecutive_breaches` + this many windows: enough for a run
# to be confirmed, and for a breach that goes on to be seen as the same incident tick to tick.
LIVE_SLACK_WINDOWS = 2


class MetricsBakeAnalysis:
    """Windows since the rollout entered `baking` against thresholds and pre-bake baselines.

    Batches tagged with another release are left out of the bake (old instances still
    serving) and batches tagged with this release are left out of the baseline. The window
    the bake began in counts only with batches tagged with this release (the rest of it was
    the old release). A source that cannot be read raises: the tick is retried, and no
    verdict is made without data.
    """

    def __init__(self, checks: ChecksConfig, source: MetricsSource) -> None:
        self.checks, self.source = checks, source

    def evaluate(
        self, rollout: Rollout, env: EnvConfig, now: datetime, stable: str | None = None
    ) -> StepReport:
        s = self.checks.env(env.name).monitoring
        start = rollout.state_since
        first = window_start(start, s.window_seconds)
        ours = (None, rollout.release)
        canary = None
        if s.judge.enabled and stable is not None and stable != rollout.release:
            canary = (rollout.release, stable)
        return self._judge(
            rollout,
            env,
            s,
            first,
            now,
            mine=lambda b: (
                (b.window_start >= start and b.release in ours)
                or (first <= b.window_start < start and b.release == rollout.release)
            ),
            before=lambda b: b.window_start < first and b.release != rollout.release,
            canary=canary,
        )

    def watch(
        self, rollout: Rollout, env: EnvConfig, serving_since: datetime, now: datetime
    ) -> StepReport:
        """The latest windows of a live release against its own recent history.

        Only windows that began after the release (re)started serving count, so the windows
        of a release just rolled back never count against the one restored.
        """
        s = self.checks.env(env.name).monitoring
        span = timedelta(seconds=s.window_seconds) * (
            env.thresholds.consecutive_breaches + LIVE_SLACK_WINDOWS
        )
        since = max(serving_since, window_start(now, s.window_seconds) - span)
        ours = (None, rollout.release)
        return self._judge(
            rollout,
            env,
            s,
            since,
            now,
            mine=lambda b: b.window_start >= since and b.release in ours,
            before=lambda b: b.window_start < since and b.release in ours,
            label="live",
        )

    def _judge(
        self,
        rollout: Rollout,
        env: EnvConfig,
        s: MonitoringSettings,
        judged_from: datetime,
        now: datetime,
        *,
        mine: Callable[[Sample], bool],
        before: Callable[[Sample], bool],
        label: str = "bake",
        canary: tuple[str, str] | None = None,
    ) -> StepReport:
        """Read the windows since `judged_from` and the baseline windows before it, once, and
        judge them: `mine` picks the batches judged, `before` those of the baseline. With
        `canary` (release, stable release), the canary judge compares the two releases'
        windows too."""
        history = judged_from - timedelta(seconds=s.window_seconds) * s.baseline_windows
        batches = self.source.parts(env, history, now)
        report = analyse(
            env=env.name,
            release=rollout.release,
            bake_start=judged_from,
            now=now,
            windows=aggregate(b for b in batches if mine(b)),
            baseline_windows=aggregate(b for b in batches if before(b)),
            s=s,
            t=env.thresholds,
            label=label,
        )
        if canary is None:
            return report

        closed = s.model_copy(update={"judge_open_window": False})  # a sample is a whole window

        def version(release: str) -> list[Window]:
            ran = aggregate(b for b in batches if b.release == release)
            return judged_windows(ran, judged_from, now, closed)

        judgement = judge(version(canary[0]), version(canary[1]), s, env.thresholds)
        return with_judgement(report, judgement, f"{label} ({env.name})")
