"""What CLI commands share: settings, a Firestore client and a publisher, built on first use."""

from __future__ import annotations

import getpass
import os
from functools import cache
from typing import Any

from shared.config import PlaneConfig, Settings


@cache
def settings() -> Settings:
    return Settings()


def plane() -> PlaneConfig:
    return settings().plane


@cache
def db() -> Any:
    from google.cloud import firestore

    return firestore.Client(project=settings().project)


@cache
def publisher() -> Any:
    from shared.adapters.pubsub import Publisher

    return Publisher(settings().project)


def default_actor() -> str:
    return os.environ.get("RELEASECTL_ACTOR") or getpass.getuser()
