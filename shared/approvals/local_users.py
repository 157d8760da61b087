"""The local stack's people and their roles: what `releasectl` puts in the emulator tokens it
mints (the custom claim `roles`), since no Firebase Authentication runs locally.

A JSON file (`$RELEASECTL_LOCAL_DIR/auth/users.json`, or `RELEASECTL_USERS_FILE`), seeded by
`./deploy.sh local` with the demo users and changed by `releasectl auth grant` on a `demo-`
project. On Google Cloud the roles are custom claims on the Firebase user instead
(`firebase_admin.auth.set_custom_user_claims`) and this file is never read.
"""

from __future__ import annotations

import getpass
import json
import os
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from shared.config import REPO_ROOT, Settings
from shared.domain.roles import ROLES, Role
from shared.errors import ConfigError

USERS_FILE_ENV = "RELEASECTL_USERS_FILE"
# The demo's people (shared/local/demo.py) and what each may do; the person at the terminal
# gets every role, so the README's commands work on a fresh stack.
DEMO_USERS: dict[str, tuple[Role, ...]] = {
    "demo-dev": ("releaser",),
    "demo-approver": ("approver", "viewer"),
    "demo-operator": ("operator",),
    "demo-flags": ("flags",),
}


class LocalUser(BaseModel):
    model_config = ConfigDict(extra="forbid")

    roles: list[Role] = Field(default_factory=list)


class LocalUsers(BaseModel):
    model_config = ConfigDict(extra="forbid")

    users: dict[str, LocalUser] = Field(default_factory=dict)


def users_file(settings: Settings) -> Path:
    override = os.environ.get(USERS_FILE_ENV)
    if override:
        return Path(override)
    base = settings.local_dir if settings.local_dir is not None else REPO_ROOT / ".local"
    return base / "auth" / "users.json"


def load(path: Path) -> LocalUsers:
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return LocalUsers()
    try:
        return LocalUsers.model_validate(json.loads(text))
    except (ValueError, ValidationError):
        raise ConfigError(
            f"{path}: not a valid local users file (delete it to start over)"
        ) from None


def roles_for(path: Path, who: str) -> list[Role]:
    user = load(path).users.get(who)
    return sorted(user.roles) if user else []


def grant(path: Path, who: str, roles: list[Role]) -> list[Role]:
    """Set `who`'s roles (exactly these); the roles now held."""
    users = load(path)
    users.users[who] = LocalUser(roles=sorted(set(roles)))
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    tmp.write_text(users.model_dump_json(indent=2), encoding="utf-8")
    tmp.replace(path)
    return users.users[who].roles


def seed_demo_users(path: Path) -> list[str]:
    """The demo users and the person at the terminal (every role), unless already there."""
    users = load(path)
    wanted: dict[str, tuple[Role, ...]] = {**DEMO_USERS, getpass.getuser(): ROLES}
    added = [who for who in wanted if who not in users.users]
    for who in added:
        grant(path, who, list(wanted[who]))
    return added
