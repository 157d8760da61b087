"""Integration fixtures: the core's function targets, wired once per session."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from shared.approvals import local_users
from shared.cli import context
from shared.domain.roles import ROLES
from shared.local.subscriptions import FunctionServers, serve_functions
from tests.integration.core_stack import CORE_TARGETS, PROJECT, write_config

PEOPLE = ("alice", "bob", "carol", "dave")


@pytest.fixture(scope="session")
def wiring(
    emulator_env: dict[str, str], tmp_path_factory: pytest.TempPathFactory
) -> Iterator[FunctionServers]:
    """Function servers for the core targets behind push subscriptions, with a no-wait bake.

    The same config reaches this process too, so the CLI sees what the functions see.
    """
    directory = tmp_path_factory.mktemp("core")
    no_checks = directory / "checks.toml"  # gates run, none is required; no smoke checks
    no_checks.write_text("")
    users = directory / "users.json"  # the people the CLI signs for, holding every role
    for person in PEOPLE:
        local_users.grant(users, person, list(ROLES))
    env = {
        "RELEASECTL_CONFIG_FILE": str(write_config(directory)),
        "RELEASECTL_BUILD_BACKEND": "none",
        local_users.USERS_FILE_ENV: str(users),
        "RELEASECTL_BACKUP_DIR": str(directory / "backups"),  # production's pre-migrate backups
    }
    servers_only = {"RELEASECTL_CHECKS_FILE": str(no_checks)}  # other tests read the real file
    with pytest.MonkeyPatch.context() as mp:
        for key, value in env.items():
            mp.setenv(key, value)
        context.settings.cache_clear()
        context.db.cache_clear()
        context.publisher.cache_clear()
        wired = serve_functions(
            PROJECT, {**emulator_env, **env, **servers_only}, directory / "logs", CORE_TARGETS
        )
        try:
            yield wired
        finally:
            wired.stop()
            context.settings.cache_clear()
