"""Flag changes and backups as signed commands: the `flags` and `operator` roles per
environment, the verified sender recorded on the flag and on the operation, one change per
command however often it is delivered or carried out."""

from __future__ import annotations

import json
from typing import Any

import pytest

from shared.config import EnvConfig, PlaneConfig
from shared.domain.commands import SetFlag, parse_command
from shared.domain.messages import OperationRunning
from shared.domain.operations import Operation
from shared.domain.roles import denial, required_role
from shared.errors import Refused
from shared.flags.changes import FlagChanges
from shared.service import outbox
from tests.unit.fakes import Driver, FakeFlagStore, FakeVerifier, make_world

FLAGS = FakeVerifier.token_of("fay@avalo.app", "flags")
OPERATOR = FakeVerifier.token_of("ops@avalo.app", "operator")
RELEASER = FakeVerifier.token_of("rel@avalo.app", "releaser")
VIDEO = {"enabled": True, "rolloutPercent": 5, "owner": "calls"}


@pytest.fixture
def d(plane: PlaneConfig) -> Driver:
    driver = Driver(make_world(plane))
    driver.w.flag_store.docs["videoCalls"] = dict(VIDEO)
    return driver


def operation(d: Driver, event_id: str) -> Operation:
    return next(
        op for (_env, key), op in d.w.uow.store.operations.items() if key.endswith(f":{event_id}")
    )


def set_flag(d: Driver, token: str = FLAGS, event_id: str = "f-1", **fields: Any) -> Any:
    body = {"type": "flags.set", "env": "staging", "flag": "videoCalls", "actor": "me"}
    return d.command(event_id=event_id, id_token=token, **{**body, **fields})


# -- roles (pure) ------------------------------------------------------------------------------


@pytest.mark.parametrize("env", ["dev", "staging", "production"])
@pytest.mark.parametrize(
    ("command", "role"),
    [
        ("flags.set", "flags"),
        ("flags.kill", "flags"),
        ("flags.unkill", "flags"),
        ("backup.take", "operator"),
        ("backup.restore", "operator"),
    ],
)
def test_flag_and_backup_commands_need_their_role_in_every_env(
    env: str, command: str, role: str
) -> None:
    assert required_role(command, env) == role
    assert denial(command, env, "ann", {role}) is None
    why = denial(command, env, "ann", {"releaser", "approver", "viewer"} - {role})
    assert why is not None and f"needs the role {role!r}" in why and f"in {env}" in why


def test_an_env_may_open_flag_changes_to_anyone_signed_in() -> None:
    dev = {"flags.set": "anyone"}
    assert denial("flags.set", "dev", "ann", set(), dev) is None  # type: ignore[arg-type]
    assert denial("flags.set", "production", "ann", set()) is not None


# -- the commands (pure) -----------------------------------------------------------------------


def parse(**payload: Any) -> Any:
    return parse_command(json.dumps(payload).encode())


def test_a_flag_set_that_changes_nothing_or_names_a_bad_flag_is_refused() -> None:
    base = {"type": "flags.set", "env": "dev", "actor": "a"}
    with pytest.raises(Refused, match="nothing to change"):
        parse(**base, flag="videoCalls")
    with pytest.raises(Refused, match="flag:"):
        parse(**base, flag="9lives", enabled=True)
    with pytest.raises(Refused, match="rollout_percent:"):
        parse(**base, flag="videoCalls", rollout_percent=140)
    ok = parse(**base, flag="videoCalls", rollout_percent=12.5)
    assert isinstance(ok, SetFlag) and ok.rollout_percent == 12.5


# -- through the bus ---------------------------------------------------------------------------


def test_a_flag_change_is_made_as_its_verified_sender_and_recorded(d: Driver) -> None:
    done = set_flag(d, actor="fay@avalo.app", rollout_percent=10)
    assert done.outcome == "applied" and done.env == "staging" and done.release is None
    assert done.effects_done
    assert d.w.flag_store.docs["videoCalls"]["rolloutPercent"] == 10
    assert d.w.flag_store.docs["videoCalls"]["updatedBy"] == "fay@avalo.app"
    op = operation(d, "f-1")
    assert (op.status, op.kind, op.actor, op.actor_uid) == (
        "done",
        "flags.set",
        "fay@avalo.app",
        "fay@avalo.app",
    )
    assert op.asked == "set videoCalls: rollout 10%"
    assert op.result == "videoCalls in staging: on, rollout 10%"
    assert op.detail["before"]["rolloutPercent"] == 5 and op.detail["after"]["rolloutPercent"] == 10


def test_a_sender_without_the_flags_role_is_refused_naming_it(d: Driver) -> None:
    refused = d.command(
        type="flags.kill", env="production", flag="videoCalls", actor="ops", id_token=OPERATOR
    )
    assert refused.outcome == "refused"
    (letter,) = d.w.uow.store.dead_letters.values()
    assert "needs the role 'flags'" in letter.reason and "in production" in letter.reason
    assert d.w.flag_store.writes == [] and d.w.uow.store.operations == {}


