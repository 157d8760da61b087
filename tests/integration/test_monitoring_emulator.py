"""Monitoring on real parts: `on_app_metrics` behind a Pub/Sub push subscription on the
emulator, batches stored in Firestore, and the core's bus on Firestore rolling a bad release
back on a confirmed breach — once, however often the tick arrives."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from shared import bootstrap
from shared.adapters.dead_letters import FirestoreDeadLetters
from shared.adapters.firestore_store import FirestoreUnitOfWork
from shared.config import DEFAULT_CONTROL_PROJECT, PlaneConfig, Settings, load_config
from shared.domain.builds import parse_build
from shared.domain.commands import parse_command
from shared.domain.messages import BuildStatusChanged, MonitoringTick
from shared.gates.checks_file import ChecksConfig, load_for
from shared.local.functions_server import FunctionServer, start_function
from shared.local.pubsub_admin import ensure_push_subscription, ensure_topic
from shared.monitoring.bake import MetricsBakeAnalysis
from shared.monitoring.client import window_start
from shared.monitoring.handler import MetricsHandler
from shared.monitoring.store import FirestoreMetrics
from shared.service.messagebus import MessageBus
from shared.service.ports import Ports
from shared.topics import APP_METRICS
from shared.transport import PubSubMessage
from tests.builds import attributes, step_build
from tests.integration.core_stack import command, eventually
from tests.unit.fakes import (
    FakeBuilds,
    FakeClock,
    FakeEvents,
    FakeLedger,
    FakeReleaseFlags,
    FakeStep,
    FakeTicks,
)

SHA = "0a1b2c3d4e5f60718293a4b5c6d7e8f901234567"
CHECKS = ChecksConfig.model_validate(
    {
        "environments": {
            "staging": {
                "monitoring": {
                    "window_seconds": 60,
                    "metrics": ["function_error_rate", "payment_failure_rate"],
                }
            }
        }
    }
)


@pytest.fixture(scope="module")
def metrics_function(
    emulator_env: dict[str, str], tmp_path_factory: pytest.TempPathFactory
) -> Iterator[FunctionServer]:
    """The real `on_app_metrics` target, subscribed to `app-metrics` on the emulator."""
    from google.cloud import pubsub_v1  # type: ignore[attr-defined]

    logs = tmp_path_factory.mktemp("metrics-fn")
    server = start_function("on_app_metrics", dict(emulator_env), logs)
    try:
        ensure_topic(pubsub_v1.PublisherClient(), DEFAULT_CONTROL_PROJECT, APP_METRICS)
        ensure_push_subscription(
            pubsub_v1.SubscriberClient(),
            DEFAULT_CONTROL_PROJECT,
            APP_METRICS,
            "on_app_metrics-test-push",
            server.push_endpoint(DEFAULT_CONTROL_PROJECT, APP_METRICS),
        )
        yield server
    finally:
        server.stop()


def publish(body: bytes) -> str:
    from google.cloud import pubsub_v1  # type: ignore[attr-defined]

    client = pubsub_v1.PublisherClient()
    topic = client.topic_path(DEFAULT_CONTROL_PROJECT, APP_METRICS)
    message_id: str = client.publish(topic, body, origin="sample-app").result(timeout=30)
    return message_id


def dev_batch(batch_id: str, **counters: int) -> dict[str, Any]:
    seconds = load_for(load_config()).env("dev").monitoring.window_seconds  # the repo's files
    return {
        "batchId": batch_id,
        "env": "dev",
        "windowStart": window_start(datetime.now(UTC), seconds).isoformat(),
        "windowSeconds": seconds,
        "counters": {"functionInvocations": 500, "functionErrors": 2, **counters},
        "latency": {"apiP95Ms": 120.5},
    }


def test_the_function_stores_a_batch_once_and_dead_letters_a_bad_one(
    firestore_db: Any, metrics_function: FunctionServer
) -> None:
    body = json.dumps(dev_batch("fn-batch-1")).encode()
    publish(body)
    publish(body)  # the app publishing the same batch twice
    ref = firestore_db.document("metrics/dev/batches/fn-batch-1")
    stored = eventually(lambda: ref.get().to_dict())
    assert stored["counters"]["functionErrors"] == 2
    assert stored["latency"]["apiP95Ms"] == 120.5

    bad_id = publish(json.dumps(dev_batch("fn-batch-2", functionErrors=-1)).encode())
    letter = eventually(
        lambda: firestore_db.document(f"deadLetters/app-metrics:{bad_id}").get().to_dict()
    )
    assert letter["topic"] == "app-metrics"
    assert (
        "counters.functionErrors: Input should be greater than or equal to 0" in (letter["reason"])
    )
    assert letter["attributes"] == {"origin": "sample-app"}
    assert [d.id for d in firestore_db.collection("metrics/dev/batches").stream()] == ["fn-batch-1"]


# -- the bake on Firestore -------------------------------------------------------------------


class World:
    def __init__(self, db: Any, plane: PlaneConfig) -> None:
        self.clock = FakeClock()
        self.builds, self.restore = FakeBuilds(), FakeStep()
        ports = Ports(
            builds=self.builds,
            events=FakeEvents(),
            gates=FakeStep(),
            smoke=FakeStep(),
            bake=MetricsBakeAnalysis(CHECKS, FirestoreMetrics(db)),
            deploy_target=self.restore,
            flags=FakeReleaseFlags(),
            approvals=bootstrap.approvals(Settings()),
            ticks=FakeTicks(),
            migrations=FakeLedger(),
            letters=FirestoreDeadLetters(db),
        )
        self.bus = MessageBus(
            uow=FirestoreUnitOfWork(db), plane=plane, clock=self.clock, ports=ports
        )
        self.metrics = MetricsHandler(
            plane=plane,
            checks=CHECKS,
            sink=FirestoreMetrics(db),
            letters=FirestoreDeadLetters(db),
            clock=self.clock,
        )
        self.n = 0

    def command(self, **payload: Any) -> None:
        self.n += 1
        data = command(**payload)  # signed by its sender, as the CLI signs it
        self.bus.handle(parse_command(data), event_id=f"c-{self.n}", topic="release-commands")

    def build(self, key: str, status: str) -> None:
        self.n += 1
        data = step_build(self.builds.started[key], status, self.builds.ids[key])
        message = BuildStatusChanged(build=parse_build(data, attributes(data)))
        self.bus.handle(message, event_id=f"b-{self.n}", topic="cloud-builds")

    def to_baking(self, version: str) -> None:
        self.command(type="release.create", version=version, commit=SHA, branch="main", author="a")
        self.command(type="release.promote", release=version, env="staging", actor="a")
        self.build(f"{version}/staging/1/migrate", "SUCCESS")
        self.build(f"{version}/staging/1/deploy", "SUCCESS")

    def to_live(self, version: str) -> None:
        self.to_baking(version)
        self.clock.advance(minutes=self.bus.plane.env("staging").bake_minutes)
        self.tick(f"live-{version}")
        assert self.bus.uow.read_rollout(version, "staging").state == "live"  # type: ignore[union-attr]

    def windows(self, n: int, counters: dict[str, int], release: str | None = None) -> None:
        """Store `n` one-minute staging windows from now on, the clock past each."""
        since = self.clock.now
        for i in range(n):
            body = {
                "batchId": f"{release or 'any'}-{since:%H%M}-{i}",
                "env": "staging",
                "windowStart": (since + timedelta(minutes=i)).isoformat(),
                "windowSeconds": 60,
                "counters": counters,
                **({"release": release} if release else {}),
            }
            self.clock.advance(minutes=1)
            message = PubSubMessage(f"m-{body['batchId']}", json.dumps(body).encode(), {})
            assert self.metrics.handle(message) == "stored"

    def tick(self, event_id: str) -> None:
        self.bus.handle(MonitoringTick(env="staging"), event_id=event_id, topic="monitoring-ticks")


def state(db: Any, version: str) -> dict[str, Any]:
    doc: dict[str, Any] = db.document(f"releases/{version}/rollouts/staging").get().to_dict()
    return doc


def test_a_bad_release_is_rolled_back_once_on_a_confirmed_breach(
    firestore_db: Any, plane: PlaneConfig
) -> None:
    w = World(firestore_db, plane)
    w.to_live("1.0.0")
    w.to_baking("1.1.0")
    counters = {
        "functionInvocations": 400,
        "functionErrors": 4,
        "paymentAttempts": 50,
        "paymentFailures": 9,  # 18% > 2%
    }
    w.windows(3, counters, release="1.1.0")
    w.tick("t-1")
    w.tick("t-1")  # the scheduler's message delivered twice
    w.tick("t-2")  # and the next minute's tick

    rollout = state(firestore_db, "1.1.0")
    assert rollout["state"] == "rolled_back"
    assert rollout["reason"].startswith("payment_failure_rate: breached in 3 consecutive windows")
    bake = rollout["steps"]["bake"]
    assert bake["status"] == "failed"
    assert [w_["payment_failures"] for w_ in bake["detail"]["windows"]] == [9, 9, 9]
    assert w.restore.calls == [("1.0.0", "staging")]
    history = [
        h.to_dict()["to"] for h in firestore_db.collection("releases/1.1.0/history").stream()
    ]
    assert history.count("rolling_back") == 1
    env = firestore_db.document("environments/staging").get().to_dict()
    assert env["current"]["release"] == "1.0.0"


def test_a_breach_while_live_alerts_once_and_status_shows_it(
    firestore_db: Any, plane: PlaneConfig
) -> None:
    from typer.testing import CliRunner

    from shared.cli import app, context

    w = World(firestore_db, plane)
    w.to_live("2.0.0")
    w.windows(3, {"functionInvocations": 400, "functionErrors": 80})  # 20% > 5%
    w.tick("t-1")
    w.tick("t-1")
    w.tick("t-2")

    rollout = state(firestore_db, "2.0.0")
    assert rollout["state"] == "live"  # staging only alerts
    assert rollout["steps"]["watch"]["status"] == "breach"
    alerts = w.bus.ports.events.alerts  # type: ignore[attr-defined]
    assert [a.metric for a in alerts] == ["function_error_rate"]

    for cached in (context.settings, context.db):
        cached.cache_clear()
    shown = CliRunner().invoke(app, ["status", "--env", "staging"])
    assert shown.exit_code == 0, shown.output
    assert "2.0.0 breached while live" in shown.output
    assert "function_error_rate" in shown.output
