"""The dashboard's reads, each one query or batched get on the control project (or an env's
own Firestore for flags and migrations): nothing is scanned that the page does not show."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any

from shared.adapters import firestore_views as views
from shared.config import PlaneConfig
from shared.dashboard.ports import AppTrains, EnvFlags, EnvMigrations
from shared.dead_letters import DeadLetter
from shared.dora.model import Report
from shared.errors import ControlPlaneError
from shared.mobile.model import TrackLock


class FirestoreReader:
    def __init__(
        self,
        db: Any,
        plane: PlaneConfig,
        env_db: Callable[[str], Any],
        migrations: Callable[[str], Any],
    ) -> None:
        self.db, self.plane, self.env_db, self._engine = db, plane, env_db, migrations

    def environments(self) -> list[views.EnvStatus]:
        return views.env_status(self.db, self.plane)

    def release(self, version: str) -> views.ReleaseView | None:
        return views.release_view(self.db, version)

    def flags(self) -> list[EnvFlags]:
        from shared.flags.evaluation import FlagSnapshot
        from shared.flags.store import FirestoreFlagStore

        out = []
        for env in self.plane.environments:
            docs = FirestoreFlagStore(self.env_db(env)).all_docs()
            snap = FlagSnapshot.from_docs(docs.items())
            flags = [
                {"name": n, **f.model_dump(mode="json", by_alias=True)}
                for n, f in sorted(snap.flags.items())
            ]
            out.append(EnvFlags(env, flags, dict(snap.problems)))
        return out

    def migrations(self) -> list[EnvMigrations]:
        out = []
        for env in self.plane.environments:
            try:
                plan = self._engine(env).plan()
            except ControlPlaneError as exc:  # a broken ledger is shown, not a 500
                out.append(EnvMigrations(env, None, [], str(exc)))
                continue
            items = [
                {
                    "version": i.version,
                    "status": i.status.value,
                    "description": i.description,
                    "applied_at": i.applied_at,
                }
                for i in plan.items
            ]
            out.append(EnvMigrations(env, plan.current, items))
        return out

    def dead_letters(self, limit: int) -> list[DeadLetter]:
        return views.dead_letters(self.db, limit)

    def dora(self, env: str, since: datetime, now: datetime) -> Report:
        return views.dora(self.db, env, since, now)

    def apps(self, limit: int, current: bool = False) -> list[AppTrains]:
        mobile = self.plane.mobile
        if mobile is None:
            return []
        names: dict[str, str] = {}
        if mobile.android is not None:
            names["android"] = mobile.android.package_name
        if mobile.ios is not None:
            names["ios"] = mobile.ios.app_id
        holders = self.holders()
        out = []
        for p, name in names.items():
            holder = holders.get(p)
            if current and holder is not None:  # the holder's train, by id: no query
                held = views.read_train(self.db, holder.release, p)
                found = [held] if held is not None else []
            else:
                found = views.app_trains(self.db, p, limit)
            out.append(AppTrains(p, name, mobile.env, holder, found))
        return out

    def trains(self, version: str, with_history: bool) -> list[views.TrainView]:
        return views.release_trains(self.db, version, with_history)

    def holders(self) -> dict[str, TrackLock]:
        mobile = self.plane.mobile
        if mobile is None:
            return {}
        apps = [p for p in ("android", "ios") if getattr(mobile, p) is not None]
        return views.track_holders(self.db, {p: PRODUCTION_TRACK[p] for p in apps})


# The track one release at a time holds per app (`mobileTracks/{platform}:{track}`).
PRODUCTION_TRACK = {"android": "production", "ios": "appstore"}
