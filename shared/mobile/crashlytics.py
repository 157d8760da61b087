"""`on_crashlytics_alert`: a velocity alert for a build being rolled out is a confirmed breach
(handed to the release bus as a `CrashBreach`); every other Crashlytics alert notifies."""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Literal

from shared.clock import Clock
from shared.domain.effects import BreachAlert
from shared.errors import Refused
from shared.mobile.alerts import CRASHLYTICS_ALERTS, VELOCITY, CrashlyticsAlert
from shared.mobile.messages import CrashBreach
from shared.mobile.model import PLATFORMS, Platform
from shared.mobile.ports import TrainFinder
from shared.mobile.settings import MobileConfig
from shared.service.ports import DeadLetters

log = logging.getLogger(__name__)
Outcome = Literal["breach", "notified"]


class CrashlyticsAlerts:
    def __init__(
        self,
        *,
        cfg: MobileConfig,
        trains: TrainFinder,
        report: Callable[[CrashBreach, str], object],
        notify: Callable[[BreachAlert], None],
        letters: DeadLetters,
        clock: Clock,
    ) -> None:
        self.cfg, self.trains, self.report, self.notify = cfg, trains, report, notify
        self.letters, self.clock = letters, clock

    def platform_of(self, app_id: str) -> Platform:
        for platform in PLATFORMS:
            app = getattr(self.cfg, platform)
            if app is not None and app.firebase_app_id == app_id:
                return platform
        raise Refused(f"alert for Firebase app {app_id!r}, which no [mobile] platform names")

    def handle(self, event_id: str, alert: CrashlyticsAlert) -> Outcome:
        platform = self.platform_of(alert.app_id)
        build = alert.build
        release = self.trains.release_of(platform, build) if build is not None else None
        issue = alert.payload.issue
        title = issue.title if issue else alert.payload.type.rsplit(".", 1)[-1]
        evidence = {
            "signal": "crashlytics",
            "alertType": alert.alert_type,
            "issue": issue.model_dump(by_alias=True) if issue else None,
            "crashCount": alert.payload.crash_count,
            "crashPercentage": alert.payload.crash_percentage,
        }
        if alert.alert_type == VELOCITY and release is not None and build is not None:
            share = alert.payload.crash_percentage
            reason = f"Crashlytics velocity alert on {platform} build {build}: {title}" + (
                f" ({share:g}% of users crashed)" if share is not None else ""
            )
            breach = CrashBreach(
                release=release,
                platform=platform,
                build=build,
                signal="crashlytics",
                reason=reason,
                evidence=evidence,
            )
            self.report(breach, f"crashlytics/{event_id}")
            return "breach"
        self.notify(
            BreachAlert(
                key=f"crashlytics/{event_id}",
                env=self.cfg.env,
                release=release,
                metric=alert.alert_type,
                reason=f"{CRASHLYTICS_ALERTS[alert.alert_type]}: {title}",
                at=self.clock(),
                evidence=evidence,
            )
        )
        return "notified"
