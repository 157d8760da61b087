"""What the mobile trains need from outside: the two stores, and the release bus's door to them.

Store errors: a 4xx is `StoreRejected` (a `Refused`: one clear error naming the store's own
message, recorded on the train, never retried); 5xx, 429 and timeouts are retried inside the
adapter and then raise `StoreUnavailable` (transient: the outbox is carried out again later).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Protocol

from shared.errors import ControlPlaneError, Refused
from shared.mobile.breach import CrashWindow
from shared.mobile.model import StoreView, Train

if TYPE_CHECKING:
    from datetime import datetime

    from shared.config import EnvConfig
    from shared.domain.effects import MobileStoreCall
    from shared.monitoring.batch import MetricsBatch


class StoreRejected(Refused):
    """The store refused the request (4xx): what it said, never retried."""


class StoreUnavailable(ControlPlaneError):
    """The store did not answer usably after the retries (5xx, 429, timeouts)."""


class PlayStore(Protocol):
    """Google Play Developer API (androidpublisher v3) for one app."""

    def set_release(
        self, track: str, version_code: int, status: str, fraction: float | None, name: str
    ) -> StoreView:
        """Through one committed edit: the track's release of `version_code`, as asked."""
        ...

    def tracks(self) -> dict[str, list[dict[str, object]]]:
        """Every track's releases as Play holds them (read through an edit it then deletes)."""
        ...


class AppStore(Protocol):
    """App Store Connect API for one app."""

    def add_to_group(self, build: int, group: str) -> StoreView: ...

    def submit(self, build: int, version: str) -> StoreView:
        """Attach the build to an App Store version (created if needed) and submit it."""
        ...

    def release(self, build: int) -> StoreView:
        """Start the approved version's 7-day phased release (day 1)."""
        ...

    def set_phase(self, build: int, state: str) -> StoreView:
        """PATCH the version's phased release to ACTIVE, PAUSED or COMPLETE."""
        ...

    def phased_release(self, version_id: str) -> StoreView | None:
        """The version's phased release as Apple holds it now: its state and
        `currentDayNumber` move on by themselves (a day at a time; COMPLETE after day 7)."""
        ...

    def status(self, build: int) -> StoreView:
        """The build's TestFlight groups, its version's state and phased release."""
        ...


class KillSwitchPort(Protocol):
    """Turns features off in one environment through the flag service (its audit and
    publishing apply); returns the flags it changed (a killed flag again: not listed)."""

    def kill(self, env: EnvConfig, flags: tuple[str, ...], actor: str) -> list[str]: ...


class CrashSamples(Protocol):
    """Each build's crash counts per batch (its own records, idempotent by batch id)."""

    def put(self, batch: MetricsBatch) -> None: ...

    def windows(self, platform: str, build: int, since: datetime) -> list[CrashWindow]: ...


class VitalsSource(Protocol):
    """Play Developer Reporting API: a build's hourly crash rate (distinct users)."""

    def crash_windows(
        self, version_code: int, start: datetime, end: datetime
    ) -> list[CrashWindow]: ...


class TrainFinder(Protocol):
    def release_of(self, platform: str, build: int) -> str | None:
        """The release whose train carries this build (the latest, if several)."""
        ...


class StoreCalls(Protocol):
    """The bus's outbox runs a train's store call through this."""

    def carry_out(self, effect: MobileStoreCall) -> StoreView: ...

    def progress(self, train: Train) -> StoreView | None:
        """What the store moved on its own for the train's build since it last answered (an
        App Store phased release's day and state); None where the store moves nothing."""
        ...
