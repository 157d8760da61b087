"""Commands on the `release-commands` topic (docs/ARCHITECTURE.md, contract).

One JSON object per message, discriminated by `type`; unknown fields are refused.
"""

from __future__ import annotations

import json
from typing import Annotated, Literal

from pydantic import (
    AwareDatetime,
    BaseModel,
    ConfigDict,
    Field,
    StringConstraints,
    TypeAdapter,
    ValidationError,
    field_validator,
    model_validator,
)

from shared.errors import Refused
from shared.mobile.model import Platform, Track, mobile_builds

# Semantic Versioning 2.0.0 (semver.org), also the release id.
SEMVER = (
    r"^(0|[1-9]\d*)\.(0|[1-9]\d*)\.(0|[1-9]\d*)"
    r"(?:-((?:0|[1-9]\d*|\d*[a-zA-Z-][0-9a-zA-Z-]*)(?:\.(?:0|[1-9]\d*|\d*[a-zA-Z-][0-9a-zA-Z-]*))*))?"
    r"(?:\+([0-9a-zA-Z-]+(?:\.[0-9a-zA-Z-]+)*))?$"
)
Version = Annotated[str, StringConstraints(pattern=SEMVER, max_length=128)]
Name = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200)]
EnvName = Annotated[str, StringConstraints(pattern=r"^[a-z][a-z0-9-]{0,29}$")]
CommitSha = Annotated[str, StringConstraints(pattern=r"^[0-9a-f]{7,40}$")]
Reason = Annotated[str, StringConstraints(strip_whitespace=True, max_length=2000)]
# Artifact references become Firestore map fields: names a field may have (never empty, never
# `__reserved__`), values and counts small enough for one document.
ArtifactName = Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.:-]{0,99}$")]
ArtifactRef = Annotated[str, StringConstraints(max_length=2000)]
Artifacts = Annotated[dict[ArtifactName, ArtifactRef], Field(max_length=50)]


# A Firebase ID token (a JWT): who sent the command (docs/GATES.md, "Signed commands").
IdToken = Annotated[str, StringConstraints(min_length=1, max_length=8192)]
# The fields of a command that name who sent it (the verified identity replaces them), and the
# free text it may bring (scrubbed of secrets before it is stored, shown or published).
ACTOR_FIELDS = ("actor", "approver")
FREE_TEXT_FIELDS = ("reason", "description")


class _Command(BaseModel):
    """Every command comes from a person: it may carry (and with `signed_commands`, must
    carry) their Firebase ID token."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    id_token: IdToken | None = None


class CreateRelease(_Command):
    type: Literal["release.create"]
    version: Version
    commit: CommitSha
    branch: Name
    author: Name
    artifacts: Artifacts | None = None
    # when the commit was made (its committer date, with a UTC offset): DORA's lead time
    # starts there; without it, at the release's creation
    committed_at: AwareDatetime | None = None

    @field_validator("artifacts")
    @classmethod
    def _mobile_builds(cls, artifacts: dict[str, str] | None) -> dict[str, str] | None:
        mobile_builds(artifacts)  # `android=versionCode:N`, `ios=build:N`: refused if malformed
        return artifacts


class PromoteRelease(_Command):
    type: Literal["release.promote"]
    release: Version
    env: EnvName
    actor: Name


class _Decision(_Command):
    release: Version
    env: EnvName
    approver: Name
    reason: Reason = ""


class ApproveRelease(_Decision):
    type: Literal["release.approve"]


class RejectRelease(_Decision):
    type: Literal["release.reject"]


class RollbackEnv(_Command):
    type: Literal["release.rollback"]
    env: EnvName
    reason: Reason
    actor: Name
    to_release: Version | None = None


class CancelRollout(_Command):
    type: Literal["release.cancel"]
    release: Version
    env: EnvName
    actor: Name


class AdvanceCanary(_Command):
    """Skip the rest of the current canary step's bake: the next step's split now."""

    type: Literal["release.advance"]
    release: Version
    env: EnvName
    actor: Name
    reason: Reason = ""
    id_token: IdToken | None = None


class AbortCanary(_Command):
    """End a canary now: all traffic back to the stable release (a rollback)."""

    type: Literal["release.abort"]
    release: Version
    env: EnvName
    actor: Name
    reason: Reason
    id_token: IdToken | None = None


class FreezeEnv(_Command):
    type: Literal["env.freeze"]
    env: EnvName
    actor: Name
    reason: Reason


class UnfreezeEnv(_Command):
    type: Literal["env.unfreeze"]
    env: EnvName
    actor: Name
    reason: Reason = ""


# -- operations on an environment: flags and backups (docs/FLAGS.md, docs/BACKUPS.md) ------------
# The bus records each as `environments/{env}/operations/{id}` and carries it out in its outbox.

FlagName = Annotated[str, StringConstraints(pattern=r"^[A-Za-z][A-Za-z0-9_-]{0,31}$")]
Percent = Annotated[float, Field(ge=0, le=100)]
FlagText = Annotated[str, StringConstraints(max_length=500)]
BackupId = Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.:+-]{0,299}$")]


class _EnvOperation(_Command):
    env: EnvName
    actor: Name
    reason: Reason = ""


class _FlagCommand(_EnvOperation):
    flag: FlagName


class SetFlag(_FlagCommand):
    """Change a flag's enabled state, rollout, owner or description (or create it)."""

    type: Literal["flags.set"]
    enabled: bool | None = None
    rollout_percent: Percent | None = None
    create: bool = False
    owner: FlagText | None = None
    description: FlagText | None = None

    @model_validator(mode="after")
    def _changes_something(self) -> SetFlag:
        asked = (self.enabled, self.rollout_percent, self.owner, self.description)
        if not self.create and all(v is None for v in asked):
            raise ValueError(
                "nothing to change: give enabled, rollout_percent, owner or description"
            )
        return self


