"""Mobile trains on the release bus, over fakes: commands ask the store, only its answer moves
the train, bad input is one clear refusal, halting twice is a no-op."""

from __future__ import annotations

from typing import Any

import pytest

from shared.config import PlaneConfig
from shared.mobile.handler import TrainStores
from shared.mobile.model import Train, mobile_builds, parse_build
from tests.unit.fakes import Driver, FakeAppStore, FakePlay, World, make_world

RELEASE = "3.1.0"
MOBILE: dict[str, Any] = {
    "env": "staging",  # no approval needed there: the approval rule has its own test
    "android": {"package_name": "app.avalo", "fractions": [0.1, 0.5, 1.0]},
    "ios": {"app_id": "1234", "internal_group": "g-internal", "issuer_id": "i", "key_id": "K1"},
}


def _plane(plane: PlaneConfig, **mobile: Any) -> PlaneConfig:
    data = plane.model_dump()
    data["mobile"] = {**MOBILE, **mobile}
    return PlaneConfig.model_validate(data)


class Trains:
    def __init__(self, world: World, play: FakePlay, app: FakeAppStore) -> None:
        self.w, self.play, self.app, self.d = world, play, app, Driver(world)

    def send(self, kind: str, platform: str = "android", **fields: Any) -> Any:
        body: dict[str, Any] = {"type": f"mobile.{kind}", "release": RELEASE, "actor": "a"}
        if kind not in ("submit", "release"):
            body["platform"] = platform
        return self.d.command(**body, **fields)

    def train(self, platform: str = "android") -> Train:
        return self.w.uow.store.trains[(RELEASE, platform)]

    def history(self, platform: str = "android") -> list[str]:
        entries = self.w.uow.store.train_history.get((RELEASE, platform), [])
        return [f"{e.verb}:{e.outcome}" for e in entries]


@pytest.fixture
def trains(plane: PlaneConfig) -> Trains:
    world = make_world(_plane(plane))
    play, app = FakePlay(), FakeAppStore()
    world.bus.ports.stores = TrainStores(world.bus.plane.mobile, lambda: play, lambda: app)
    t = Trains(world, play, app)
    artifacts = {"android": "versionCode:4102", "ios": "build:4102", "flags": "videoCalls=10"}
    t.d.command(
        type="release.create",
        version=RELEASE,
        commit="ab" * 20,
        branch="main",
        author="dev@avalo.app",
        artifacts=artifacts,
    )
    return t


def test_android_goes_internal_closed_then_production_at_the_first_fraction(
    trains: Trains,
) -> None:
    for track in ("internal", "closed", "production"):
        assert trains.send("promote", track=track).outcome == "applied"
    train = trains.train()
    assert (train.track, train.status, train.fraction, train.pending) == (
        "production",
        "inProgress",
        0.1,
        None,
    )
    assert trains.play.held["production"] == {
        "versionCodes": ["4102"],
        "status": "inProgress",
        "userFraction": 0.1,
    }
    assert trains.history()[-2:] == ["promote:asked", "promote:confirmed"]


def test_skipping_a_track_is_refused_and_writes_nothing(trains: Trains) -> None:
    record = trains.send("promote", track="production")
    assert record.outcome == "refused"
    assert "must be on the closed track first" in record.note
    assert (RELEASE, "android") not in trains.w.uow.store.trains
    assert trains.play.calls == 0


def test_halting_twice_halts_once_and_resume_restores_the_fraction(trains: Trains) -> None:
    for track in ("internal", "closed", "production"):
        trains.send("promote", track=track)
    trains.send("halt", reason="crash spike")
    calls = trains.play.calls
    again = trains.send("halt", reason="again")
    assert again.outcome == "ignored" and "changes nothing" in again.note
    assert trains.play.calls == calls
    assert trains.play.held["production"]["status"] == "halted"
    assert trains.train().halted_at is not None
    trains.send("resume")
    assert trains.play.held["production"] == {
        "versionCodes": ["4102"],
        "status": "inProgress",
        "userFraction": 0.1,
    }


def test_a_redelivered_command_asks_the_store_once(trains: Trains) -> None:
    trains.send("promote", track="internal", event_id="same")
    trains.send("promote", track="internal", event_id="same")
    assert trains.play.calls == 1
    assert trains.history() == ["promote:asked", "promote:confirmed"]


def test_a_store_refusal_is_recorded_and_nothing_is_marked_done(trains: Trains) -> None:
    trains.play.refuse = "Version code 4102 has not been uploaded"
    assert trains.send("promote", track="internal").outcome == "applied"
    train = trains.train()
    assert train.track is None and train.pending is None
    assert train.reason is not None and "4102 has not been uploaded" in train.reason
    assert trains.history() == ["promote:asked", "promote:refused by store"]


