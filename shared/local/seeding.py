"""What a new local stack's environments hold before the first release: the app's schema and
flags (the migrations), verified compliance evidence for a demo app, and one made-up value for
every declared secret (Stripe keys in the right mode per environment). Never for real projects:
every project here is a `demo-` one."""

from __future__ import annotations

import os
import secrets
import subprocess  # nosec B404 -- subprocess runs fixed argv lists, never a shell
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from shared.clock import utcnow
from shared.config import REPO_ROOT, EnvConfig, PlaneConfig
from shared.local.state import StackState
from shared.secrets.model import SecretSpec

# Stripe role -> key prefix in test and live mode (only the prefix is ever inspected).
_STRIPE_PREFIX = {"secret_key": "sk", "publishable_key": "pk", "restricted_key": "rk"}  # nosec B105 -- Stripe key prefixes, not keys


def demo_value(spec: SecretSpec, live: bool, urls: dict[str, str] | None = None) -> bytes:
    token = secrets.token_hex(16)
    if urls and spec.name in urls:  # the local stack's notification receivers
        return urls[spec.name].encode()
    if spec.stripe is not None:
        return f"{_STRIPE_PREFIX[spec.stripe]}_{'live' if live else 'test'}_{token}".encode()
    if spec.name.endswith("WEBHOOK_SECRET"):
        return f"whsec_{token}".encode()
    if spec.name.endswith("_URL"):  # a webhook with no receiver: nothing listens there
        return f"http://127.0.0.1:9/{spec.name.lower()}/{token}".encode()
    return token.encode()


def seed_secrets(env: EnvConfig, secrets_dir: Path, urls: dict[str, str] | None = None) -> int:
    from shared.secrets.handler import SecretsSettings
    from shared.secrets.local_store import LocalSecretStore

    config = SecretsSettings().config()
    store = LocalSecretStore(secrets_dir, env.project)
    specs = config.for_env(env.name)
    missing = [s for s in specs if store.describe(s.name) is None]
    for spec in missing:
        store.add_version(spec.name, demo_value(spec, config.live_mode(env.name), urls))
    # Webhooks seeded by an earlier stack point at its receivers' ports (or nowhere): re-point.
    for name, url in (urls or {}).items():
        if store.describe(name) is not None and _latest(store, name) != url:
            store.add_version(name, url.encode())
    return len(missing)


def _latest(store: Any, name: str) -> str | None:
    """The newest enabled version's value (None: there is none)."""
    info = store.describe(name)
    enabled = [v for v in info.versions if v.state.value == "enabled"] if info else []
    return str(store.access(name, enabled[-1].id)) if enabled else None


def seed_evidence(env: EnvConfig) -> None:
    from google.cloud import firestore

    from shared.gates.demo_evidence import write_demo_evidence

    client = firestore.Client(project=env.project)
    write_demo_evidence(client, utcnow())


def migrate(state: StackState, env: str) -> None:
    releasectl = Path(sys.executable).parent / "releasectl"
    subprocess.run(  # nosec B603 -- argv list built from trusted values, no shell
        [str(releasectl), "migrate", "up", "--env", env, "--force", "--actor", "local-stack"],
        env={**os.environ, **state.environment()},
        cwd=REPO_ROOT,
        check=True,
        capture_output=True,
    )


def seed(state: StackState, plane: PlaneConfig, say: Callable[[str], None]) -> None:
    from shared.approvals.local_users import seed_demo_users, users_file
    from shared.config import Settings

    path = users_file(Settings())  # the stack's environment is set: its own local dir
    added = seed_demo_users(path)
    if added:
        say(f"local users with roles (emulator tokens): {', '.join(added)} ({path})")
    for name, env in plane.environments.items():
        # Secrets first: the migrations write flags, whose notices read the webhook secrets
        # (and the notifier remembers a missing one for a while).
        urls = state.receivers.webhook_urls(name) if state.receivers else None
        made = seed_secrets(env, state.secrets_dir, urls)
        migrate(state, name)
        seed_evidence(env)
        say(f"seeded {name}: migrations, demo compliance evidence, {made} demo secrets")
