"""Commands on `release-commands`: each kind of bad input gets one reason that names it."""

from __future__ import annotations

import json

import pytest

from shared.domain.commands import COMMAND_TYPES, PromoteRelease, RollbackEnv, parse_command
from shared.errors import Refused


def parse(payload: object) -> object:
    return parse_command(json.dumps(payload).encode())


def test_a_valid_promote_parses() -> None:
    cmd = parse({"type": "release.promote", "release": "1.2.3", "env": "staging", "actor": "a"})
    assert cmd == PromoteRelease(type="release.promote", release="1.2.3", env="staging", actor="a")


def test_rollback_target_is_optional() -> None:
    cmd = parse({"type": "release.rollback", "env": "production", "reason": "r", "actor": "a"})
    assert isinstance(cmd, RollbackEnv) and cmd.to_release is None


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        (b"{not json", "malformed JSON"),
        (b"\xff\xfe", "malformed JSON"),
        (b"[1, 2]", "must be a JSON object, got list"),
        (b'{"type": "release.deploy"}', "unknown command type 'release.deploy'"),
        (b'{"env": "dev"}', "unknown command type None"),
        (b'{"type": "release.promote", "release": "1.2.3", "actor": "a"}', "missing field 'env'"),
        (
            b'{"type": "release.promote", "release": "1.2.3", "env": "dev", "actor": "a", "x": 1}',
            "unknown field 'x'",
        ),
        (b'{"type": "release.promote", "release": "v1", "env": "dev", "actor": "a"}', "release:"),
        (
            b'{"type": "release.create", "version": "1.0.0", "commit": "zz", "branch": "m", '
            b'"author": "a"}',
            "commit:",
        ),
        (b'{"type": "env.freeze", "env": "Prod!", "actor": "a", "reason": "r"}', "env:"),
    ],
)
def test_bad_commands_are_refused_with_a_reason(raw: bytes, expected: str) -> None:
    with pytest.raises(Refused) as err:
        parse_command(raw)
    assert expected in err.value.reason


def test_every_command_type_is_known() -> None:
    assert len(COMMAND_TYPES) == 21
    assert {"flags.set", "flags.kill", "flags.unkill"} <= set(COMMAND_TYPES)
    assert {"backup.take", "backup.restore"} <= set(COMMAND_TYPES)
    assert "release.advance" in COMMAND_TYPES and "release.abort" in COMMAND_TYPES
    assert "release.rollback" in COMMAND_TYPES and "env.unfreeze" in COMMAND_TYPES
    assert {"mobile.promote", "mobile.halt", "mobile.complete"} <= set(COMMAND_TYPES)


@pytest.mark.parametrize("version", ["1.0.0", "0.0.0-main.abc1234", "2.1.3-rc.1+build.5"])
def test_semver_versions_are_release_ids(version: str) -> None:
    parse({"type": "release.cancel", "release": version, "env": "dev", "actor": "a"})
