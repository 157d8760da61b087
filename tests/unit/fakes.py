"""In-memory fakes of the ports. They record what happened; tests assert on that state."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, TypeVar

from shared.approvals.signed import SignedApprovals
from shared.approvals.tokens import Approver
from shared.config import EnvConfig, PlaneConfig
from shared.dead_letters import DeadLetter, DeliveryFailure, event_key
from shared.domain.effects import BreachAlert, ReleaseEvent, StartBuild
from shared.domain.messages import StepReport
from shared.domain.model import Deployed, EnvironmentState, HistoryEntry, Release, Rollout
from shared.entrypoints import decode_build, decode_command, decode_tick, deliver
from shared.errors import Refused
from shared.service.messagebus import MessageBus
from shared.service.ports import Ports, Processed
from tests.builds import attributes, step_build
from tests.pubsub_envelope import envelope

T = TypeVar("T")


class FakeClock:
    def __init__(self) -> None:
        self.now = datetime(2026, 11, 25, 12, 0, tzinfo=UTC)

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **kwargs: float) -> None:
        self.now += timedelta(**kwargs)


@dataclass
class Store:
    releases: dict[str, Release] = field(default_factory=dict)
    rollouts: dict[tuple[str, str], Rollout] = field(default_factory=dict)
    envs: dict[str, EnvironmentState] = field(default_factory=dict)
    history: dict[str, list[HistoryEntry]] = field(default_factory=dict)
    processed: dict[str, Processed] = field(default_factory=dict)
    dead_letters: dict[str, DeadLetter] = field(default_factory=dict)
    failures: dict[str, DeliveryFailure] = field(default_factory=dict)
    deployments: dict[tuple[str, str], tuple[int, dict[str, str]]] = field(default_factory=dict)


class FakeTx:
    def __init__(self, store: Store) -> None:
        self.store = store
        self.writes: list[Callable[[], None]] = []

    def prefetch(self, topic: str, event_id: str, release: str | None, env: str | None) -> None:
        pass

    def processed(self, topic: str, event_id: str) -> Processed | None:
        found = self.store.processed.get(event_key(topic, event_id))
        old = self.store.processed.get(event_id)  # recorded before ids were per topic
        legacy = old if old is not None and old.topic == topic else None
        return (found or legacy).model_copy(deep=True) if (found or legacy) else None

    def release(self, version: str) -> Release | None:
        r = self.store.releases.get(version)
        return r.model_copy(deep=True) if r else None

    def rollout(self, version: str, env: str) -> Rollout | None:
        r = self.store.rollouts.get((version, env))
        return r.model_copy(deep=True) if r else None

    def deployment(self, version: str, env: str, attempt: int) -> dict[str, str] | None:
        found = self.store.deployments.get((version, env))
        return found[1] if found and found[0] == attempt else None

    def environment(self, env: str) -> EnvironmentState:
        e = self.store.envs.get(env)
        return e.model_copy(deep=True) if e else EnvironmentState(name=env)

    def put_release(self, release: Release) -> None:
        self.writes.append(lambda: self.store.releases.__setitem__(release.version, release))

    def put_rollout(self, rollout: Rollout) -> None:
        key = (rollout.release, rollout.env)
        self.writes.append(lambda: self.store.rollouts.__setitem__(key, rollout))

    def put_environment(self, env: EnvironmentState) -> None:
        self.writes.append(lambda: self.store.envs.__setitem__(env.name, env))

    def add_history(self, release: str, entry: HistoryEntry) -> None:
        self.writes.append(lambda: self.store.history.setdefault(release, []).append(entry))

    def mark_processed(self, record: Processed) -> None:
        self.writes.append(lambda: self.store.processed.__setitem__(record.key, record))


class FakeUnitOfWork:
    def __init__(self) -> None:
        self.store = Store()
        self.transactions = 0
        self.commits = 0
        self.claims = 0

    def atomically(self, work: Callable[[FakeTx], T]) -> T:
        tx = FakeTx(self.store)
        result = work(tx)  # an exception here discards every staged write
        self.transactions += 1
        self.commits += bool(tx.writes)
        for write in tx.writes:
            write()
        return result

    def finish_effects(self, key: str) -> None:
        record = self.store.processed[key]
        record.effects_done, record.claimed_until = True, None

    def claim(self, key: str, now: datetime, until: datetime) -> Processed | None:
        record = self.store.processed.get(key)
        if record is None or record.effects_done:
            return None
        if record.claimed_until is not None and record.claimed_until > now:
            return None
        record.claimed_until = until
        self.claims += 1
        return record.model_copy(deep=True)

    def release_claim(self, key: str) -> None:
        self.store.processed[key].claimed_until = datetime.min.replace(tzinfo=UTC)

    def refuse(self, record: Processed, letter: DeadLetter) -> None:
        self.store.dead_letters[letter.key] = letter
        self.store.processed[record.key] = record

    def unfinished(self, now: datetime, limit: int) -> list[Processed]:
        left = [
            p
            for p in self.store.processed.values()
            if not p.effects_done and p.claimed_until is not None and p.claimed_until <= now
        ]
        return sorted(left, key=lambda p: p.claimed_until or now)[:limit]

    def record_deployment(
        self, version: str, env: str, attempt: int, artifacts: dict[str, str], build_id: str
    ) -> None:
        self.store.deployments[(version, env)] = (attempt, artifacts)

    def read_release(self, version: str) -> Release | None:
        return self.store.releases.get(version)

    def read_environment(self, env: str) -> EnvironmentState:
        return self.store.envs.get(env) or EnvironmentState(name=env)

    def read_rollout(self, version: str, env: str) -> Rollout | None:
        return self.store.rollouts.get((version, env))


class FakeDeadLetters:
    """The `DeadLetters` port over a `Store` (the same dict the unit of work refuses into)."""

    def __init__(self, store: Store | None = None) -> None:
        self.store = store or Store()

    def put(self, letter: DeadLetter) -> None:
        self.store.dead_letters[letter.key] = letter

    def note_failure(self, failure: DeliveryFailure) -> None:
        self.store.failures[failure.fingerprint] = failure

    def last_failure(self, fingerprint: str) -> DeliveryFailure | None:
        return self.store.failures.get(fingerprint)


class FakeBuilds:
    def __init__(self) -> None:
        self.started: dict[str, StartBuild] = {}
        self.ids: dict[str, str] = {}
        self.calls = 0

    def start(self, request: StartBuild) -> str:
        self.calls += 1
        if request.key not in self.ids:
            self.started[request.key] = request
            self.ids[request.key] = f"build-{len(self.ids) + 1}"
        return self.ids[request.key]


class FakeEvents:
    def __init__(self) -> None:
        self.published: list[ReleaseEvent] = []
        self.alerts: list[BreachAlert] = []

    def publish(self, event: ReleaseEvent) -> None:
        self.published.append(event)

    def alert(self, alert: BreachAlert) -> None:
        self.alerts.append(alert)


@dataclass
class FakeStep:
    """A gate runner, smoke runner, bake analysis and deploy target in one, scripted by tests."""

    report: StepReport = field(
        default_factory=lambda: StepReport(ran=True, ok=True, summary="all good")
    )
    calls: list[Any] = field(default_factory=list)
    # what `watch` (a live release) finds: by default nothing to judge
    live_report: StepReport = field(
        default_factory=lambda: StepReport(ran=False, ok=False, summary="no live metrics")
    )
    watched: list[Any] = field(default_factory=list)

    def run(self, release: Release, env: EnvConfig) -> StepReport:
        self.calls.append((release.version, env.name))
        return self.report

    def evaluate(self, rollout: Rollout, env: EnvConfig, now: datetime) -> StepReport:
        self.calls.append((rollout.release, env.name))
        return self.report

    def watch(
        self, rollout: Rollout, env: EnvConfig, serving_since: datetime, now: datetime
    ) -> StepReport:
        self.watched.append((rollout.release, env.name, serving_since))
        return self.live_report

    def deploy(self, release: str, env: EnvConfig) -> dict[str, str]:
        self.calls.append((release, env.name))
        return {"app": release}

    def restore(self, target: Deployed, env: EnvConfig) -> StepReport:
        self.calls.append((target.release, env.name))
        return self.report


class FakeReleaseFlags:
    """Flags in memory per env: `flags[env][flag] = percent`; records what it turned on."""

    def __init__(self) -> None:
        self.flags: dict[str, dict[str, float]] = {}

    def turn_on(self, release: str, env: EnvConfig, spec: str) -> list[dict[str, Any]]:
        from shared.flags.releases import parse_requirements

        changes = []
        for req in parse_requirements(spec):
            before = self.flags.setdefault(env.name, {}).get(req.flag)
            if before != req.rollout_percent:
                self.flags[env.name][req.flag] = req.rollout_percent
                changes.append(
                    {
                        "flag": req.flag,
                        "release": release,
                        "before": before,
                        "after": req.rollout_percent,
                    }
                )
        return changes

    def turn_off(
        self, release: str, env: EnvConfig, applied: list[dict[str, Any]]
    ) -> list[dict[str, Any]]:
        undone = []
        for change in applied:
            now = self.flags.get(env.name, {}).get(change["flag"])
            if now == change["after"]:  # nobody changed it since the release did
                self.flags[env.name][change["flag"]] = change["before"] or 0.0
                undone.append({**change, "before": now, "after": change["before"]})
        return undone


DECISIONS = ("release.approve", "release.reject")


class FakeLedger:
    """The migrations each release applied, per env: `applied[(release, env)] = versions`."""

    def __init__(self) -> None:
        self.versions: dict[tuple[str, str], list[str]] = {}

    def applied(self, release: str, env: EnvConfig) -> dict[str, Any]:
        versions = self.versions.get((release, env.name), [])
        return {"versions": versions, "schemaVersion": versions[-1] if versions else None}


class FakeTicks:
    """The tick fan-out, delivered at once to `bus` the way Pub/Sub would, each its own id."""

    def __init__(self) -> None:
        self.bus: MessageBus | None = None
        self.sent: list[str] = []
        self.failed: dict[str, Exception] = {}  # Pub/Sub would redeliver these

    def publish(self, env: str) -> None:
        self.sent.append(env)
        if self.bus is not None:
            body = envelope(json.dumps({"env": env}).encode())
            event_id = f"tick-{len(self.sent)}-{env}"
            try:
                deliver(self.bus, event_id, body, topic="monitoring-ticks", decode=decode_tick)
            except Exception as exc:
                self.failed[env] = exc


class FakeVerifier:
    """ID tokens are `token-of:<uid or email>`; anything else is refused like a bad JWT."""

    @staticmethod
    def token_of(who: str) -> str:
        return f"token-of:{who}"

    def verify(self, id_token: str) -> Approver:
        if not id_token.startswith("token-of:"):
            raise Refused("approval token rejected: not a Firebase ID token")
        who = id_token.removeprefix("token-of:")
        email = who if "@" in who else None
        return Approver(uid=who, email=email, email_verified=True, verified_by="firebase")


@dataclass
class World:
    bus: MessageBus
    uow: FakeUnitOfWork
    clock: FakeClock
    builds: FakeBuilds
    events: FakeEvents
    gates: FakeStep
    smoke: FakeStep
    bake: FakeStep
    deploy_target: FakeStep
    flags: FakeReleaseFlags


def fake_ports() -> Ports:
    return Ports(
        builds=FakeBuilds(),
        events=FakeEvents(),
        gates=FakeStep(),
        smoke=FakeStep(),
        bake=FakeStep(),
        deploy_target=FakeStep(),
        flags=FakeReleaseFlags(),
        approvals=SignedApprovals(FakeVerifier, required=True),
        ticks=FakeTicks(),
        migrations=FakeLedger(),
        letters=FakeDeadLetters(),
    )


def make_world(plane: PlaneConfig) -> World:
    uow, clock, builds, events = FakeUnitOfWork(), FakeClock(), FakeBuilds(), FakeEvents()
    gates, smoke, bake, target = FakeStep(), FakeStep(), FakeStep(), FakeStep()
    flags, ticks = FakeReleaseFlags(), FakeTicks()
    ports = Ports(
        builds=builds,
        events=events,
        gates=gates,
        smoke=smoke,
        bake=bake,
        deploy_target=target,
        flags=flags,
        approvals=SignedApprovals(FakeVerifier, required=plane.control.signed_approvals),
        ticks=ticks,
        migrations=FakeLedger(),
        letters=FakeDeadLetters(uow.store),
    )
    bus = MessageBus(uow=uow, plane=plane, clock=clock, ports=ports)
    ticks.bus = bus
    return World(bus, uow, clock, builds, events, gates, smoke, bake, target, flags)


class Driver:
    """Sends messages to a `World` the way the function targets do (envelope and all)."""

    def __init__(self, world: World) -> None:
        self.w = world
        self.n = 0

    def next_id(self) -> str:
        self.n += 1
        return f"evt-{self.n}"

    def command(self, event_id: str | None = None, sign: bool = True, **payload: Any) -> Processed:
        """Send a command; approvals and rejections are signed as their approver, the way
        `releasectl` does (`sign=False` sends them unsigned)."""
        if sign and payload.get("type") in DECISIONS and "id_token" not in payload:
            payload["id_token"] = FakeVerifier.token_of(payload["approver"])
        data = envelope(json.dumps(payload).encode())
        return deliver(
            self.w.bus,
            event_id or self.next_id(),
            data,
            topic="release-commands",
            decode=decode_command,
        )

    def build(self, data: bytes, event_id: str | None = None) -> Processed:
        return deliver(
            self.w.bus,
            event_id or self.next_id(),
            envelope(data, attributes(data)),
            topic="cloud-builds",
            decode=decode_build,
        )

    def step(self, key: str, status: str, event_id: str | None = None) -> Processed:
        request = self.w.builds.started[key]
        return self.build(step_build(request, status, self.w.builds.ids[key]), event_id)

    def tick(self, env: str | None = None) -> Processed:
        body = json.dumps({"env": env} if env else {}).encode()
        return deliver(
            self.w.bus, self.next_id(), envelope(body), topic="monitoring-ticks", decode=decode_tick
        )

    def rollout(self, release: str, env: str) -> Rollout:
        return self.w.uow.store.rollouts[(release, env)]

    def env(self, name: str) -> EnvironmentState:
        return self.w.uow.read_environment(name)
