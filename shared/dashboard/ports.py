"""What the dashboard needs from outside: release state to read, and who is asking."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol

from shared.adapters.firestore_views import EnvStatus, ReleaseView, TrainView
from shared.dead_letters import DeadLetter
from shared.dora.model import Report
from shared.mobile.model import TrackLock, Train


@dataclass(frozen=True)
class EnvFlags:
    env: str
    flags: list[dict[str, Any]]
    invalid: dict[str, str]


@dataclass(frozen=True)
class EnvMigrations:
    env: str
    current: str | None
    items: list[dict[str, Any]]
    error: str | None = None


@dataclass(frozen=True)
class AppTrains:
    """One mobile app (a platform of `[mobile]`): its latest trains and who holds its
    production track."""

    platform: str
    app: str  # the Play package name / the App Store app id
    env: str  # the environment whose approvals and kill switches the trains use
    holder: TrackLock | None
    trains: list[Train]


class ReleaseReader(Protocol):
    def environments(self) -> list[EnvStatus]: ...
    def release(self, version: str) -> ReleaseView | None: ...
    def flags(self) -> list[EnvFlags]: ...
    def migrations(self) -> list[EnvMigrations]: ...
    def dead_letters(self, limit: int) -> list[DeadLetter]: ...
    def dora(self, env: str, since: datetime, now: datetime) -> Report: ...
    # each app's latest `limit` trains ([] without [mobile]); `current`: the train holding the
    # app's production track where one does (read by id), else the latest
    def apps(self, limit: int, current: bool = False) -> list[AppTrains]: ...
    def trains(self, version: str, with_history: bool) -> list[TrainView]: ...
    def holders(self) -> dict[str, TrackLock]: ...  # platform -> who holds its production track


@dataclass(frozen=True)
class Viewer:
    """Who is looking: their name and roles (locally: everyone may do everything)."""

    name: str
    roles: frozenset[str]
    local: bool = False

    def may(self, role: str) -> bool:
        return self.local or role in self.roles


class SignInNeeded(Exception):
    """No valid session: show the sign-in page."""


class Forbidden(Exception):
    """Signed in, without the role the page needs."""


class Access(Protocol):
    def viewer(self, session_cookie: str | None) -> Viewer: ...
    def session(self, email: str, password: str) -> str: ...  # sign in: a session cookie
    def id_token(self, viewer: Viewer, password: str) -> str | None: ...  # signs a decision