def test_ios_goes_testflight_review_then_phased_release_and_pauses(trains: Trains) -> None:
    trains.send("promote", platform="ios", track="testflight")
    assert trains.app.groups == {"g-internal": {4102}}
    trains.send("submit")
    assert trains.train("ios").status == "WAITING_FOR_REVIEW"
    trains.send("release")  # review has not approved it: the store says so
    assert trains.train("ios").track == "review"
    assert "not approved by review" in (trains.train("ios").reason or "")
    trains.app.state[4102] = "PENDING_DEVELOPER_RELEASE"
    trains.send("release")
    assert (trains.train("ios").status, trains.train("ios").day) == ("ACTIVE", 1)
    trains.send("halt", platform="ios", reason="crashes")
    assert trains.app.phase[4102] == "PAUSED"
    assert trains.send("halt", platform="ios").outcome == "ignored"
    trains.send("complete", platform="ios")
    assert trains.train("ios").status == "COMPLETE"


def test_production_needs_the_release_approved_in_the_mobile_env(plane: PlaneConfig) -> None:
    world = make_world(_plane(plane, env="production"))
    world.bus.ports.stores = TrainStores(world.bus.plane.mobile, FakePlay, FakeAppStore)
    t = Trains(world, FakePlay(), FakeAppStore())
    t.d.command(
        type="release.create",
        version=RELEASE,
        commit="ab" * 20,
        branch="main",
        author="dev@avalo.app",
        artifacts={"android": "versionCode:7"},
    )
    t.send("promote", track="internal")
    t.send("promote", track="closed")
    record = t.send("promote", track="production")
    assert record.outcome == "refused" and "approval" in record.note


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        ({"platform": "ios", "track": "production"}, "testflight only"),
        ({"platform": "android", "track": "testflight"}, "internal, closed or production"),
        ({"platform": "windows", "track": "internal"}, "platform"),
        ({"platform": "android", "track": "internal", "release": "9.9.9"}, "unknown release"),
    ],
)
def test_bad_mobile_commands_are_dead_letters_naming_the_problem(
    trains: Trains, body: dict[str, Any], expected: str
) -> None:
    payload = {"type": "mobile.promote", "release": RELEASE, "actor": "a", **body}
    record = trains.d.command(**payload)
    assert record.outcome == "refused" and expected in record.note
    assert any(expected in letter.reason for letter in trains.w.uow.store.dead_letters.values())


def test_an_app_not_configured_for_a_platform_is_refused(plane: PlaneConfig) -> None:
    world = make_world(_plane(plane, ios=None))
    t = Trains(world, FakePlay(), FakeAppStore())
    t.d.command(
        type="release.create",
        version=RELEASE,
        commit="ab" * 20,
        branch="main",
        author="dev@avalo.app",
        artifacts={"ios": "build:7"},
    )
    record = t.send("promote", platform="ios", track="testflight")
    assert record.outcome == "refused" and "no ios app is configured" in record.note


def test_a_release_without_a_build_for_the_platform_is_refused(trains: Trains) -> None:
    trains.d.command(
        type="release.create",
        version="3.2.0",
        commit="cd" * 20,
        branch="main",
        author="dev@avalo.app",
        artifacts={"ios": "build:9"},
    )
    record = trains.d.command(
        type="mobile.promote", release="3.2.0", platform="android", track="internal", actor="a"
    )
    assert record.outcome == "refused" and "carries no android build" in record.note


@pytest.mark.parametrize(
    "artifacts",
    [
        {"android": "4102"},
        {"android": "versionCode:0"},
        {"ios": "build:x1"},
        {"ios": "versionCode:3"},
        {"android": "versionCode:99999999999"},
    ],
)
def test_malformed_build_numbers_are_refused_at_create(
    trains: Trains, artifacts: dict[str, str]
) -> None:
    record = trains.d.command(
        type="release.create",
        version="4.0.0",
        commit="ef" * 20,
        branch="main",
        author="a",
        artifacts=artifacts,
    )
    assert record.outcome == "refused" and "expected" in record.note
    assert "4.0.0" not in trains.w.uow.store.releases


def test_builds_are_read_from_the_artifacts() -> None:
    assert mobile_builds({"android": "versionCode:12", "ios": "build:34", "web": "x"}) == {
        "android": 12,
        "ios": 34,
    }
    assert parse_build("ios", "build:1") == 1


