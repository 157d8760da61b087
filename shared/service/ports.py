"""Ports: what the handlers need from the outside world, as small Protocols.

Adapters for Google Cloud and for the local stack live in `shared.adapters`; unit tests use
fakes in `tests/unit/fakes.py`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any, Literal, Protocol, TypeVar

from pydantic import BaseModel, Field

from shared.backups.model import BackupRecord
from shared.clock import Clock
from shared.config import EnvConfig
from shared.dead_letters import DeadLetter, DeliveryFailure, event_key
from shared.domain.commands import FlagCommand
from shared.domain.effects import BreachAlert, Effect, ReleaseEvent, StartBuild
from shared.domain.messages import StepReport
from shared.domain.model import (
    Deployed,
    DeployPart,
    Doc,
    EnvironmentState,
    HistoryEntry,
    Release,
    Rollout,
)
from shared.domain.operations import Operation
from shared.mobile.handler import NoKillSwitches, TrainStores
from shared.mobile.model import TrackLock, Train, TrainEntry
from shared.mobile.ports import KillSwitchPort, StoreCalls, VitalsSource
from shared.transport import PubSubMessage

if TYPE_CHECKING:
    from shared.approvals.tokens import Identity

T = TypeVar("T")
# How long the runner that committed an outbox (or took it over) has to carry it out before the
# tick's sweep may take it: longer than any function's timeout (300 s), so a slow gate or smoke
# run is never run twice at once.
OUTBOX_LEASE = timedelta(minutes=10)
Outcome = Literal["applied", "ignored", "refused"]


class Processed(Doc):
    """The record of one handled event (`processedEvents/{topic}:{eventId}`) and its outbox.

    An outbox is carried out by whoever holds its claim (`claimed_until`): the delivery that
    committed it, or, once that claim has lapsed (a crash), the tick's sweep or a redelivery.
    """

    event_id: str
    topic: str
    at: datetime
    outcome: Outcome
    note: str = ""
    release: str | None = None
    env: str | None = None
    effects: list[Effect] = Field(default_factory=list)
    effects_done: bool = True
    claimed_until: datetime | None = None

    @property
    def key(self) -> str:
        return event_key(self.topic, self.event_id)


class DeadLetters(Protocol):
    """Where dead letters and the last failure of each failing message are kept."""

    def put(self, letter: DeadLetter) -> None: ...

    def note_failure(self, failure: DeliveryFailure) -> None: ...

    def last_failure(self, fingerprint: str) -> DeliveryFailure | None: ...


class Consumer(Protocol):
    """A Pub/Sub consumer outside the release bus (notifications, metrics)."""

    @property
    def letters(self) -> DeadLetters: ...

    @property
    def clock(self) -> Clock: ...

    def refuse(
        self, event_id: str, reason: str, payload: bytes, attributes: dict[str, str]
    ) -> object: ...

    def handle(self, message: PubSubMessage) -> object: ...


class Tx(Protocol):
    """The store as seen inside one transaction: reads first, then staged writes."""

    def prefetch(self, topic: str, event_id: str, release: str | None, env: str | None) -> None: ...
    def processed(self, topic: str, event_id: str) -> Processed | None:
        """The record of this event of this topic (also under the id used before ids were
        per topic, so a redelivery across that change is still a duplicate)."""
        ...

    def release(self, version: str) -> Release | None: ...
    def rollout(self, version: str, env: str) -> Rollout | None: ...
    def environment(self, env: str) -> EnvironmentState: ...
    def deployment(
        self, version: str, env: str, attempt: int, step: str = "deploy"
    ) -> dict[str, str] | None:
        """Artifacts the `step` build (deploy, finish) of that attempt recorded
        (`record_deployment`)."""
        ...

    def train(self, version: str, platform: str) -> Train | None: ...
    def track_lock(self, platform: str, track: str) -> TrackLock | None: ...
    def put_release(self, release: Release) -> None: ...
    def put_rollout(self, rollout: Rollout) -> None: ...
    def put_train(self, train: Train) -> None: ...
    def put_track_lock(self, lock: TrackLock) -> None: ...
    def add_train_history(self, release: str, platform: str, entry: TrainEntry) -> None: ...
    def put_environment(self, env: EnvironmentState) -> None: ...
    def operation(self, env: str, key: str) -> Operation | None:
        """`environments/{env}/operations/{key}`: a flag change or backup asked for."""
        ...

    def put_operation(self, op: Operation) -> None: ...
    def add_history(self, release: str, entry: HistoryEntry) -> None: ...
    def mark_processed(self, record: Processed) -> None: ...


class UnitOfWork(Protocol):
    def atomically(self, work: Callable[[Tx], T]) -> T:
        """Run `work` in one transaction (retried on contention) and commit its writes.

        A transaction that staged no write is rolled back instead of committed: a duplicate
        costs its reads and nothing else.
        """
        ...

    def finish_effects(self, key: str) -> None: ...
    def claim(self, key: str, now: datetime, until: datetime) -> Processed | None:
        """Take the claim on an unfinished outbox whose claim has lapsed (atomically: of two
        runners, one gets it); None if it is done or someone else holds it."""
        ...

    def release_claim(self, key: str) -> None:
        """Give up a claim at once (a runner that failed), so a redelivery may take it."""
        ...

    def refuse(self, record: Processed, letter: DeadLetter) -> None: ...
    def unfinished(self, now: datetime, limit: int) -> list[Processed]:
        """Unfinished outboxes whose claim has lapsed, the longest lapsed first (and, until
        none is left, those written before claims existed, older than `OUTBOX_LEASE`)."""
        ...

    def read_release(self, version: str) -> Release | None: ...
    def record_deployment(
        self,
        version: str,
        env: str,
        attempt: int,
        artifacts: dict[str, str],
        build_id: str,
        *,
        step: str = "deploy",
    ) -> None: ...
    def read_environment(self, env: str) -> EnvironmentState: ...
    def read_rollout(self, version: str, env: str) -> Rollout | None: ...


class BuildPort(Protocol):
    def start(self, request: StartBuild) -> str:
        """Start the build once per `request.key` (a repeat returns the same build id)."""
        ...


class EventPublisher(Protocol):
    def publish(self, event: ReleaseEvent) -> None: ...

    def alert(self, alert: BreachAlert) -> None: ...

    def operation(self, operation: Operation) -> None: ...


class CommandCheck(Protocol):
    """Is this command really its sender's, and may they send it there? Returns the command
    as sent by its verified sender (actor rewritten) and who that is (None: an unsigned
    command the config allows); raises `Refused` (dead letter) if not."""

    def check(self, cmd: BaseModel) -> tuple[BaseModel, Identity | None]: ...


class SecretValues(Protocol):
    """Registers an environment's current secret values with `shared.redaction`, so free text
    quoting one is scrubbed. Best effort: a store that cannot be read leaves the shapes net."""

    def remember(self, env: EnvConfig) -> None: ...


class BackupPort(Protocol):
    """Backs an environment's database up, and restores a backup (`shared.backups`)."""

    def take(
        self,
        env: EnvConfig,
        trigger: Literal["rollout", "rollback", "manual"],
        release: str | None,
        by: str | None = None,
        *,
        attempt: int | None = None,
        for_operation: str | None = None,
    ) -> BackupRecord:
        """The backup's record: finished, or `running` (a managed export: `settle` ends it).
        Raises if it could not be started."""
        ...

    def settle(
        self,
        env: EnvConfig,
        deliver: Callable[[BackupRecord], None],
        still: Callable[[BackupRecord], None] | None = None,
    ) -> int:
        """Hand each of the env's running backups and imports that has ended since to
        `deliver` (an import: its backup with `restoring` ended), then record it ended; each
        export still running to `still`. How many ended."""
        ...

    def restore(
        self,
        backup: str,
        env: EnvConfig,
        *,
        force: bool,
        include_protected: bool,
        for_operation: str | None = None,
    ) -> tuple[BackupRecord, list[str], int | None]:
        """Import `backup` into `env`: its record, the collections written and how many
        documents (when known). A managed import runs on: the record comes back with
        `restoring` (its operation), ended by `settle`. `Refused` for a backup that may not
        be restored there, or while another restore or a backup of `env` is running."""
        ...


