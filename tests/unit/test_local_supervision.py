"""Which parts of a recorded local stack run (fake pids and ports), what `releasectl local
status` says about them, and the subscriptions the local wiring asks for."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Callable, Collection, Iterator
from datetime import UTC, datetime
from functools import partial
from pathlib import Path
from typing import Any

import pytest
from google.api_core.exceptions import AlreadyExists
from typer.testing import CliRunner

from shared.cli import local_cmds
from shared.local import state as stack_state
from shared.local.pubsub_admin import Backoff, ensure_push_subscription
from shared.local.state import (
    App,
    AppVersion,
    Part,
    Proc,
    StackState,
    health,
    owned,
    part_status,
)
from shared.local.subscriptions import push_subscriptions
from shared.topics import DEAD_LETTER_TARGET, MAX_DELIVERY_ATTEMPTS, PUBSUB_TRIGGERS


def a_stack(local_dir: Path) -> StackState:
    return StackState(
        local_dir=local_dir,
        started_at=datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC),
        firestore=Proc(pid=101, port=8001),
        pubsub=Proc(pid=102, port=8002),
        functions={
            "on_flag_written": Proc(pid=103, port=8003),
            "on_build_event": Proc(pid=104, port=8004),
        },
        apps={
            "staging": App(
                pid=105,
                port=8005,
                routes_file=local_dir / "apps" / "staging.routes.json",
                stable=AppVersion(pid=107, port=8007, state_file=local_dir / "staging.stable.json"),
                canary=AppVersion(pid=108, port=8008, state_file=local_dir / "staging.canary.json"),
            )
        },
        ticker=Proc(pid=106),
        config_file=local_dir / "environments.toml",
    )


def checks(
    dead_pids: Collection[int] = (), closed_ports: Collection[int] = ()
) -> tuple[Callable[[Part], bool], Callable[[int], bool]]:
    return (lambda part: part.pid not in dead_pids), (lambda port: port not in closed_ports)


def statuses(parts: list[Part]) -> dict[str, str]:
    return {part.name: part.status for part in parts}


def test_every_part_is_listed_in_start_order_with_its_port_and_url(tmp_path: Path) -> None:
    parts = a_stack(tmp_path).parts()
    assert [(p.name, p.kind, p.pid, p.port) for p in parts] == [
        ("firestore", "emulator", 101, 8001),
        ("pubsub", "emulator", 102, 8002),
        ("on_flag_written", "function", 103, 8003),
        ("on_build_event", "function", 104, 8004),
        ("app-staging-stable", "app", 107, 8007),
        ("app-staging-canary", "app", 108, 8008),
        ("router-staging", "router", 105, 8005),
        ("ticker", "ticker", 106, None),
    ]
    assert parts[3].url == "http://127.0.0.1:8004"
    assert parts[-1].url is None
    assert a_stack(tmp_path).pids() == [101, 102, 103, 104, 107, 108, 105, 106]


def test_all_parts_run_when_their_processes_run_and_their_ports_answer(tmp_path: Path) -> None:
    parts = health(a_stack(tmp_path), *checks())
    assert set(statuses(parts).values()) == {"running"}


def test_a_killed_function_server_is_dead_and_the_others_are_not(tmp_path: Path) -> None:
    parts = health(a_stack(tmp_path), *checks(dead_pids={104}))
    assert [p.name for p in parts if not p.running] == ["on_build_event"]


def test_a_process_that_runs_but_does_not_answer_on_its_port_is_dead(tmp_path: Path) -> None:
    parts = health(a_stack(tmp_path), *checks(closed_ports={8005}))
    assert [p.name for p in parts if not p.running] == ["router-staging"]


def test_a_port_that_answers_after_its_process_died_is_not_enough(tmp_path: Path) -> None:
    """The emulator's Java keeps listening when its wrapper (the recorded pid) is killed."""
    parts = health(a_stack(tmp_path), *checks(dead_pids={102}))
    assert statuses(parts)["pubsub"] == "dead"


def test_the_ticker_has_no_port_so_its_process_alone_decides(tmp_path: Path) -> None:
    ticker = a_stack(tmp_path).parts()[-1]
    never_asked: Callable[[int], bool] = lambda port: pytest.fail("no port to ask")  # noqa: E731
    assert part_status(ticker, lambda part: True, never_asked) == "running"
    assert part_status(ticker, lambda part: False, never_asked) == "dead"


