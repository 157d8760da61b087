"""The composition root: the one place that picks adapters. Tests pass fakes to `bootstrap`."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from shared.clock import Clock, utcnow
from shared.config import PlaneConfig, Settings
from shared.dead_letters import DeadLetters
from shared.errors import ConfigError
from shared.service.messagebus import MessageBus
from shared.service.ports import ApprovalCheck, BuildPort, DeployTarget, Ports, UnitOfWork

if TYPE_CHECKING:
    from shared.local.state import StackState


def bootstrap(
    *, uow: UnitOfWork, plane: PlaneConfig, ports: Ports, clock: Clock = utcnow
) -> MessageBus:
    return MessageBus(uow=uow, plane=plane, clock=clock, ports=ports)


def _stack(settings: Settings) -> StackState:
    from shared.local.state import load

    stack = load(settings.local_dir) if settings.local_dir else None
    if stack is None:
        raise ConfigError(f"no local stack is running in {settings.local_dir}")
    return stack


def builds(settings: Settings, db: Any) -> BuildPort:
    from shared.adapters.build_starts import FirestoreBuildStarts
    from shared.adapters.cloudbuild import CloudBuildPort, NoBuildRunner

    backend = settings.backend(settings.build_backend, "cloudbuild")
    if backend == "local":
        from shared.local.build_runner import LocalBuildRunner

        stack = _stack(settings)
        return LocalBuildRunner(stack.local_dir, settings.project, stack.environment())
    if backend == "none":
        return NoBuildRunner()
    return CloudBuildPort(settings.project, FirestoreBuildStarts(db))


def deploy_target(settings: Settings, db: Any) -> DeployTarget:
    from shared.adapters.pending_steps import NoDeployTarget

    backend = settings.backend(settings.deploy_target, "gcp")
    if backend == "local":
        from shared.adapters.firestore_views import release_artifacts
        from shared.local.sample_app import LocalSampleApp

        return LocalSampleApp(_stack(settings), lambda version: release_artifacts(db, version))
    if backend == "gcp":
        from shared.adapters.gcp_deploy_target import gcp_deploy_target

        return gcp_deploy_target()
    return NoDeployTarget()


def approvals(settings: Settings) -> ApprovalCheck:
    """Decisions signed by Firebase ID tokens of the control project (firebase-admin)."""
    from shared.approvals.signed import SignedApprovals
    from shared.approvals.tokens import FirebaseTokenVerifier

    return SignedApprovals(
        lambda: FirebaseTokenVerifier(settings.project),
        required=settings.plane.control.signed_approvals,
    )


def dead_letters(settings: Settings | None = None) -> DeadLetters:
    """`deadLetters` in the control project (what `on_dead_letter` writes to)."""
    from google.cloud import firestore

    from shared.adapters.dead_letters import FirestoreDeadLetters

    settings = settings or Settings()
    return FirestoreDeadLetters(firestore.Client(project=settings.project))


def from_settings(settings: Settings | None = None) -> MessageBus:
    """The bus with real adapters: Google Cloud, the local stack, or bare emulators."""
    from google.cloud import firestore

    from shared.adapters.dead_letters import FirestoreDeadLetters
    from shared.adapters.firestore_store import FirestoreUnitOfWork
    from shared.adapters.migration_ledger import SchemaHistoryLedger
    from shared.adapters.pubsub import Publisher, PubSubEventPublisher, PubSubTickPublisher
    from shared.adapters.release_flags import FirestoreReleaseFlags
    from shared.gates.wiring import gate_runner, smoke_runner
    from shared.monitoring.wiring import bake_analysis

    settings = settings or Settings()
    db = firestore.Client(project=settings.project)
    publisher = Publisher(settings.project)
    ports = Ports(
        builds=builds(settings, db),
        events=PubSubEventPublisher(publisher, settings.release_events_topic),
        gates=gate_runner(settings, control_db=db),
        smoke=smoke_runner(settings),
        bake=bake_analysis(settings, db=db),
        deploy_target=deploy_target(settings, db),
        flags=FirestoreReleaseFlags(),
        approvals=approvals(settings),
        ticks=PubSubTickPublisher(publisher),
        migrations=SchemaHistoryLedger(settings),
        letters=FirestoreDeadLetters(db),
    )
    return bootstrap(uow=FirestoreUnitOfWork(db), plane=settings.plane, ports=ports)
