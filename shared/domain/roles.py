"""Who may send which command: roles, a custom claim `roles` on the Firebase user (pure).

Like Cloud Deploy's releaser / approver / operator IAM roles. The table below is the default
for every environment; production tightens it, and each environment may override any row in
`config/environments.toml` (`[environments.E.roles]`, e.g. `"release.promote" = "anyone"` in
dev). A command added to the bus needs only its row here.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Literal

Role = Literal["releaser", "approver", "operator", "flags", "viewer"]
ROLES: tuple[Role, ...] = ("releaser", "approver", "operator", "flags", "viewer")
ANYONE = "anyone"  # any signed-in person: the signature is still checked, no role is needed
Requirement = Literal["releaser", "approver", "operator", "flags", "viewer", "anyone"]
PRODUCTION = "production"

# command type -> the role it needs (docs/GATES.md, "Signed commands and roles").
COMMAND_ROLES: dict[str, Requirement] = {
    "release.create": "releaser",
    "release.promote": "releaser",
    "release.cancel": "releaser",
    "mobile.promote": "releaser",
    "mobile.submit": "releaser",
    "mobile.release": "releaser",
    "release.advance": "releaser",
    # approving also takes a paused bake live (the same command, the same role)
    "release.approve": "approver",
    "release.reject": "approver",
    "release.rollback": "operator",
    "release.abort": "operator",
    "env.freeze": "operator",
    "env.unfreeze": "operator",
    "mobile.halt": "operator",
    "mobile.resume": "operator",
    "mobile.complete": "operator",
    "flags.set": "flags",
    "flags.kill": "flags",
    "flags.unkill": "flags",
    "backup.take": "operator",
    "backup.restore": "operator",
    "dashboard.view": "viewer",
}
# Rows production tightens (before the env's own overrides).
PRODUCTION_ROLES: dict[str, Requirement] = {
    "release.advance": "approver",
}


def required_role(
    command: str, env: str | None, overrides: Mapping[str, Requirement] | None = None
) -> Requirement | None:
    """The role `command` needs in `env` (None: the command is not in the table)."""
    role = COMMAND_ROLES.get(command)
    if env == PRODUCTION:
        role = PRODUCTION_ROLES.get(command, role)
    if overrides and command in overrides:
        role = overrides[command]
    return role


def roles_of(claims: Mapping[str, object]) -> frozenset[str]:
    """The roles a token's verified claims grant: the custom claim `roles`, a list of names
    (a single name is taken as a list of one; anything else grants nothing)."""
    raw = claims.get("roles")
    if isinstance(raw, str):
        raw = [raw]
    if not isinstance(raw, list | tuple):
        return frozenset()
    return frozenset(r for r in raw if isinstance(r, str) and r in ROLES)


def denial(
    command: str,
    env: str | None,
    who: str,
    roles: Iterable[str],
    overrides: Mapping[str, Requirement] | None = None,
) -> str | None:
    """Why `who` (holding `roles`) may not send `command` to `env`, or None if they may."""
    needed = required_role(command, env, overrides)
    where = f" in {env}" if env else ""
    if needed is None:
        return f"{command} is not in the role table: nobody may send it"
    if needed == ANYONE or needed in set(roles):
        return None
    held = ", ".join(sorted(roles)) or "none"
    return (
        f"{who} may not send {command}{where}: it needs the role {needed!r} (has: {held}); "
        f"grant it with `releasectl auth grant {who} {needed}`"
    )