@pytest.fixture
def sleeper() -> Iterator[Callable[..., subprocess.Popen[bytes]]]:
    started: list[subprocess.Popen[bytes]] = []

    def start(*args: str) -> subprocess.Popen[bytes]:
        code = "import time; print('up', flush=True); time.sleep(60)"
        proc = subprocess.Popen([sys.executable, "-c", code, *args], stdout=subprocess.PIPE)
        started.append(proc)
        assert proc.stdout is not None
        proc.stdout.readline()  # its command line is readable once it runs (not mid-exec)
        return proc

    yield start
    for proc in started:
        proc.kill()
        proc.wait()


@pytest.mark.skipif(not Path("/proc").is_dir(), reason="reads /proc/<pid>/cmdline")
def test_a_recorded_pid_is_ours_only_if_its_command_line_names_the_part(
    sleeper: Callable[..., subprocess.Popen[bytes]],
) -> None:
    server = sleeper("--port", "8004").pid
    emulator = sleeper("--host-port=127.0.0.1:8002").pid
    ticker = sleeper("-m", "shared.local.ticker").pid
    traffic = sleeper("-m", "shared.local.traffic").pid
    assert owned(Part(name="traffic", kind="traffic", pid=traffic))
    assert not owned(Part(name="traffic", kind="traffic", pid=ticker))
    assert owned(Part(name="on_build_event", kind="function", pid=server, port=8004))
    assert owned(Part(name="pubsub", kind="emulator", pid=emulator, port=8002))
    assert owned(Part(name="ticker", kind="ticker", pid=ticker))
    # The same pids read as another program's when they name another port (a reused pid).
    assert not owned(Part(name="on_build_event", kind="function", pid=server, port=18004))
    assert not owned(Part(name="app-dev", kind="app", pid=emulator, port=2))
    assert not owned(Part(name="ticker", kind="ticker", pid=server))


# `releasectl local status`