def test_the_track_lock_keeps_a_second_release_out_of_production(trains: Trains) -> None:
    for track in ("internal", "closed", "production"):
        trains.send("promote", track=track)
    trains.d.command(
        type="release.create",
        version="3.2.0",
        commit="cd" * 20,
        branch="main",
        author="dev@avalo.app",
        artifacts={"android": "versionCode:4200"},
    )
    for track in ("internal", "closed"):
        trains.d.command(
            type="mobile.promote", release="3.2.0", platform="android", track=track, actor="a"
        )
    body: dict[str, Any] = {
        "type": "mobile.promote",
        "release": "3.2.0",
        "platform": "android",
        "actor": "a",
    }
    blocked = trains.d.command(**body, track="production")
    assert blocked.outcome == "refused" and "held by release 3.1.0" in blocked.note
    trains.send("halt", reason="bad build")  # fix forward over a halted release
    assert trains.d.command(**body, track="production").outcome == "applied"
    assert trains.play.held["production"]["versionCodes"] == ["4200"]


def test_fractions_advance_one_step_at_a_time_until_completed(plane: PlaneConfig) -> None:
    from datetime import UTC, datetime

    from shared.mobile import train as rules
    from shared.mobile.model import StoreView, new_train

    cfg = _plane(plane).mobile
    assert cfg is not None
    now = datetime(2026, 11, 28, tzinfo=UTC)
    t = new_train(RELEASE, "android", 7, now).model_copy(
        update={"track": "production", "status": "inProgress", "fraction": 0.1}
    )
    seen = []
    for n in range(3):
        call = rules.plan(t, rules.Ask("advance", f"e{n}", now), cfg)
        if call is None:
            break
        answer = StoreView(track=call.track, status=call.status, fraction=call.fraction)
        t, answered = rules.confirm(
            t.model_copy(update={"pending": call}), call.id, answer, None, now
        )
        assert answered == call
        seen.append((t.step, t.status, t.fraction))
    assert seen == [(1, "inProgress", 0.5), (2, "completed", None)]


@pytest.mark.parametrize(
    "fractions", [[0.1, 1.5], [0.0, 1.0], [0.5, 0.2, 1.0], [0.1, 0.5], [-0.1, 1.0], []]
)
def test_fractions_outside_0_1_or_not_ending_at_1_are_refused(
    plane: PlaneConfig, fractions: list[float]
) -> None:
    from pydantic import ValidationError

    android = {"package_name": "app.avalo", "fractions": fractions}
    with pytest.raises(ValidationError, match="fractions"):
        _plane(plane, android=android)


def test_a_release_live_in_the_testing_env_goes_to_internal_and_testflight_once(
    plane: PlaneConfig,
) -> None:
    from shared.domain.model import Deployed, EnvironmentState

    world = make_world(_plane(plane, testing_env="dev"))
    play, app = FakePlay(), FakeAppStore()
    world.bus.ports.stores = TrainStores(world.bus.plane.mobile, lambda: play, lambda: app)
    t = Trains(world, play, app)
    t.d.command(
        type="release.create",
        version=RELEASE,
        commit="ab" * 20,
        branch="main",
        author="dev@avalo.app",
        artifacts={"android": "versionCode:4102", "ios": "build:4102"},
    )
    t.d.tick("dev")
    assert play.held == {} and app.groups == {}  # nothing live in dev yet
    live = Deployed(release=RELEASE, since=world.clock())
    world.uow.store.envs["dev"] = EnvironmentState(name="dev", current=live)
    t.d.tick("dev")
    t.d.tick("dev")
    assert play.held["internal"]["versionCodes"] == ["4102"] and play.calls == 1
    assert app.groups == {"g-internal": {4102}} and app.calls == 1


