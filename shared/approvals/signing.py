"""How a person signs a command: the one function the CLI and the dashboard both call, so a
button and `releasectl` send the same message.

Signing attaches the sender's Firebase ID token and names the sender as the command's
`actor` (a decision's `approver`): the control plane verifies the token and refuses a command
whose named sender is not the person it names (`shared.approvals.handler`).
"""

from __future__ import annotations

from typing import Any

from shared.config import ControlConfig
from shared.domain.commands import ACTOR_FIELDS

DECISIONS = frozenset({"release.approve", "release.reject"})


def must_sign(control: ControlConfig, command_type: str) -> bool:
    """Whether the control plane refuses `command_type` unsigned under this config."""
    return control.signed_commands or (command_type in DECISIONS and control.signed_approvals)


def sender_field(command_type: str) -> str | None:
    """The field that names who sends `command_type` (None: `release.create` names none)."""
    if command_type in DECISIONS:
        return "approver"
    return None if command_type == "release.create" else ACTOR_FIELDS[0]


def signed(payload: dict[str, Any], *, token: str, sender: str) -> dict[str, Any]:
    """`payload` (a command's JSON) signed by `sender` with their ID `token`."""
    out = {**payload, "id_token": token}
    field = sender_field(str(payload.get("type", "")))
    if field is not None:
        out[field] = sender
    return out