@pytest.fixture
def status(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Callable[..., Any]:
    """Run `releasectl local status` on a recorded fake stack, with fake liveness checks."""
    monkeypatch.setenv("FIRESTORE_EMULATOR_HOST", "127.0.0.1:1")  # the CLI's edge: no stack
    a_stack(tmp_path).save()

    def run(*args: str, dead_pids: Collection[int] = (), closed: Collection[int] = ()) -> Any:
        runs, answers = checks(dead_pids, closed)
        monkeypatch.setattr(
            local_cmds, "health", partial(health, process_runs=runs, port_answers=answers)
        )
        from shared.cli import app

        return CliRunner().invoke(app, ["local", "status", "--local-dir", str(tmp_path), *args])

    return run


def test_status_of_a_stack_whose_parts_all_run_exits_0(status: Callable[..., Any]) -> None:
    shown = status()
    assert shown.exit_code == 0, shown.output
    assert "local stack is up" in shown.output
    assert "on_build_event" in shown.output and "dead" not in shown.output


def test_status_names_the_dead_part_and_exits_1(status: Callable[..., Any]) -> None:
    shown = status(dead_pids={104})
    assert shown.exit_code == 1
    assert "dead: on_build_event" in shown.output
    assert "releasectl local up" in shown.output
    assert "local stack is up" not in shown.output


def test_status_json_gives_each_part_for_scripts(status: Callable[..., Any]) -> None:
    shown = status("--json", dead_pids={104}, closed={8005})
    assert shown.exit_code == 1
    body = json.loads(shown.stdout)
    assert body["recorded"] is True and body["running"] is False
    by_name = {part["name"]: part for part in body["parts"]}
    assert by_name["on_build_event"] == {
        "name": "on_build_event",
        "kind": "function",
        "pid": 104,
        "port": 8004,
        "url": "http://127.0.0.1:8004",
        "status": "dead",
    }
    assert by_name["router-staging"]["status"] == "dead"
    assert by_name["firestore"]["status"] == "running"
    assert by_name["ticker"] == {
        "name": "ticker",
        "kind": "ticker",
        "pid": 106,
        "port": None,
        "url": None,
        "status": "running",
    }
    assert body["functions"]["on_build_event"] == {"pid": 104, "port": 8004}  # as before


def test_status_json_of_a_running_stack_says_running(status: Callable[..., Any]) -> None:
    shown = status("--json")
    assert shown.exit_code == 0
    assert json.loads(shown.stdout)["running"] is True


def test_status_with_no_stack_recorded_exits_1_with_a_readable_answer(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from shared.cli import app

    monkeypatch.setenv("FIRESTORE_EMULATOR_HOST", "127.0.0.1:1")
    empty = ["local", "status", "--local-dir", str(tmp_path / "none")]
    shown = CliRunner().invoke(app, [*empty, "--json"])
    assert shown.exit_code == 1
    assert json.loads(shown.stdout) == {"recorded": False, "running": False, "parts": []}
    plain = CliRunner().invoke(app, empty)
    assert plain.exit_code == 1 and "no local stack is recorded" in plain.output


def test_load_still_finds_a_stack_whose_function_server_died(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The bootstrap and the CLI need the emulators only: a dead server is `health`'s business."""
    a_stack(tmp_path).save()
    monkeypatch.setattr(stack_state, "alive", lambda pid: pid != 104)
    assert stack_state.load(tmp_path) is not None
    monkeypatch.setattr(stack_state, "alive", lambda pid: pid != 102)  # the pubsub emulator
    assert stack_state.load(tmp_path) is None
    assert stack_state.recorded(tmp_path) == a_stack(tmp_path)


# The local wiring's subscriptions


def test_each_trigger_subscription_dead_letters_to_its_topics_dead_letter_topic() -> None:
    subs = {s.name: s for s in push_subscriptions(["on_build_event", "on_release_command"])}
    assert set(subs) == {"on_build_event-push", "on_release_command-push"}
    assert subs["on_build_event-push"].topic == "cloud-builds"
    assert subs["on_build_event-push"].dead_letter_topic == "cloud-builds-dead-letter"


def test_on_dead_letter_is_subscribed_to_every_dead_letter_topic_with_none_of_its_own() -> None:
    subs = [s for s in push_subscriptions([DEAD_LETTER_TARGET]) if s.target == DEAD_LETTER_TARGET]
    assert {(s.name, s.topic) for s in subs} == {
        (f"on_dead_letter-{topic}-push", f"{topic}-dead-letter") for topic in PUBSUB_TRIGGERS
    }
    assert {s.dead_letter_topic for s in subs} == {None}  # a dead letter is not dead-lettered


class FakeSubscriber:
    def __init__(self, exists: bool) -> None:
        self.exists = exists
        self.calls: list[tuple[str, dict[str, Any]]] = []

    def subscription_path(self, project: str, name: str) -> str:
        return f"projects/{project}/subscriptions/{name}"

    def create_subscription(self, request: dict[str, Any]) -> None:
        self.calls.append(("create", request))
        if self.exists:
            raise AlreadyExists("exists")

    def update_subscription(self, request: dict[str, Any]) -> None:
        self.calls.append(("update", request))


def test_an_existing_subscription_is_updated_to_the_dead_letter_policy_in_place() -> None:
    subscriber = FakeSubscriber(exists=True)
    ensure_push_subscription(
        subscriber,
        "demo-p",
        "cloud-builds",
        "on_build_event-push",
        "http://127.0.0.1:9/projects/demo-p/topics/cloud-builds",
        dead_letter_topic="cloud-builds-dead-letter",
        backoff=Backoff(10, 600),
    )
    (_, created), (how, updated) = subscriber.calls
    assert how == "update"
    fields = updated["subscription"]
    assert fields["name"] == "projects/demo-p/subscriptions/on_build_event-push"
    assert fields["dead_letter_policy"] == {
        "dead_letter_topic": "projects/demo-p/topics/cloud-builds-dead-letter",
        "max_delivery_attempts": MAX_DELIVERY_ATTEMPTS,
    }
    assert fields["retry_policy"]["minimum_backoff"] == {"seconds": 10}
    assert set(updated["update_mask"]["paths"]) == {
        "push_config",
        "ack_deadline_seconds",
        "dead_letter_policy",
        "retry_policy",
    }
    assert created["topic"] == "projects/demo-p/topics/cloud-builds"