def test_a_production_step_advances_only_after_its_bake(plane: PlaneConfig) -> None:
    world = make_world(_plane(plane, step_bake_minutes=30))
    play, app = FakePlay(), FakeAppStore()
    world.bus.ports.stores = TrainStores(world.bus.plane.mobile, lambda: play, lambda: app)
    t = Trains(world, play, app)
    t.d.command(
        type="release.create",
        version=RELEASE,
        commit="ab" * 20,
        branch="main",
        author="dev@avalo.app",
        artifacts={"android": "versionCode:4102"},
    )
    for track in ("internal", "closed", "production"):
        t.send("promote", track=track)
    t.d.tick("staging")
    assert play.held["production"]["userFraction"] == 0.1
    world.clock.advance(minutes=31)
    t.d.tick("staging")
    t.d.tick("staging")  # the same step: advanced once
    assert play.held["production"]["userFraction"] == 0.5
    t.send("halt", reason="investigating")
    world.clock.advance(minutes=31)
    t.d.tick("staging")  # a halted release never advances
    assert play.held["production"]["status"] == "halted"
    t.send("resume")
    world.clock.advance(minutes=31)
    t.d.tick("staging")
    assert play.held["production"] == {"versionCodes": ["4102"], "status": "completed"}


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (["promote", "3.1.0", "--platform", "windows", "--track", "internal"], "platform"),
        (["promote", "3.1.0", "--platform", "android", "--track", "beta"], "track"),
        (["halt", "not-a-version", "--platform", "ios"], "release"),
    ],
)
def test_bad_mobile_cli_input_exits_2_and_publishes_nothing(
    args: list[str], expected: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    from typer.testing import CliRunner

    from shared.cli import app, context

    published: list[bytes] = []

    class Recorder:
        def publish(self, topic: str, data: bytes) -> str:
            published.append(data)
            return "1"

    monkeypatch.setattr(context, "publisher", lambda: Recorder())
    result = CliRunner().invoke(app, ["mobile", *args], env={"FIRESTORE_EMULATOR_HOST": "x:1"})
    assert result.exit_code == 2, result.output
    assert expected in result.output and published == []


def test_a_mobile_cli_command_publishes_one_release_command(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import json

    from typer.testing import CliRunner

    from shared.cli import app, context

    published: list[bytes] = []

    class Recorder:
        def publish(self, topic: str, data: bytes) -> str:
            published.append(data)
            return "1"

    monkeypatch.setattr(context, "publisher", lambda: Recorder())
    args = ["mobile", "halt", "3.1.0", "--platform", "ios", "--reason", "crashes", "--actor", "ops"]
    result = CliRunner().invoke(app, args, env={"FIRESTORE_EMULATOR_HOST": "x:1"})
    assert result.exit_code == 0, result.output
    (sent,) = [json.loads(d) for d in published]
    assert sent.pop("id_token")  # signed by its sender, as every command from a person
    assert sent == {
        "type": "mobile.halt",
        "release": "3.1.0",
        "platform": "ios",
        "reason": "crashes",
        "actor": "ops",
    }


@pytest.fixture
def phased(trains: Trains) -> Trains:
    """The iOS build on the App Store, its phased release on day 1."""
    trains.send("promote", platform="ios", track="testflight")
    trains.send("submit")
    trains.app.state[4102] = "PENDING_DEVELOPER_RELEASE"
    trains.send("release")
    return trains


def _where(t: Trains) -> tuple[str | None, int | None, float | None]:
    train = t.train("ios")
    return train.status, train.day, train.fraction


def test_the_days_apple_moves_a_phased_release_on_are_recorded_on_the_tick(
    phased: Trains,
) -> None:
    t = phased
    assert _where(t) == ("ACTIVE", 1, 0.01)
    t.d.tick("staging")  # the store holds what the train says: nothing written
    assert t.history("ios")[-1] == "release:confirmed"
    t.app.day[4102] = 3
    t.d.tick("staging")
    t.d.tick("staging")
    assert _where(t) == ("ACTIVE", 3, 0.05)
    assert t.history("ios").count("progress:observed") == 1
    t.send("halt", platform="ios", reason="investigating")
    t.d.tick("staging")
    assert _where(t) == ("PAUSED", 3, 0.05)  # a pause keeps the day
    t.send("resume", platform="ios")
    t.app.day[4102] = 7
    t.d.tick("staging")
    assert _where(t) == ("ACTIVE", 7, 1.0)
    t.app.phase[4102] = "COMPLETE"  # the seventh day is over
    t.d.tick("staging")
    assert _where(t) == ("COMPLETE", 7, 1.0)
    reads = t.app.reads
    t.d.tick("staging")
    assert t.app.reads == reads  # a completed release is not read again
    assert t.send("halt", platform="ios").outcome == "refused"  # nothing left to pause


def test_a_pause_made_in_app_store_connect_is_recorded_as_a_halt(phased: Trains) -> None:
    phased.app.phase[4102] = "PAUSED"
    phased.d.tick("staging")
    train = phased.train("ios")
    assert (train.status, train.halted_at is not None) == ("PAUSED", True)
    assert phased.send("halt", platform="ios").outcome == "ignored"  # already paused


def test_a_reading_older_than_the_trains_last_change_is_left_alone(phased: Trains) -> None:
    from shared.dead_letters import INTERNAL
    from shared.mobile.messages import StoreObserved
    from shared.mobile.model import StoreView

    before = phased.train("ios")
    old = StoreObserved(
        release=RELEASE,
        platform="ios",
        seq=before.seq - 1,
        view=StoreView(track="appstore", status="ACTIVE", day=2, fraction=0.02),
    )
    record = phased.w.bus.handle(old, event_id="observed/old", topic=INTERNAL)
    assert record.outcome == "ignored" and "moved since" in record.note
    assert phased.train("ios") == before


def test_an_unreadable_app_store_is_read_again_on_the_next_tick(phased: Trains) -> None:
    def down(version_id: str) -> None:
        raise OSError("App Store Connect down")

    phased.app.phased_release = down  # type: ignore[method-assign]
    assert phased.d.tick("staging").outcome == "applied"
    assert _where(phased) == ("ACTIVE", 1, 0.01)