class NoBackups:
    """No backup target: a step that needs a backup fails, saying so."""

    def take(
        self,
        env: EnvConfig,
        trigger: Literal["rollout", "rollback", "manual"],
        release: str | None,
        by: str | None = None,
        *,
        attempt: int | None = None,
        for_operation: str | None = None,
    ) -> BackupRecord:
        raise RuntimeError("no backup target is configured for this process")

    def settle(
        self,
        env: EnvConfig,
        deliver: Callable[[BackupRecord], None],
        still: Callable[[BackupRecord], None] | None = None,
    ) -> int:
        return 0

    def restore(
        self,
        backup: str,
        env: EnvConfig,
        *,
        force: bool,
        include_protected: bool,
        for_operation: str | None = None,
    ) -> tuple[BackupRecord, list[str], int | None]:
        raise RuntimeError("no backup target is configured for this process")


class FlagChangePort(Protocol):
    """A person's flag command carried out in its env (`shared.flags.changes`): what it did,
    ok=False for a change the flag's rules refuse (raises only for what a retry may fix)."""

    def apply(self, env: EnvConfig, cmd: FlagCommand) -> StepReport: ...


class NoFlagChanges:
    """No flag service (tests that never change flags): every change fails, saying so."""

    def apply(self, env: EnvConfig, cmd: FlagCommand) -> StepReport:
        return StepReport(ran=False, ok=False, summary="no flag service in this process")


