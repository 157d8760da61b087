"""The dashboard's mobile reads on the Firestore emulator: each app's latest trains newest first
(one collection-group query, limited), a release's trains and their history by id, and who
holds each production track."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from shared.adapters import firestore_views as views
from shared.adapters.firestore_store import history_id
from shared.mobile.model import TrackLock, Train, TrainEntry

T0 = datetime(2026, 11, 28, 12, 0, tzinfo=UTC)


def put(db: Any, release: str, platform: str, minutes: int, seq: int = 0) -> None:
    train = Train(
        release=release,
        platform=platform,  # type: ignore[arg-type]
        build=4000 + minutes,
        track="production" if platform == "android" else "appstore",
        status="inProgress" if platform == "android" else "ACTIVE",
        updated_at=T0 + timedelta(minutes=minutes),
        seq=seq,
    )
    ref = db.document(f"releases/{release}/trains/{platform}")
    ref.set(train.to_doc())
    for n in range(1, seq + 1):
        line = TrainEntry(
            seq=n,
            event_id=f"{release}/{n}",
            verb="promote",
            actor="dev",
            at=T0 + timedelta(minutes=n),
            outcome="asked" if n % 2 else "confirmed",
        )
        ref.collection("history").document(history_id(n)).set(line.to_doc())


def test_trains_read_newest_first_per_app_and_a_release_s_by_id(firestore_db: Any) -> None:
    db = firestore_db
    for i in range(5):
        put(db, f"1.{i}.0", "android", minutes=i)
    put(db, "1.1.0", "ios", minutes=30, seq=3)
    put(db, "1.4.0", "ios", minutes=20)
    db.document("mobileTracks/android:production").set(
        TrackLock(platform="android", track="production", release="1.4.0", since=T0).to_doc()
    )

    latest = views.app_trains(db, "android", 3)
    assert [t.release for t in latest] == ["1.4.0", "1.3.0", "1.2.0"]
    assert [t.release for t in views.app_trains(db, "ios", 10)] == ["1.1.0", "1.4.0"]

    held = views.read_train(db, "1.1.0", "ios")
    assert held is not None and held.seq == 3 and views.read_train(db, "1.1.0", "x") is None
    holders = views.track_holders(db, {"android": "production", "ios": "appstore"})
    assert {p: h.release for p, h in holders.items()} == {"android": "1.4.0"}

    trains = views.release_trains(db, "1.1.0")
    assert [(v.train.platform, len(v.history)) for v in trains] == [("android", 0), ("ios", 3)]
    assert [e.seq for e in trains[1].history] == [1, 2, 3]
    assert [len(v.history) for v in views.release_trains(db, "1.1.0", False)] == [0, 0]
    assert views.release_trains(db, "9.9.9") == []
