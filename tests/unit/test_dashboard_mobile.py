"""Mobile trains on the dashboard, over a fake reader: each app's trains, the crash signal that
halted one, a release's trains with their history, 404s, escaping, and no mobile page where no
app is configured."""

from __future__ import annotations

from typing import Any

from shared.adapters.firestore_views import TrainView
from shared.config import PlaneConfig
from shared.dashboard.app import Dashboard
from shared.dashboard.auth import LocalAccess
from shared.dashboard.ports import AppTrains
from shared.domain.commands import Command
from shared.mobile.model import StoreCall, TrackLock, Train, TrainEntry
from shared.views import trains as words
from tests.unit.test_dashboard import HOSTILE, FakeReader, awaiting, call
from tests.unit.test_status_view import T0, at, rows

RELEASE = "1.4.0"
EVIDENCE: dict[str, Any] = {
    "signal": "app-metrics",
    "threshold": 0.99,
    "minSessions": 200,
    "windows": [
        {
            "windowStart": "2026-11-28T18:00:00+00:00",
            "sessions": 3000,
            "crashedSessions": 75,
            "users": 3000,
            "crashedUsers": 75,
            "crashFreeUsers": 0.975,
        },
        {
            "windowStart": "2026-11-28T18:05:00+00:00",
            "sessions": 3000,
            "crashedSessions": 90,
            "users": 3000,
            "crashedUsers": 90,
            "crashFreeUsers": 0.97,
        },
    ],
    "build": 4102,
    "platform": "android",
}
REASON = "crash-free users of android build 4102 below 99.00% for 2 window(s) in a row"


def halted() -> Train:
    """Play production at 10 %, halted by the crash watch (a confirmed halt clears `reason`)."""
    return Train(
        release=RELEASE,
        platform="android",
        build=4102,
        track="production",
        status="halted",
        fraction=0.1,
        step_since=at(-30),
        halted_at=at(-2),
        actor="crash-watch",
        evidence=EVIDENCE,
        updated_at=at(-2),
        seq=4,
    )


def paused() -> Train:
    return Train(
        release=RELEASE,
        platform="ios",
        build=4102,
        track="appstore",
        status="PAUSED",
        day=1,
        step_since=at(-20),
        halted_at=at(-2),
        actor="crash-watch",
        evidence=EVIDENCE,
        updated_at=at(-2),
        seq=3,
    )


def history() -> list[TrainEntry]:
    def line(seq: int, verb: str, actor: str, outcome: str, **kw: Any) -> TrainEntry:
        return TrainEntry.model_validate(
            {"seq": seq, "event_id": f"e{seq}", "verb": verb, "actor": actor, "at": at(seq)}
            | {"outcome": outcome, **kw}
        )

    return [
        line(1, "promote", "dev", "asked", track="production", status="inProgress", fraction=0.1),
        line(2, "promote", "store", "confirmed", track="production", status="inProgress"),
        line(3, "halt", "crash-watch", "asked", status="halted", reason=REASON, evidence=EVIDENCE),
        line(4, "halt", "store", "confirmed", track="production", status="halted", fraction=0.1),
    ]


def with_trains(plane: PlaneConfig, *trains: Train) -> tuple[Dashboard, FakeReader, list[Any]]:
    view = awaiting()
    release = view.release.model_copy(
        update={"artifacts": {"android": "versionCode:4102", "ios": "build:4102"}}
    )
    reader = FakeReader(rows(), {RELEASE: view.model_copy(update={"release": release})})
    by_platform = {t.platform: t for t in trains}
    reader.app_trains = [
        AppTrains(
            p,
            name,
            "production",
            TrackLock(platform=p, track="production", release=RELEASE, since=at(-30))
            if p in by_platform
            else None,
            [by_platform[p]] if p in by_platform else [],
        )
        for p, name in (("android", "app.avalo.android"), ("ios", "1000000001"))
        if plane.mobile is not None  # as the Firestore reader: no [mobile], no apps
    ]
    reader.train_views = {
        RELEASE: [
            TrainView(train=t, history=history() if t.platform == "android" else []) for t in trains
        ]
    }
    sent: list[Command] = []

    def publish(command: Command) -> str:
        sent.append(command)
        return "1"

    return Dashboard(reader, LocalAccess(lambda n: None), plane, publish, lambda: T0), reader, sent


def test_the_mobile_page_shows_each_app_its_trains_and_what_halted_them(
    plane: PlaneConfig,
) -> None:
    d, _, sent = with_trains(plane, halted(), paused())
    page = call(d, "/mobile")
    assert page.status_code == 200
    html = page.get_data(as_text=True)
    assert "app.avalo.android" in html and "1000000001" in html
    assert "Google Play" in html and "App Store" in html
    assert 'class="state s-breach">halted<' in html and ">paused<" in html
    assert "10 %" in html and "day 1 of 7 (1 %)" in html
    assert "crash-free users down to 97.00% (must stay above 99.00%)" in html
    assert "waits for a person: fix forward" in html  # halted and paused: a person's call
    assert 'href="/mobile"' in html  # in the menu: [mobile] is configured
    assert sent == []  # read-only
    assert "data-refresh" not in html  # nothing is waiting on a store


