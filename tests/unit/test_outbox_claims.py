"""Outbox claims: the runner that committed an outbox carries it out; a redelivery or the
tick's sweep takes it over only once its claim has lapsed, oldest first."""

from __future__ import annotations

from datetime import timedelta

import pytest

from shared.config import PlaneConfig
from shared.domain.messages import StepReport
from shared.domain.model import Release
from shared.domain.states import State
from shared.service.ports import OUTBOX_LEASE, Processed
from tests.unit.fakes import Driver, make_world
from tests.unit.test_rollout_flow import create, promote


@pytest.fixture
def d(plane: PlaneConfig) -> Driver:
    return Driver(make_world(plane))


def _slow_gates(d: Driver, during: object) -> list[str]:
    """Gates that take long: while they run, `during` happens (a redelivery, a tick)."""
    runs: list[str] = []
    real = d.w.gates.run

    def slow(release: Release, env: object) -> StepReport:
        runs.append(release.version)
        if len(runs) == 1:
            d.w.clock.advance(minutes=3)  # longer than Pub/Sub's ack deadline
            during()  # type: ignore[operator]
        return real(release, env)  # type: ignore[arg-type]

    d.w.gates.run = slow  # type: ignore[method-assign]
    return runs


def test_a_redelivery_while_the_runner_works_does_not_run_the_outbox_again(d: Driver) -> None:
    create(d)
    payload = {"type": "release.promote", "release": "1.2.0", "env": "production", "actor": "al"}
    runs = _slow_gates(d, lambda: d.command(event_id="p-1", **payload))
    d.command(event_id="p-1", **payload)
    assert runs == ["1.2.0"]  # the gates ran once
    assert d.rollout("1.2.0", "production").state is State.AWAITING_APPROVAL
    assert all(p.effects_done for p in d.w.uow.store.processed.values())


def test_the_sweep_leaves_a_claimed_outbox_to_its_runner(d: Driver) -> None:
    create(d)
    runs = _slow_gates(d, lambda: d.tick())
    promote(d, "1.2.0", "production")
    assert runs == ["1.2.0"]


def _crash_after_commit(d: Driver, version: str) -> str:
    """Promote `version` to staging, the runner dying after its commit (the outbox is left
    claimed, no effect carried out)."""
    real = d.w.bus._carry_out

    def die(record: Processed, *, claimed: bool) -> None:
        if claimed:
            raise SystemExit("instance killed")
        real(record, claimed=claimed)

    before = {k for k, p in d.w.uow.store.processed.items() if not p.effects_done}
    d.w.bus._carry_out = die  # type: ignore[method-assign]
    with pytest.raises(SystemExit):
        promote(d, version, "staging")
    d.w.bus._carry_out = real  # type: ignore[method-assign]
    (key,) = [
        k for k, p in d.w.uow.store.processed.items() if not p.effects_done and k not in before
    ]
    return key


def test_a_dead_runners_outbox_is_swept_once_its_claim_lapses(d: Driver) -> None:
    create(d)
    key = _crash_after_commit(d, "1.2.0")
    d.w.clock.advance(minutes=5)
    d.tick()  # the claim still holds: the runner might only be slow
    assert "1.2.0/staging/1/migrate" not in d.w.builds.started
    assert not d.w.uow.store.processed[key].effects_done
    d.w.clock.advance(seconds=OUTBOX_LEASE.total_seconds())
    d.tick()
    assert "1.2.0/staging/1/migrate" in d.w.builds.started
    assert d.w.uow.store.processed[key].effects_done


def test_the_sweep_takes_the_longest_lapsed_claims_first(d: Driver) -> None:
    left = []
    for n in range(3):
        version = f"1.{n}.0"
        create(d, version)
        left.append(_crash_after_commit(d, version))
        d.w.clock.advance(minutes=1)
        # each rollout frees staging for the next: cancel it in the store only
        d.w.uow.store.envs["staging"].lock = None
    d.w.clock.advance(seconds=OUTBOX_LEASE.total_seconds())
    lapsed = d.w.uow.unfinished(d.w.clock(), limit=2)
    assert [p.key for p in lapsed] == left[:2]


def test_a_claim_is_taken_by_one_runner_only(d: Driver) -> None:
    create(d)
    key = _crash_after_commit(d, "1.2.0")
    later = d.w.clock() + OUTBOX_LEASE + timedelta(seconds=1)
    first = d.w.uow.claim(key, later, later + OUTBOX_LEASE)
    second = d.w.uow.claim(key, later, later + OUTBOX_LEASE)
    assert first is not None and second is None


def test_outbox_lease_outlasts_every_function_timeout() -> None:
    from shared.deploy.catalog import SPECS

    assert OUTBOX_LEASE.total_seconds() > max(spec.timeout_s for spec in SPECS.values())