def test_an_unsigned_or_impersonating_flag_command_is_refused(d: Driver) -> None:
    unsigned = d.command(
        sign=False, type="flags.kill", env="staging", flag="videoCalls", actor="fay"
    )
    assert unsigned.outcome == "refused" and "is not signed" in unsigned.note
    posing = set_flag(d, actor="boss@avalo.app", enabled=False, event_id="f-2")
    assert posing.outcome == "refused" and "does not match" in posing.note
    assert d.w.flag_store.writes == []


def test_a_redelivered_flag_command_is_one_change(d: Driver) -> None:
    first = set_flag(d, actor="fay@avalo.app", rollout_percent=20)
    again = set_flag(d, actor="fay@avalo.app", rollout_percent=20)  # same message id
    assert first.outcome == again.outcome == "applied"
    assert d.w.flag_store.writes == [("videoCalls", "fay@avalo.app")]
    assert len(d.w.uow.store.operations) == 1


def test_an_outbox_carried_out_twice_writes_the_flag_once(d: Driver) -> None:
    """A runner that dies after the write leaves its outbox to be carried out again."""
    set_flag(d, actor="fay@avalo.app", enabled=False)
    record = d.w.uow.store.processed["release-commands:f-1"]
    (effect,) = record.effects
    runner = outbox.Outside(d.w.bus.ports, d.w.bus.plane, d.w.uow.read_release)
    result = outbox.run_operation(runner, effect)
    assert result.ok and result.result.endswith("already off, rollout 5%")
    assert d.w.flag_store.writes == [("videoCalls", "fay@avalo.app")]
    closed = d.w.bus.handle(result, event_id=f"{record.key}/0", topic="internal")
    assert closed.outcome == "applied"  # the first result closed it: this one was a duplicate
    assert operation(d, "f-1").status == "done"


def test_killing_a_killed_flag_writes_nothing_and_says_so(d: Driver) -> None:
    kill = {"type": "flags.kill", "env": "staging", "flag": "videoCalls", "actor": "fay@avalo.app"}
    d.command(event_id="k-1", id_token=FLAGS, **kill)
    d.command(event_id="k-2", id_token=FLAGS, **kill)
    assert d.w.flag_store.writes == [("videoCalls", "fay@avalo.app")]
    assert operation(d, "k-2").result == "videoCalls in staging: already KILLED, rollout 5%"


def test_a_change_the_flag_rules_refuse_fails_the_operation_and_writes_nothing(d: Driver) -> None:
    d.w.flag_store.docs["refundButtons"] = {"enabled": True, "rolloutPercent": 100}
    d.command(
        event_id="k-1",
        id_token=FLAGS,
        type="flags.kill",
        env="production",
        flag="refundButtons",
        actor="fay@avalo.app",
    )
    op = operation(d, "k-1")
    assert op.status == "failed" and "refundButtons" in op.result
    unknown = set_flag(d, flag="ghost", enabled=True, actor="fay@avalo.app", event_id="f-9")
    assert unknown.outcome == "applied"
    assert operation(d, "f-9").result == "unknown flag 'ghost' (use --create to add it)"
    assert d.w.flag_store.writes == []


def test_create_is_one_change_even_when_carried_out_again() -> None:
    store = FakeFlagStore()
    changes = FlagChanges(lambda project: store)
    cmd = parse(type="flags.set", env="dev", flag="newThing", actor="a", create=True, enabled=True)
    env = EnvConfig(name="dev", project="demo-avalo-dev")
    assert changes.apply(env, cmd).detail["changed"] is True
    again = changes.apply(env, cmd)
    assert again.ok and again.detail["changed"] is False and len(store.writes) == 1


def test_a_backup_is_taken_as_its_verified_operator(d: Driver) -> None:
    done = d.command(
        event_id="b-1", type="backup.take", env="staging", actor="ops@avalo.app", id_token=OPERATOR
    )
    assert done.outcome == "applied"
    assert d.w.backups.taken == [("staging", "manual", None)]
    assert d.w.backups.by == ["ops@avalo.app"]
    op = operation(d, "b-1")
    assert op.status == "done" and op.detail["id"] == "staging-1" and op.actor == "ops@avalo.app"
    refused = d.command(
        event_id="b-2", type="backup.take", env="staging", actor="rel@avalo.app", id_token=RELEASER
    )
    assert refused.outcome == "refused" and "needs the role 'operator'" in refused.note


def restore(d: Driver, event_id: str, **fields: Any) -> Any:
    body = {"type": "backup.restore", "actor": "ops@avalo.app", "backup": "production-1"}
    return d.command(event_id=event_id, id_token=OPERATOR, **{**body, **fields})


def test_restoring_production_needs_force_and_protected_collections_need_their_flag(
    d: Driver,
) -> None:
    d.command(type="backup.take", env="production", actor="ops@avalo.app", id_token=OPERATOR)
    unforced = restore(d, "r-1", env="production")
    assert unforced.outcome == "refused" and "needs force" in unforced.note
    assert d.w.backups.restored == []
    restore(d, "r-2", env="production", force=True)
    assert d.w.backups.restored == [("production-1", "production", ["featureFlags"])]
    op = operation(d, "r-2")
    assert op.status == "done" and op.detail["collections"] == ["featureFlags"]
    restore(d, "r-3", env="production", force=True, include_protected=True)
    assert d.w.backups.restored[-1][2] == ["featureFlags", "users"]
    assert operation(d, "r-3").asked.endswith("including the protected collections")