def test_a_release_s_trains_page_has_the_signal_its_windows_chart_and_history(
    plane: PlaneConfig,
) -> None:
    d, _, _ = with_trains(plane, halted(), paused())
    html = call(d, f"/releases/{RELEASE}/trains").get_data(as_text=True)
    assert REASON in html  # the halt's own reason, from its history
    assert "Halted on: app-metrics" in html
    assert "crashed users" in html and "limit 1.00%" in html  # chart against 1 - threshold
    assert "97.50 %" in html and "97.00 %" in html  # each window's crash-free users
    assert html.count("<rect") == 4  # two windows per train
    assert ">crash-watch<" in html and ">confirmed<" in html
    release = call(d, f"/releases/{RELEASE}").get_data(as_text=True)
    assert f'href="/releases/{RELEASE}/trains"' in release
    assert "android build 4102, ios build 4102" in release


def test_the_overview_shows_the_latest_train_per_app(plane: PlaneConfig) -> None:
    d, _, _ = with_trains(plane, halted())
    html = call(d, "/").get_data(as_text=True)
    assert "Mobile trains" in html
    assert f'href="/releases/{RELEASE}/trains#android"' in html
    assert "no train yet" in html  # iOS has none
    assert "is halted; waits for a person" in html


def test_a_train_waiting_on_the_store_refreshes_the_page(plane: PlaneConfig) -> None:
    call_out = StoreCall(id="e9", verb="advance", action="track", asked_at=at(-1))
    moving = halted().model_copy(update={"status": "inProgress", "pending": call_out})
    assert words.state(moving) == "waiting for the store"
    d, _, _ = with_trains(plane, moving)
    html = call(d, "/mobile").get_data(as_text=True)
    assert "data-refresh" in html and "asked: advance" in html


def test_unknown_releases_404_and_no_mobile_config_no_page(plane: PlaneConfig) -> None:
    d, _, _ = with_trains(plane, halted())
    missing = call(d, "/releases/9.9.9/trains")
    assert missing.status_code == 404 and "unknown release" in missing.get_data(as_text=True)
    backend_only = PlaneConfig.model_validate({**plane.model_dump(), "mobile": None})
    d2, _, _ = with_trains(backend_only)
    assert call(d2, "/mobile").status_code == 404
    assert 'href="/mobile"' not in call(d2, "/").get_data(as_text=True)
    assert "Mobile trains" not in call(d2, f"/releases/{RELEASE}").get_data(as_text=True)


def test_what_a_train_shows_is_escaped(plane: PlaneConfig) -> None:
    hostile = halted().model_copy(update={"reason": HOSTILE, "actor": HOSTILE})
    d, _, _ = with_trains(plane, hostile)
    for path in ("/mobile", f"/releases/{RELEASE}/trains", "/"):
        html = call(d, path).get_data(as_text=True)
        assert HOSTILE not in html, path


def test_train_words() -> None:
    t = halted()
    assert (words.state(t), words.users(t), words.track(t)) == ("halted", "10 %", "production")
    done = t.model_copy(update={"status": "completed", "fraction": None, "evidence": {}})
    assert (words.state(done), words.users(done), words.signal(done)) == (
        "complete",
        "all users",
        None,
    )
    testing = t.model_copy(update={"track": "internal", "status": "completed"})
    assert (words.state(testing), words.users(testing)) == ("testing", "testers")
    review = paused().model_copy(update={"track": "review", "status": "WAITING_FOR_REVIEW"})
    assert words.state(review) == "in review"
    resumed = paused().model_copy(update={"status": "ACTIVE", "day": 7})
    assert (words.state(resumed), words.users(resumed)) == ("in progress", "day 7 of 7 (100 %)")
    assert words.waits_for_person(resumed) is None
    crashlytics = t.model_copy(
        update={
            "evidence": {
                "signal": "crashlytics",
                "issue": {"title": "NullPointerException"},
                "crashPercentage": 4.5,
            }
        }
    )
    sig = words.signal(crashlytics)
    assert sig is not None
    assert sig.reason == "crashlytics: NullPointerException (4.5 % of users crashed)"


def test_a_halted_train_a_later_release_fixed_forward_waits_for_nobody(
    plane: PlaneConfig,
) -> None:
    d, reader, _ = with_trains(plane, halted())
    android = reader.app_trains[0]
    fixed = halted().model_copy(
        update={"release": "1.4.1", "build": 4103, "status": "inProgress", "evidence": {}}
    )
    holder = TrackLock(platform="android", track="production", release="1.4.1", since=at(-1))
    reader.app_trains[0] = AppTrains(
        "android", android.app, android.env, holder, [fixed, *android.trains]
    )
    html = call(d, "/mobile").get_data(as_text=True)
    assert "waits for a person" not in html
    assert ">halted<" in html and ">in progress<" in html  # the old one is still listed
    overview = call(d, "/").get_data(as_text=True)  # the release holding production
    assert "1.4.1" in overview and "waits for a person" not in overview
    old = call(d, f"/releases/{RELEASE}/trains").get_data(as_text=True)
    assert ">halted<" in old and "Waits for a person" not in old


def test_releasectl_status_names_trains_in_the_dashboard_s_words() -> None:
    from shared.cli import output
    from shared.cli.read_cmds import _trains

    with output.console.capture() as captured:
        _trains([halted(), paused()])
    text = captured.get()
    assert "halted" in text and "paused" in text and "day 1 of 7" in text
    assert "inProgress" not in text and "PAUSED" not in text
