"""What CLI commands share: settings, a Firestore client and a publisher, built on first use by
the composition root (`shared.bootstrap`)."""

from __future__ import annotations

import getpass
import os
from functools import cache
from typing import TYPE_CHECKING, Any

from shared.config import PlaneConfig, Settings

if TYPE_CHECKING:
    from shared.adapters.pubsub import Publisher


@cache
def settings() -> Settings:
    return Settings()


def plane() -> PlaneConfig:
    return settings().plane


@cache
def db() -> Any:
    from shared.bootstrap import control_db

    return control_db(settings())


@cache
def publisher() -> Publisher:
    from shared.bootstrap import publisher

    return publisher(settings())


def use_local_stack() -> bool:
    """With no emulator configured, talk to the local stack `./deploy.sh local` started.

    Runs once at the CLI's edge, before any client exists: the Google clients only read their
    emulator hosts from the environment.
    """
    if os.environ.get("FIRESTORE_EMULATOR_HOST"):
        return False
    from shared.local.state import load, local_dir_from_env

    stack = load(local_dir_from_env())
    if stack is None:
        return False
    os.environ.update(stack.environment())
    settings.cache_clear()
    return True


def default_actor() -> str:
    """Who sends a command by default: RELEASECTL_ACTOR, else the person signed in to the
    control project (`releasectl auth login`), else your login name."""
    chosen = os.environ.get("RELEASECTL_ACTOR")
    if chosen:
        return chosen
    from shared.approvals.credentials import signed_in_name

    return signed_in_name(settings()) or getpass.getuser()