def test_restoring_an_unknown_or_another_envs_backup_fails_the_operation(d: Driver) -> None:
    d.command(type="backup.take", env="production", actor="ops@avalo.app", id_token=OPERATOR)
    restore(d, "r-1", env="staging")
    assert operation(d, "r-1").status == "failed"
    assert operation(d, "r-1").result == "backup production-1 is of production, not staging"
    restore(d, "r-2", env="staging", backup="nope")
    assert operation(d, "r-2").result == "no backup 'nope'"
    assert d.w.backups.restored == []


# -- who hears of it ---------------------------------------------------------------------------


def test_backups_and_failed_flag_changes_are_announced_once_made_flag_changes_by_the_guard(
    d: Driver,
) -> None:
    set_flag(d, actor="fay@avalo.app", rollout_percent=10)  # the flag guard announces this one
    assert d.w.events.operations == []
    d.command(type="backup.take", env="production", actor="ops@avalo.app", id_token=OPERATOR)
    restore(d, "r-1", env="production", force=True)
    restore(d, "r-1", env="production", force=True)  # redelivered: not announced again
    unknown = set_flag(d, flag="ghost", enabled=True, actor="fay@avalo.app", event_id="f-9")
    assert unknown.outcome == "applied"
    announced = [(op.kind, op.status, op.actor) for op in d.w.events.operations]
    assert announced == [
        ("backup.take", "done", "ops@avalo.app"),
        ("backup.restore", "done", "ops@avalo.app"),
        ("flags.set", "failed", "fay@avalo.app"),
    ]
    assert d.w.events.operations[1] == operation(d, "r-1")


# -- managed imports run on: the tick closes the operation ---------------------------------------


def importing(d: Driver) -> Operation:
    """A managed restore of production-1 asked for as r-1: running, with its operation."""
    d.command(type="backup.take", env="production", actor="ops@avalo.app", id_token=OPERATOR)
    d.w.backups.managed = True
    restore(d, "r-1", env="production", force=True)
    return operation(d, "r-1")


def test_a_managed_restore_runs_on_recorded_with_its_operation_until_the_tick_closes_it(
    d: Driver,
) -> None:
    op = importing(d)
    assert op.status == "running" and op.detail["lro"].endswith("/operations/import-1")
    assert op.result.startswith("restoring production-1 into production (featureFlags)")
    d.tick("production")  # still importing: nothing closes, nobody hears of it yet
    assert operation(d, "r-1").status == "running"
    assert [o.kind for o in d.w.events.operations] == ["backup.take"]
    d.w.backups.imports = "done"
    d.tick("production")
    op = operation(d, "r-1")
    assert op.status == "done" and op.finished_at is not None
    assert op.result == "restored the documents of production-1 into production (featureFlags)"
    assert op.detail["lro"].endswith("/operations/import-1")
    assert [(o.kind, o.status) for o in d.w.events.operations][-1] == ("backup.restore", "done")


def test_a_managed_restore_that_fails_closes_its_operation_with_firestores_reason(
    d: Driver,
) -> None:
    importing(d)
    d.w.backups.imports = "managed import failed: PERMISSION_DENIED on gs://b"
    d.tick("production")
    op = operation(d, "r-1")
    assert (
        op.status == "failed" and op.result == "managed import failed: PERMISSION_DENIED on gs://b"
    )
    assert d.w.events.operations[-1] == op


def test_an_import_end_delivered_again_changes_nothing(d: Driver) -> None:
    """A tick that dies after closing the operation but before recording the import ended
    delivers the end again on the next tick: same id, nothing changes, nobody hears twice."""
    importing(d)
    running = d.w.backups.records["production-1"]
    d.w.backups.imports = "done"
    d.tick("production")
    closed, heard = operation(d, "r-1"), list(d.w.events.operations)
    d.w.backups.records["production-1"] = running  # its end was not recorded
    d.w.clock.advance(minutes=1)
    d.tick("production")
    assert d.w.backups.records["production-1"].restoring is None
    assert operation(d, "r-1") == closed and d.w.events.operations == heard


def test_the_import_running_again_after_a_crash_is_recorded_once(d: Driver) -> None:
    """The runner carried out again after it started the import records the same running
    state: the operation stays running, recorded once."""
    importing(d)
    op = operation(d, "r-1")
    record = next(
        r
        for r in d.w.uow.store.processed.values()
        if r.effects and r.effects[0].kind == "operation" and r.event_id == "r-1"
    )
    runner = outbox.Outside(d.w.bus.ports, d.w.bus.plane, d.w.uow.read_release)
    again = outbox.run_operation(runner, record.effects[0])
    assert isinstance(again, OperationRunning) and again.operation == op.id
    d.w.bus.handle(again, event_id=f"{record.key}/0-again", topic="internal")
    assert operation(d, "r-1") == op and len(d.w.backups.restored) == 1