class NoSecretValues:
    """No secret store (unit tests, tools): only the credential shapes are scrubbed."""

    def remember(self, env: EnvConfig) -> None:
        return None


class MigrationLedger(Protocol):
    """Which migrations a release applied to an env (the env's schema history). Never raises
    for a read failure: it returns `{"error": why}`, since the record is evidence, not a gate."""

    def applied(self, release: str, env: EnvConfig) -> dict[str, Any]: ...


class TickPublisher(Protocol):
    """Sends one environment its own monitoring tick (`monitoring-ticks`, `{"env": …}`)."""

    def publish(self, env: str) -> None: ...


class GateRunner(Protocol):
    """Compliance gates and the CI build's own results (issue: gates and monitoring)."""

    def run(self, release: Release, env: EnvConfig) -> StepReport: ...


class SmokeRunner(Protocol):
    """`base_url`: where the new release answers by itself (a canary), else the env's URL."""

    def run(self, release: Release, env: EnvConfig, base_url: str | None = None) -> StepReport: ...


class BakeAnalysis(Protocol):
    """Reads the env's metrics and judges them; ok=False with ran=True is a confirmed breach."""

    def evaluate(
        self, rollout: Rollout, env: EnvConfig, now: datetime, stable: str | None = None
    ) -> StepReport:
        """A `baking` rollout: every window since the bake began; with `stable` (the env's
        current release) the canary judge compares both releases where it is enabled."""
        ...

    def watch(
        self, rollout: Rollout, env: EnvConfig, serving_since: datetime, now: datetime
    ) -> StepReport:
        """A `live` rollout: the latest windows since its release (re)started serving. A
        confirmed breach's report has `breachStart`/`breachEnd` (window starts) in `detail`."""
        ...


class ReleaseFlags(Protocol):
    """Sets the flags a release turns on when live, in the env's project, and takes them back."""

    def turn_on(self, release: str, env: EnvConfig, spec: str) -> list[dict[str, Any]]: ...

    def turn_off(
        self, release: str, env: EnvConfig, applied: list[dict[str, Any]]
    ) -> list[dict[str, Any]]: ...


class DeployTarget(Protocol):
    """Where a release runs: functions, Firestore rules and indexes, hosting (or, locally, the
    sample app). `deploy` runs inside the deploy build; `restore` inside a rollback."""

    def deploy(self, release: str, env: EnvConfig, part: DeployPart = "all") -> dict[str, str]:
        """Make `release` serve in `env` (`part` of it: everything; only what can split traffic,
        its new revisions kept at 0 %; or only what cannot); return the artifact references a
        rollback needs of what it deployed."""
        ...

    def restore(self, target: Deployed, env: EnvConfig) -> StepReport:
        """Make the recorded `target` serve again; never touches user data."""
        ...

    def split(
        self, canary: dict[str, str], stable: Deployed | None, percent: int, env: EnvConfig
    ) -> StepReport:
        """Send `percent` of the traffic of each splittable target to the new release's
        revision (`canary`: its recorded artifacts), the rest to `stable`'s. Safe to repeat."""
        ...


Payload = dict[str, Any]


@dataclass
class Ports:
    """Every port the message bus and its outbox use (chosen by `shared.bootstrap`)."""

    builds: BuildPort
    events: EventPublisher
    gates: GateRunner
    smoke: SmokeRunner
    bake: BakeAnalysis
    deploy_target: DeployTarget
    flags: ReleaseFlags
    approvals: CommandCheck
    ticks: TickPublisher
    migrations: MigrationLedger
    letters: DeadLetters
    secret_values: SecretValues = field(default_factory=NoSecretValues)
    backups: BackupPort = field(default_factory=NoBackups)
    # people's flag commands (flags.set|kill|unkill), through each env's flag store
    flag_changes: FlagChangePort = field(default_factory=NoFlagChanges)
    # the app stores (mobile trains); without [mobile] a store call is refused, never made
    stores: StoreCalls = field(default_factory=lambda: TrainStores(None, None, None))
    # a crash breach's kill switches (the flag service of the mobile env)
    kill_switches: KillSwitchPort = field(default_factory=lambda: NoKillSwitches())
    # Play's crash-rate vitals, read on the tick (None: not configured)
    vitals: VitalsSource | None = None