class KillFlag(_FlagCommand):
    """Emergency: the flag off for everyone, whatever else it says."""

    type: Literal["flags.kill"]


class UnkillFlag(_FlagCommand):
    type: Literal["flags.unkill"]


class TakeBackup(_EnvOperation):
    type: Literal["backup.take"]


class RestoreBackup(_EnvOperation):
    """Import a backup: production only with `force`, the protected collections only with
    `include_protected` (both checked by the bus, not only by the CLI)."""

    type: Literal["backup.restore"]
    backup: BackupId
    force: bool = False
    include_protected: bool = False


FlagCommand = SetFlag | KillFlag | UnkillFlag
EnvOperation = SetFlag | KillFlag | UnkillFlag | TakeBackup | RestoreBackup


# -- mobile trains (docs/MOBILE.md) ----------------------------------------------------------


class _MobileCommand(_Command):
    release: Version
    actor: Name
    reason: Reason = ""
    id_token: IdToken | None = None


class MobilePromote(_MobileCommand):
    type: Literal["mobile.promote"]
    platform: Platform
    track: Track


class MobileSubmit(_MobileCommand):
    """Submit the iOS build for App Store review."""

    type: Literal["mobile.submit"]
    platform: Literal["ios"] = "ios"


class MobileRelease(_MobileCommand):
    """After review approved it: release the iOS build with a phased release."""

    type: Literal["mobile.release"]
    platform: Literal["ios"] = "ios"


class MobileHalt(_MobileCommand):
    type: Literal["mobile.halt"]
    platform: Platform


class MobileResume(_MobileCommand):
    type: Literal["mobile.resume"]
    platform: Platform


class MobileComplete(_MobileCommand):
    type: Literal["mobile.complete"]
    platform: Platform


MobileCommand = (
    MobilePromote | MobileSubmit | MobileRelease | MobileHalt | MobileResume | MobileComplete
)

Command = Annotated[
    CreateRelease
    | PromoteRelease
    | ApproveRelease
    | RejectRelease
    | RollbackEnv
    | CancelRollout
    | AdvanceCanary
    | AbortCanary
    | FreezeEnv
    | UnfreezeEnv
    | MobilePromote
    | MobileSubmit
    | MobileRelease
    | MobileHalt
    | MobileResume
    | MobileComplete
    | SetFlag
    | KillFlag
    | UnkillFlag
    | TakeBackup
    | RestoreBackup,
    Field(discriminator="type"),
]
COMMAND_TYPES = [
    "release.create",
    "release.promote",
    "release.approve",
    "release.reject",
    "release.rollback",
    "release.cancel",
    "release.advance",
    "release.abort",
    "env.freeze",
    "env.unfreeze",
    "mobile.promote",
    "mobile.submit",
    "mobile.release",
    "mobile.halt",
    "mobile.resume",
    "mobile.complete",
    "flags.set",
    "flags.kill",
    "flags.unkill",
    "backup.take",
    "backup.restore",
]
_ADAPTER: TypeAdapter[Command] = TypeAdapter(Command)
HumanCommand = _Command  # what `isinstance` tells the bus: a message a person sent


def claimed_actor(cmd: BaseModel) -> str | None:
    """Who the command says sent it (`actor`, or `approver` for decisions); None if it names
    nobody (`release.create` names the release's author, not its sender)."""
    for name in ACTOR_FIELDS:
        value = getattr(cmd, name, None)
        if isinstance(value, str):
            return value
    return None


def describe(err: ValidationError, *, skip: int = 0) -> str:
    """One line naming every field that is wrong and why."""
    parts = []
    for e in err.errors():
        loc = ".".join(str(p) for p in e["loc"][skip:] or e["loc"])
        if e["type"] == "missing":
            parts.append(f"missing field {loc!r}")
        elif e["type"] == "extra_forbidden":
            parts.append(f"unknown field {loc!r}")
        else:
            parts.append(f"{loc}: {e['msg']}")
    return "; ".join(parts)


def parse_command(data: bytes) -> Command:
    """Decode one message body into a typed command, or raise `Refused` saying what is wrong."""
    try:
        raw = json.loads(data)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise Refused(f"malformed JSON: {exc}") from None
    if not isinstance(raw, dict):
        raise Refused(f"a command must be a JSON object, got {type(raw).__name__}")
    kind = raw.get("type")
    if kind not in COMMAND_TYPES:
        raise Refused(f"unknown command type {kind!r} (known: {', '.join(COMMAND_TYPES)})")
    try:
        return _ADAPTER.validate_python(raw)
    except ValidationError as exc:
        raise Refused(f"{kind}: {describe(exc, skip=1)}") from None
