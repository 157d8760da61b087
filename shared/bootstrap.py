"""The composition root: the one place that picks adapters. Tests pass fakes to `bootstrap`."""

from __future__ import annotations

from datetime import UTC, datetime

from shared.config import PlaneConfig, Settings
from shared.service.messagebus import MessageBus, Ports
from shared.service.ports import BuildPort, Clock, UnitOfWork


def utcnow() -> datetime:
    return datetime.now(UTC)


def bootstrap(
    *, uow: UnitOfWork, plane: PlaneConfig, ports: Ports, clock: Clock = utcnow
) -> MessageBus:
    return MessageBus(uow=uow, plane=plane, clock=clock, ports=ports)


def _builds(settings: Settings) -> BuildPort:
    from shared.adapters.cloudbuild import CloudBuildPort, NoBuildRunner

    backend = settings.build_backend
    if backend == "auto":
        backend = "none" if settings.local else "cloudbuild"
    return NoBuildRunner() if backend == "none" else CloudBuildPort(settings.project)


def from_settings(settings: Settings | None = None) -> MessageBus:
    """The bus with real adapters: Google Cloud, or the emulators when their hosts are set."""
    from google.cloud import firestore

    from shared.adapters.firestore_store import FirestoreUnitOfWork
    from shared.adapters.pending_steps import (
        NoBakeAnalysis,
        NoDeployTarget,
        NoGates,
        NoSmokeTests,
    )
    from shared.adapters.pubsub import Publisher, PubSubEventPublisher

    settings = settings or Settings()
    publisher = Publisher(settings.project)
    ports = Ports(
        builds=_builds(settings),
        events=PubSubEventPublisher(publisher, settings.release_events_topic),
        gates=NoGates(),
        smoke=NoSmokeTests(),
        bake=NoBakeAnalysis(),
        deploy_target=NoDeployTarget(),
    )
    db = firestore.Client(project=settings.project)
    return bootstrap(uow=FirestoreUnitOfWork(db), plane=settings.plane, ports=ports)
