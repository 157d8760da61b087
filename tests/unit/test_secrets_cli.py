"""`releasectl secrets …` over the local file store: stdin only, exit codes, JSON."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from shared.cli.secrets_cmds import app

TEST_KEY = "sk_" + "test_" + "a1b2c3d4e5f6g7h8"
LIVE_KEY = "sk_" + "live_" + "a1b2c3d4e5f6g7h8"


@pytest.fixture
def secrets_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("RELEASECTL_SECRETS_BACKEND", "local")
    monkeypatch.setenv("RELEASECTL_SECRETS_DIR", str(tmp_path))
    return tmp_path


def run(*args: str, stdin: str | None = None) -> tuple[int, str]:
    result = CliRunner().invoke(app, list(args), input=stdin)
    return result.exit_code, result.output


def test_rotate_reads_stdin_and_check_reports(secrets_dir: Path) -> None:
    code, out = run("rotate", "STRIPE_SECRET_KEY", "--env", "staging", stdin=TEST_KEY + "\n")
    assert code == 0, out
    assert "version 1 added" in out and TEST_KEY not in out
    stored = secrets_dir / "demo-avalo-staging" / "STRIPE_SECRET_KEY" / "v1"
    assert stored.read_text() == TEST_KEY
    code, out = run("check", "--env", "staging", "--json")
    assert code == 1  # the other declared secrets are missing
    report = json.loads(out)
    status = {c["name"]: c["status"] for c in report["checks"]}
    assert status["secret STRIPE_SECRET_KEY"] == "ok"
    assert status["stripe mode STRIPE_SECRET_KEY"] == "ok"
    assert status["secret KYC_API_KEY"] == "fail"
    assert status["secret DISCORD_WEBHOOK_URL"] == "warn"  # optional
    assert TEST_KEY not in out


def test_rotate_refuses_a_live_key_in_staging_and_writes_nothing(secrets_dir: Path) -> None:
    code, out = run("rotate", "STRIPE_SECRET_KEY", "--env", "staging", stdin=LIVE_KEY)
    assert code == 2
    assert "live-mode key; staging must use test-mode keys" in out and LIVE_KEY not in out
    assert not (secrets_dir / "demo-avalo-staging").exists()


def test_rotate_has_no_value_argument(secrets_dir: Path) -> None:
    code, _ = run("rotate", "KYC_API_KEY", TEST_KEY, "--env", "dev")
    assert code == 2
    assert not any(secrets_dir.iterdir())


@pytest.mark.parametrize(
    "args",
    [
        ("rotate", "NOT_DECLARED", "--env", "dev"),
        ("rotate", "APP_STORE_CONNECT_KEY", "--env", "dev"),  # not declared for dev
        ("check", "--env", "qa"),
    ],
)
def test_bad_input_exits_2(secrets_dir: Path, args: tuple[str, ...]) -> None:
    code, out = run(*args, stdin="some-value")
    assert code == 2 and "error:" in out


def test_finish_rotation_now(secrets_dir: Path) -> None:
    for value in ("first-value", "second-value"):
        assert run("rotate", "KYC_API_KEY", "--env", "dev", stdin=value)[0] == 0
    code, out = run("finish-rotation", "KYC_API_KEY", "--env", "dev")
    assert code == 0 and "grace period" in out
    code, out = run("finish-rotation", "--env", "dev", "--now")
    assert code == 0 and "disable version(s) 1" in out
    meta = json.loads((secrets_dir / "demo-avalo-dev" / "KYC_API_KEY" / "meta.json").read_text())
    assert [v["state"] for v in meta["versions"]] == ["disabled", "enabled"]


def test_template(secrets_dir: Path, tmp_path: Path) -> None:
    code, out = run("template", "--env", "production")
    assert code == 0 and "SMTP_PASSWORD=" in out
    target = tmp_path / "prod.env"
    assert run("template", "--env", "production", "--output", str(target))[0] == 0
    assert "STRIPE_WEBHOOK_SECRET=" in target.read_text()
    assert run("template", "--env", "production", "--output", str(target))[0] == 2


class Recorder:
    def __init__(self) -> None:
        self.sent: list[tuple[str, bytes, dict[str, str]]] = []

    def publish(self, topic: str, data: bytes, **attributes: str) -> str:
        self.sent.append((topic, data, attributes))
        return "msg-1"


def test_exposed_publishes_a_release_event(
    secrets_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from shared.cli import context

    recorder = Recorder()
    monkeypatch.setattr(context, "publisher", lambda: recorder)
    reason = f"committed to a public repo: {LIVE_KEY}"
    code, out = run("exposed", "STRIPE_SECRET_KEY", "--env", "production", "--reason", reason)
    assert code == 0, out
    ((topic, data, attrs),) = recorder.sent
    assert topic == "release-events"
    assert attrs == {"kind": "secret.exposed", "env": "production", "secret": "STRIPE_SECRET_KEY"}
    body = json.loads(data)
    assert body["owner"] == "payments" and LIVE_KEY not in data.decode()
    assert run("exposed", "NOPE", "--env", "production", "--reason", "x")[0] == 2
    assert len(recorder.sent) == 1
