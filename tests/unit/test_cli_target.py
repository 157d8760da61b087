"""Where `releasectl` talks to: the emulators, the local stack or Google Cloud, and the one
line it prints when it has none of them."""

from __future__ import annotations

import os
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from typer.testing import CliRunner

from shared.cli import app, context
from shared.config import DEFAULT_CONFIG_FILE
from shared.local import state
from shared.local.state import App, AppVersion, Proc, StackState

NOTHING = {
    name: None
    for name in (
        *context.EMULATOR_VARS,
        *context.PROJECT_VARS,
        "RELEASECTL_TARGET",
        "RELEASECTL_CONFIG_FILE",
        "GOOGLE_APPLICATION_CREDENTIALS",
    )
}


@pytest.fixture(autouse=True)
def environ(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """The CLI's edge writes the process environment: give each test its own copy."""
    monkeypatch.setattr(os, "environ", dict(os.environ))  # type: ignore[arg-type]
    caches = (context.settings, context.db, context.publisher)
    for cached in caches:  # what an earlier test's CLI run chose is not this test's
        cached.cache_clear()
    yield
    for cached in caches:
        cached.cache_clear()


def run(tmp_path: Path, *args: str, **env: str | None) -> tuple[int, str, str]:
    variables = {**NOTHING, "RELEASECTL_LOCAL_DIR": str(tmp_path), **env}
    result = CliRunner().invoke(app, list(args), env=variables)
    return result.exit_code, result.stdout, result.stderr


@pytest.mark.parametrize(
    "args", [["status"], ["history", "1.0.0"], ["release", "promote", "1.0.0", "-e", "staging"]]
)
def test_no_stack_and_no_google_project_is_one_line_saying_how_to_start_the_stack(
    tmp_path: Path, args: list[str]
) -> None:
    code, out, err = run(tmp_path, *args)
    assert code == 2, err
    assert out == ""
    assert err.count("\n") == 1 and "Traceback" not in err
    assert "no local stack is running" in err and "`./deploy.sh local`" in err


def test_no_google_credentials_is_one_line_too(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import google.auth
    from google.auth.exceptions import DefaultCredentialsError

    def no_credentials(*args: object, **kwargs: object) -> object:
        raise DefaultCredentialsError("Your default credentials were not found.")

    monkeypatch.setattr(google.auth, "default", no_credentials)
    code, _, err = run(tmp_path, "status", GOOGLE_CLOUD_PROJECT="acme-release-control")
    assert code == 2, err
    assert err.count("\n") == 1 and "Traceback" not in err
    assert "no Google Cloud credentials" in err and "`./deploy.sh local`" in err


def stack(local_dir: Path) -> StackState:
    return StackState(
        local_dir=local_dir,
        started_at=datetime(2026, 1, 1, tzinfo=UTC),
        firestore=Proc(pid=1, port=8411),
        pubsub=Proc(pid=2, port=8422),
        functions={},
        apps={
            "dev": App(
                pid=3,
                port=8433,
                routes_file=local_dir / "dev.routes.json",
                stable=AppVersion(pid=4, port=8434, state_file=local_dir / "dev.stable.json"),
                canary=AppVersion(pid=5, port=8435, state_file=local_dir / "dev.canary.json"),
            )
        },
        config_file=DEFAULT_CONFIG_FILE,
    )


@pytest.fixture
def running(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> StackState:
    found = stack(tmp_path)
    monkeypatch.setattr(state, "load", lambda directory: found)
    return found


def test_a_running_stack_wins_over_the_google_variables_and_says_so(
    running: StackState, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(os.environ, "GOOGLE_CLOUD_PROJECT", "acme-release-control")
    monkeypatch.delitem(os.environ, "FIRESTORE_EMULATOR_HOST", raising=False)
    assert context.choose_target() == context.Target.LOCAL
    assert os.environ["FIRESTORE_EMULATOR_HOST"] == "127.0.0.1:8411"
    assert context.settings().project == "demo-release-control"  # the stack's, not the shell's


def test_the_note_names_the_ignored_project_and_the_override(
    running: StackState, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    os.environ.pop("FIRESTORE_EMULATOR_HOST", None)
    os.environ["GOOGLE_CLOUD_PROJECT"] = "acme-release-control"
    context.choose_target()
    err = capsys.readouterr().err
    assert "GOOGLE_CLOUD_PROJECT=acme-release-control" in err and "--target gcp" in err


def test_target_gcp_ignores_the_stack_and_the_emulator_variables(running: StackState) -> None:
    os.environ["FIRESTORE_EMULATOR_HOST"] = "127.0.0.1:9"
    os.environ["GOOGLE_CLOUD_PROJECT"] = "acme-release-control"
    assert context.choose_target(context.Target.GCP) == context.Target.GCP
    assert "FIRESTORE_EMULATOR_HOST" not in os.environ
    assert context.settings().project == "acme-release-control"


def test_emulator_variables_come_first_in_auto(running: StackState) -> None:
    os.environ["FIRESTORE_EMULATOR_HOST"] = "127.0.0.1:9"
    os.environ["PUBSUB_EMULATOR_HOST"] = "127.0.0.1:10"
    assert context.choose_target() == context.Target.EMULATORS
    assert os.environ["FIRESTORE_EMULATOR_HOST"] == "127.0.0.1:9"


def test_target_local_without_a_stack_is_one_line(tmp_path: Path) -> None:
    code, _, err = run(tmp_path, "--target", "local", "status")
    assert code == 2 and err.count("\n") == 1
    assert "no local stack is running" in err


def test_target_reads_its_environment_variable(tmp_path: Path) -> None:
    code, _, err = run(tmp_path, "status", RELEASECTL_TARGET="local")
    assert code == 2 and "no local stack is running in" in err
