"""What CLI commands share: settings, a Firestore client and a publisher, built on first use by
the composition root (`shared.bootstrap`)."""

from __future__ import annotations

import getpass
import os
from enum import StrEnum
from functools import cache
from typing import TYPE_CHECKING, Any

from shared.config import DEMO_PREFIX, PlaneConfig, Settings, load_config
from shared.errors import ConfigError

if TYPE_CHECKING:
    from shared.adapters.pubsub import Publisher
    from shared.local.state import StackState


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


class Target(StrEnum):
    AUTO = "auto"
    LOCAL = "local"
    EMULATORS = "emulators"
    GCP = "gcp"


EMULATOR_VARS = ("FIRESTORE_EMULATOR_HOST", "PUBSUB_EMULATOR_HOST", "FIREBASE_AUTH_EMULATOR_HOST")
PROJECT_VARS = ("RELEASECTL_CONTROL_PROJECT", "GOOGLE_CLOUD_PROJECT")
START_STACK = "start it with `./deploy.sh local` (or `releasectl local up`)"


def choose_target(target: Target = Target.AUTO) -> Target:
    """Where this run talks to: `local` (the stack `./deploy.sh local` started), `emulators`
    (FIRESTORE_EMULATOR_HOST / PUBSUB_EMULATOR_HOST) or `gcp`. `auto`: the emulator variables
    if set, else a running local stack, else Google Cloud (docs/CLI.md).

    Runs once at the CLI's edge, before any client exists: the Google clients read their
    emulator hosts from the process environment, so the choice is made there.
    """
    if target == Target.GCP:
        for name in EMULATOR_VARS:
            os.environ.pop(name, None)
        settings.cache_clear()
        return Target.GCP
    auto = target == Target.AUTO
    if target == Target.EMULATORS:
        missing = [v for v in EMULATOR_VARS[:2] if not os.environ.get(v)]
        if missing:
            raise ConfigError(f"--target emulators: {' and '.join(missing)} not set")
        return Target.EMULATORS
    if auto and os.environ.get("FIRESTORE_EMULATOR_HOST"):
        return Target.EMULATORS
    from shared.local.state import load, local_dir_from_env

    stack = load(local_dir_from_env())
    if stack is None:
        if target == Target.LOCAL:
            raise ConfigError(f"no local stack is running in {local_dir_from_env()}: {START_STACK}")
        return Target.GCP
    _use_stack(stack, say_ignored=auto)
    return Target.LOCAL


def _use_stack(stack: StackState, *, say_ignored: bool) -> None:
    """The stack's emulators, config and control project, whatever the shell says for Google
    Cloud; in `auto`, a real project set in the shell is named as ignored (on stderr)."""
    ignored = [
        f"{name}={os.environ[name]}"
        for name in PROJECT_VARS
        if os.environ.get(name, DEMO_PREFIX).startswith(DEMO_PREFIX) is False
    ]
    for name in PROJECT_VARS:
        os.environ.pop(name, None)
    os.environ.update(stack.environment())
    os.environ["GOOGLE_CLOUD_PROJECT"] = load_config(stack.config_file).control.project
    settings.cache_clear()
    if ignored and say_ignored:
        from shared.cli.output import err_console

        err_console.print(
            f"note: using the local stack in {stack.local_dir}, not {', '.join(ignored)}: "
            "--target gcp (RELEASECTL_TARGET=gcp) talks to Google Cloud",
            soft_wrap=True,
            highlight=False,
        )


def default_actor() -> str:
    """Who sends a command by default: RELEASECTL_ACTOR, else the person signed in to the
    control project (`releasectl auth login`), else your login name."""
    chosen = os.environ.get("RELEASECTL_ACTOR")
    if chosen:
        return chosen
    from shared.approvals.credentials import signed_in_name

    return signed_in_name(settings()) or getpass.getuser()
