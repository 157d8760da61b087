"""At-least-once, any-order delivery: a release's event stream, duplicated (each event up to 3×)
and reordered, ends where the in-order stream ends, and never persists an illegal move.

The simulation respects causality only where the world does: a build's status messages exist
once the build was started, an approval once the rollout waits for one, a tick once the rollout
bakes. Everything that exists may arrive in any order, any number of times.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import cache

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from shared.config import DEFAULT_CONFIG_FILE, PlaneConfig, load_config
from shared.domain.states import State, can_move
from shared.entrypoints import decode_build, decode_command, decode_tick, deliver
from tests.builds import attributes, step_build
from tests.pubsub_envelope import envelope
from tests.unit.fakes import FakeVerifier, World, make_world

PLANE: PlaneConfig = load_config(DEFAULT_CONFIG_FILE)
VERSION, SHA = "3.1.4", "0123456789abcdef0123456789abcdef01234567"
BUILD_STATUSES = ("QUEUED", "WORKING")


@dataclass
class Message:
    event_id: str
    send: Callable[[World], object]


@dataclass
class Network:
    """Messages in flight; `emit` puts `copies` deliveries of one message (same id) in."""

    world: World
    env: str
    deploy_result: str
    pending: list[Message] = field(default_factory=list)
    emitted: set[str] = field(default_factory=set)

    def emit(self, event_id: str, send: Callable[[World], object], copies: int) -> None:
        if event_id in self.emitted:
            return
        self.emitted.add(event_id)
        self.pending.extend(Message(event_id, send) for _ in range(copies))

    def command(self, event_id: str, copies: int, **payload: object) -> None:
        who = payload.get("actor") or payload.get("approver") or payload.get("author")
        payload.setdefault("id_token", FakeVerifier.token_of(str(who)))
        data = envelope(json.dumps(payload).encode())
        self.emit(
            event_id,
            lambda w: deliver(
                w.bus, event_id, data, topic="release-commands", decode=decode_command
            ),
            copies,
        )

    def react(self, copies: Callable[[], int]) -> None:
        """Emit whatever the world's current state makes possible."""
        w = self.world
        if VERSION in w.uow.store.releases:
            self.command(
                "promote",
                copies(),
                type="release.promote",
                release=VERSION,
                env=self.env,
                actor="alice",
            )
        rollout = w.uow.store.rollouts.get((VERSION, self.env))
        if rollout is not None and rollout.state is State.AWAITING_APPROVAL:
            self.command(
                "approve",
                copies(),
                type="release.approve",
                release=VERSION,
                env=self.env,
                approver="bob",
                reason="ok",
                id_token=FakeVerifier.token_of("bob"),
            )
        for key, request in w.builds.started.items():
            final = self.deploy_result if request.step == "deploy" else "SUCCESS"
            for status in (*BUILD_STATUSES, final):
                body = step_build(request, status, w.builds.ids[key])
                data = envelope(body, attributes(body))
                self.emit(
                    f"{key}:{status}",
                    lambda w, data=data, key=key, status=status: deliver(
                        w.bus, f"{key}:{status}", data, topic="cloud-builds", decode=decode_build
                    ),
                    copies(),
                )
        if rollout is not None and rollout.state is State.BAKING and "tick" not in self.emitted:
            w.clock.advance(minutes=PLANE.env(self.env).bake_minutes)
            tick = envelope(b"{}")
            self.emit(
                "tick",
                lambda w: deliver(
                    w.bus, "tick", tick, topic="monitoring-ticks", decode=decode_tick
                ),
                copies(),
            )


def run(
    env: str, deploy_result: str, choose: Callable[[int], int], copies: Callable[[], int]
) -> World:
    world = make_world(PLANE)
    net = Network(world, env, deploy_result)
    net.command(
        "create",
        copies(),
        type="release.create",
        version=VERSION,
        commit=SHA,
        branch="main",
        author="alice",
    )
    while net.pending:
        message = net.pending.pop(choose(len(net.pending)))
        message.send(world)
        net.react(copies)
    return world


def outcome(world: World, env: str) -> tuple[object, ...]:
    store = world.uow.store
    rollout = store.rollouts[(VERSION, env)]
    moves = [(h.from_state, h.to_state) for h in store.history[VERSION]]
    current = world.uow.read_environment(env).current
    steps = {name: step.status for name, step in rollout.steps.items()}
    return (
        rollout.state,
        moves,
        steps,
        current.release if current else None,
        world.uow.read_environment(env).lock,
        sorted(world.builds.started),
    )


@cache
def in_order(env: str, deploy_result: str) -> tuple[object, ...]:
    """Where the stream ends delivered once each, in order (the same for every example)."""
    return outcome(run(env, deploy_result, choose=lambda n: 0, copies=lambda: 1), env)


SCENARIOS = st.tuples(
    st.sampled_from(["staging", "production"]), st.sampled_from(["SUCCESS", "FAILURE"])
)


@settings(max_examples=500, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(scenario=SCENARIOS, data=st.data())
def test_duplicated_and_reordered_delivery_ends_like_in_order_delivery(
    scenario: tuple[str, str], data: st.DataObject
) -> None:
    env, deploy_result = scenario
    shuffled = run(
        env,
        deploy_result,
        choose=lambda n: data.draw(st.integers(0, n - 1), label="next delivery"),
        copies=lambda: data.draw(st.integers(1, 3), label="copies"),
    )
    assert outcome(shuffled, env) == in_order(env, deploy_result)
    expected = State.LIVE if deploy_result == "SUCCESS" else State.ROLLBACK_FAILED
    assert shuffled.uow.store.rollouts[(VERSION, env)].state is expected
    for entry in shuffled.uow.store.history[VERSION]:
        assert can_move(entry.from_state, entry.to_state), entry
    assert not shuffled.uow.store.dead_letters
