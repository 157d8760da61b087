"""The crash watch: each mobile app-metrics batch is recorded per build, the build's recent
windows judged (`breach.judge`), and a confirmed breach handed to the release bus as a
`CrashBreach` (one event id per breaching window: a redelivered batch changes nothing)."""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import timedelta

from shared.mobile.breach import judge
from shared.mobile.messages import CrashBreach
from shared.mobile.ports import CrashSamples, TrainFinder
from shared.mobile.settings import MobileConfig
from shared.monitoring.batch import MetricsBatch

log = logging.getLogger(__name__)
LOOKBACK = timedelta(hours=6)


class CrashWatch:
    def __init__(
        self,
        *,
        cfg: MobileConfig,
        samples: CrashSamples,
        trains: TrainFinder,
        report: Callable[[CrashBreach, str], object],
    ) -> None:
        self.cfg, self.samples, self.trains, self.report = cfg, samples, trains, report

    def observe(self, batch: MetricsBatch) -> CrashBreach | None:
        """Record a mobile batch of the mobile env; report a confirmed breach of its build."""
        platform, build = batch.platform, batch.build
        if platform is None or build is None or batch.env != self.cfg.env:
            return None
        if batch.counters.sessions is None or batch.counters.crashed_sessions is None:
            return None  # no crash counts: nothing to judge (absent is not zero)
        self.samples.put(batch)
        windows = self.samples.windows(platform, build, batch.window_start - LOOKBACK)
        breach = judge(windows, self.cfg.crash, f"{platform} build {build}")
        if breach is None:
            return None
        release = self.trains.release_of(platform, build)
        if release is None:
            log.warning("crash breach of %s build %s, which no train carries", platform, build)
            return None
        message = CrashBreach(
            release=release,
            platform=platform,
            build=build,
            signal="app-metrics",
            reason=breach.reason,
            evidence=breach.evidence,
        )
        self.report(message, f"crash/{platform}/{build}/{breach.last_window.isoformat()}")
        return message
