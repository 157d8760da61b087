"""Releases end to end on the local stack: CI pushes, builds run by the local runner, the
sample app switched by deploys and rollbacks, checked over HTTP."""

from __future__ import annotations

import json
import time
from typing import Any

import httpx
import pytest
from typer.testing import CliRunner, Result

from shared.adapters import firestore_views as views
from shared.cli import context
from shared.domain.model import Rollout
from shared.local.driving import CI_CONFIG, head_commit, push, wait_build
from shared.local.sample_app import serving
from shared.local.state import StackState
from shared.local.traffic import CALLS_PER_WINDOW, report_payments
from shared.topics import RELEASE_COMMANDS
from tests.e2e.conftest import FAILING_CI
from tests.integration.core_stack import eventually

# lint still runs on the commit; the scans have their own tests (test_security_scans*.py)
FAST_CI = ["secret-scan", "typecheck", "unit-tests", "sast", "dependencies", "sbom"]
pytestmark = pytest.mark.timeout(600)


def ci(stack: StackState, branch: str, config: Any = CI_CONFIG) -> str:
    build = push(stack, context.settings().project, branch, head_commit(), config, FAST_CI)
    return wait_build(stack, build, 300)


def rollout_in(release: str, env: str, *states: str) -> Rollout:
    seen: list[Rollout | None] = [None]

    def fetch() -> Rollout | None:
        seen[0] = r = views.read_rollout(context.db(), release, env)
        return r if r is not None and r.state in states else None

    try:
        return eventually(fetch, timeout=120)
    except AssertionError:
        last = seen[0]
        raise AssertionError(
            f"{release} in {env} never reached {states}: last "
            f"{last.state if last else None} ({last.reason if last else ''})"
        ) from None


# The people of these tests and their roles (the local users file the emulator tokens read).
PEOPLE = {
    "dev": ["releaser"],
    "oncall": ["operator"],
    "ops-lead": ["approver"],
    "cloud-build-ci": ["approver"],  # CI wrote the release branches: four-eyes still refuses it
}


@pytest.fixture(scope="module", autouse=True)
def people(stack: StackState) -> None:
    for who, roles in PEOPLE.items():
        granted = releasectl("auth", "grant", who, *roles)
        assert granted.exit_code == 0, granted.output


def command(**payload: Any) -> None:
    """Publish a command signed as `releasectl` signs it (by the sender it names)."""
    from shared.cli.sending import sign

    signed = sign(payload, payload.get("actor") or payload.get("author"))
    context.publisher().publish(RELEASE_COMMANDS, json.dumps(signed).encode())


def releasectl(*args: str) -> Result:
    from shared.cli import app

    return CliRunner().invoke(app, list(args))


def decide(how: str, release: str, reason: str = "e2e") -> None:
    """Approve or reject through the CLI, which signs it with an Auth emulator token."""
    who = ("--actor", "ops-lead", "--reason", reason)
    done = releasectl("release", how, release, "-e", "production", *who)
    assert done.exit_code == 0 and "published" in done.output, done.output


def approve_to_live(release: str) -> Rollout:
    """Approve a production rollout; the local stack sends it no traffic, so its bake ends
    inconclusive and pauses for a person, who approves again to take it live."""
    decide("approve", release)
    paused = rollout_in(release, "production", "baking", "live", "rolled_back")
    while paused.state == "baking" and paused.steps["bake"].status != "paused":
        paused = rollout_in(release, "production", "baking", "live", "rolled_back")
    assert paused.state == "baking", paused.reason
    assert "inconclusive" in (paused.steps["bake"].reason or "")
    shown = releasectl("status", "--env", "production")
    assert "waits: approve to take the paused bake live, or roll it back" in shown.output, (
        shown.output
    )
    done = releasectl(
        "release", "approve", release, "-e", "production", "--actor", "ops-lead",
        "--reason", "no traffic on the local stack; checked by hand", "--wait",
        "--timeout", "120",
    )  # fmt: skip
    assert done.exit_code == 0, done.output
    assert f"release.approve done: {release} in production is live" in done.output
    live = rollout_in(release, "production", "live")
    assert live.steps["bake"].status == "approved"
    return live


def current(env: str) -> str | None:
    doc = context.db().document(f"environments/{env}").get().to_dict() or {}
    return (doc.get("current") or {}).get("release")


def test_a_push_to_main_goes_live_in_staging(stack: StackState) -> None:
    assert ci(stack, "main") == "SUCCESS"
    release = f"0.0.0-main.{head_commit()[:7]}"
    live = rollout_in(release, "staging", "live", "failed", "rolled_back", "rollback_failed")
    assert live.state == "live", live.reason
    assert live.steps["migrate"].status == "SUCCESS"
    applied = live.steps["migrate"].detail["applied"]  # read from staging's schema history
    assert applied["schemaVersion"] is not None and isinstance(applied["versions"], list)
    assert live.steps["deploy"].detail["artifacts"]["sample-app.version"] == release
    assert serving(stack.apps["staging"].url) == release
    assert current("staging") == release


def test_production_waits_for_approval_then_serves_the_release(stack: StackState) -> None:
    assert ci(stack, "release/1.0.0") == "SUCCESS"
    rollout_in("1.0.0", "production", "awaiting_approval")
    assert serving(stack.apps["production"].url) is None  # nothing deployed before approval
    own = ("release", "approve", "1.0.0", "-e", "production", "--actor", "cloud-build-ci")
    refused = releasectl(*own, "--wait", "--timeout", "60")
    assert refused.exit_code == 1 and "four-eyes" in refused.output  # CI wrote this release
    approve_to_live("1.0.0")
    assert serving(stack.apps["production"].url) == "1.0.0"


def test_a_rejected_release_never_reaches_production(stack: StackState) -> None:
    assert ci(stack, "release/1.0.1") == "SUCCESS"
    rollout_in("1.0.1", "production", "awaiting_approval")
    done = releasectl(
        "release", "reject", "1.0.1", "-e", "production", "--actor", "ops-lead",
        "--reason", "missing changelog", "--wait", "--timeout", "60",
    )  # fmt: skip
    assert done.exit_code == 0, done.output  # a rejection that ends rejected is a success
    assert "release.reject done: 1.0.1 in production is rejected" in done.output
    rejected = rollout_in("1.0.1", "production", "rejected")
    assert rejected.reason == "missing changelog"
    assert serving(stack.apps["production"].url) == "1.0.0"


def test_a_failing_ci_build_creates_no_release(stack: StackState) -> None:
    assert ci(stack, "release/9.9.9", FAILING_CI) == "FAILURE"
    assert views.release_view(context.db(), "9.9.9") is None


def test_a_failing_deploy_rolls_back_and_leaves_current_untouched(stack: StackState) -> None:
    before = current("staging")
    assert before is not None
    command(
        type="release.create",
        version="5.0.0",
        commit=head_commit(),
        branch="main",
        author="dev",
        artifacts={"sample-app.mode": "undeployable"},
    )  # type: ignore[arg-type]
    eventually(lambda: views.release_view(context.db(), "5.0.0"))
    command(type="release.promote", release="5.0.0", env="staging", actor="dev")
    ended = rollout_in("5.0.0", "staging", "rolled_back", "rollback_failed", "live")
    assert ended.state == "rolled_back", ended.reason
    assert ended.steps["deploy"].status == "FAILURE"
    assert current("staging") == before
    assert serving(stack.apps["staging"].url) == before


def _protected_documents(project: str, host: str) -> dict[str, Any]:
    """The raw REST view of the protected collections (fields and update times)."""
    out = {}
    for collection in ("users", "balances", "payments", "chats"):
        url = f"http://{host}/v1/projects/{project}/databases/%28default%29/documents/{collection}"
        response = httpx.get(url, headers={"Authorization": "Bearer owner"}, timeout=10)
        out[collection] = response.json().get("documents", [])
    return out


def test_an_operator_rollback_restores_the_previous_version_and_no_user_data(
    stack: StackState,
) -> None:
    from google.cloud import firestore

    app_db = firestore.Client(project="demo-avalo-production")
    app_db.document("users/u1").set({"name": "Ada", "age": 31})
    app_db.document("balances/u1").set({"cents": 12_345})
    app_db.document("payments/p1").set({"user": "u1", "cents": 500})
    before = _protected_documents("demo-avalo-production", stack.firestore_host)

    assert ci(stack, "release/1.1.0") == "SUCCESS"
    rollout_in("1.1.0", "production", "awaiting_approval")
    approve_to_live("1.1.0")
    assert serving(stack.apps["production"].url) == "1.1.0"

    rollback = ("release", "rollback", "-e", "production", "--wait", "--timeout", "120")
    from shared.secrets.local_store import LocalSecretStore

    store = LocalSecretStore(stack.local_dir / "secrets", "demo-avalo-production")
    info = store.describe("KYC_API_KEY")
    assert info is not None and info.current() is not None
    secret = store.access("KYC_API_KEY", info.current().id)  # type: ignore[union-attr]
    # an operator pastes the env's KYC key (plain hex: no credential shape gives it away)
    no_role = releasectl(*rollback, "--actor", "dev", "--reason", "try")
    assert no_role.exit_code == 1, no_role.output  # dev is a releaser, not an operator
    assert "needs the role 'operator'" in no_role.output
    done = releasectl(*rollback, "--actor", "oncall", "--reason", f"bad reviews, key {secret}")
    assert done.exit_code == 0, done.output  # a rollback that ends rolled_back succeeded
    assert "release.rollback done: 1.1.0 in production is rolled_back" in done.output
    assert secret not in done.output
    rolled = rollout_in("1.1.0", "production", "rolled_back", "rollback_failed")
    assert secret not in (rolled.reason or "") and "bad reviews" in (rolled.reason or "")
    assert rolled.state == "rolled_back", rolled.reason
    assert rolled.steps["rollback"].detail["target"] == "1.0.0"
    assert serving(stack.apps["production"].url) == "1.0.0"
    assert current("production") == "1.0.0"
    assert _protected_documents("demo-avalo-production", stack.firestore_host) == before
    audit = views.release_view(context.db(), "1.1.0")
    assert audit is not None
    signed = [h for h in audit.history if h.actor_uid is not None]
    assert {h.actor for h in signed} == {"ops-lead", "oncall"}  # the people, verified
    assert all(h.actor_uid == h.actor for h in signed)  # the token's uid
    machines = {h.actor for h in audit.history if h.actor_uid is None}
    assert machines <= {"cloud-build-ci", "gates", "cloud-build", "smoke", "monitoring"} | {
        "deploy-target"
    }
    assert not any(secret in (h.reason or "") for h in audit.history)


def test_a_bad_release_is_rolled_back_with_no_command(stack: StackState) -> None:
    """Payments answer 500 in this release: production's smoke test catches it after deploy."""
    serving_before = serving(stack.apps["production"].url)
    data_before = _protected_documents("demo-avalo-production", stack.firestore_host)
    command(
        type="release.create",
        version="6.0.0",
        commit=head_commit(),
        branch="main",
        author="dev",
        artifacts={"sample-app.mode": "errors"},
    )  # type: ignore[arg-type]
    eventually(lambda: views.release_view(context.db(), "6.0.0"))
    command(type="release.promote", release="6.0.0", env="production", actor="dev")
    rollout_in("6.0.0", "production", "awaiting_approval")
    decide("approve", "6.0.0")
    ended = rollout_in("6.0.0", "production", "rolled_back", "rollback_failed", "live")
    assert ended.state == "rolled_back", ended.reason
    assert ended.steps["smoke"].status == "failed"
    assert "payments" in (ended.reason or "")
    assert serving(stack.apps["production"].url) == serving_before
    history = views.release_view(context.db(), "6.0.0")
    assert history is not None
    assert {h.actor for h in history.history} >= {"smoke", "deploy-target"}  # no person
    assert _protected_documents("demo-avalo-production", stack.firestore_host) == data_before


def test_a_failing_compliance_gate_blocks_production_with_the_reason(stack: StackState) -> None:
    from google.cloud import firestore

    from shared.gates.demo_evidence import write_demo_evidence

    app_db = firestore.Client(project="demo-avalo-production")
    app_db.document("compliance/kycProvider").delete()
    try:
        assert ci(stack, "release/7.0.0") == "SUCCESS"
        blocked = rollout_in("7.0.0", "production", "blocked", "awaiting_approval")
        assert blocked.state == "blocked"
        assert "kycProvider" in (blocked.reason or "")
        from typer.testing import CliRunner

        from shared.cli import app

        shown = CliRunner().invoke(app, ["status", "--env", "production", "--json"])
        assert shown.exit_code == 0, shown.output
        last = json.loads(shown.output)["environments"][0]["state"]["last"]
        assert last["release"] == "7.0.0"
        assert last["state"] == "blocked"
        assert "kycProvider" in last["reason"]
    finally:
        from datetime import UTC, datetime

        write_demo_evidence(app_db, datetime.now(UTC))


def _dev_release(version: str, mode: str) -> Rollout:
    command(
        type="release.create",
        version=version,
        commit=head_commit(),
        branch="main",
        author="dev",
        artifacts={"sample-app.mode": mode},  # type: ignore[arg-type]
    )
    eventually(lambda: views.release_view(context.db(), version), timeout=30)
    command(type="release.promote", release=version, env="dev", actor="dev")
    return rollout_in(version, "dev", "live", "rolled_back", "rollback_failed", "failed")


def test_a_breach_while_live_rolls_back_once_from_the_app_metrics(stack: StackState) -> None:
    """dev: `live_breach = "rollback"`. Its smoke test checks /health only, so a release whose
    payments fail goes live; the metrics the app reports then roll it back, with no command."""
    from google.cloud import firestore

    assert _dev_release("8.0.0", "ok").state == "live"
    app_db = firestore.Client(project="demo-avalo-dev")
    app_db.document("users/u2").set({"name": "Grace", "age": 40})
    app_db.document("payments/p2").set({"user": "u2", "cents": 900})
    data_before = _protected_documents("demo-avalo-dev", stack.firestore_host)
    assert data_before["users"] and data_before["payments"]
    bad = _dev_release("8.1.0", "errors")
    assert bad.state == "live" and serving(stack.apps["dev"].url) == "8.1.0"

    failed = report_payments(stack.apps["dev"].url, "dev", "8.1.0", bad.state_since, windows=3)
    assert failed == CALLS_PER_WINDOW
    rolled = rollout_in("8.1.0", "dev", "rolled_back", "rollback_failed")
    assert rolled.state == "rolled_back", rolled.reason
    assert (rolled.reason or "").startswith("while live: ")
    assert "payment_failure_rate" in (rolled.reason or "")
    watch = rolled.steps["watch"].detail
    assert [w["payment_failures"] for w in watch["windows"]] == [120] * 3
    assert serving(stack.apps["dev"].url) == "8.0.0"
    assert _protected_documents("demo-avalo-dev", stack.firestore_host) == data_before

    time.sleep(4)  # several more ticks: the restored release is not judged on those windows
    history = views.release_view(context.db(), "8.1.0")
    assert history is not None
    assert [h.to_state for h in history.history].count("rolling_back") == 1
    assert views.read_rollout(context.db(), "8.0.0", "dev").state == "live"  # type: ignore[union-attr]
    assert serving(stack.apps["dev"].url) == "8.0.0"


def test_console_edits_of_remote_config_are_rolled_back_or_adopted(stack: StackState) -> None:
    """The demo's Remote Config act: the seeded flags were published by the guard; an edit "in
    the console" turning panicTracking off is rolled back and one moving videoCalls to 25 % is
    adopted, with no command; the CLI shows the result and no drift."""
    from shared.local.demo_flags import ConsoleAct

    shown = json.loads(releasectl("local", "status", "--json").stdout)
    (simulator,) = [p for p in shown["parts"] if p["name"] == "remote-config"]
    assert simulator["status"] == "running" and simulator["url"].startswith("http://127.0.0.1:")
    act = ConsoleAct(stack)
    assert "rolled back" in act.panic_tracking_off()
    assert "adopted" in act.video_calls_to_25()
    flags = json.loads(releasectl("flags", "list", "--env", "production", "--json").stdout)
    assert flags["flags"]["videoCalls"]["rolloutPercent"] == 25
    assert flags["flags"]["videoCalls"]["updatedBy"].startswith("dana@avalo.app")

    def in_sync() -> dict[str, Any] | None:
        status = json.loads(releasectl("flags", "status", "--env", "production", "--json").stdout)
        drift = [t["drift"] for t in status["templates"].values()]
        return status if not any(drift) else None

    eventually(in_sync, timeout=120.0)
    history = json.loads(releasectl("flags", "history", "--env", "production", "--json").stdout)
    origins = {v.get("updateOrigin") for vs in history.values() for v in vs}
    assert {"CONSOLE", "REST_API"} <= origins


def test_a_mobile_release_is_halted_and_paused_on_a_crash_breach_with_no_command(
    stack: StackState,
) -> None:
    """The demo's mobile act: staging → Play internal and TestFlight by itself; approved for
    production, Play 10 % and phased release day 1; the app's crash-free users drop below
    99 %: halted, paused and the kill switch on, read from the store simulators."""
    from shared.local import mobile_demo

    release = "7.5.0"
    artifacts = {"sample-app.mode": "ok", **mobile_demo.builds_of(7)}
    command(
        type="release.create",
        version=release,
        commit=head_commit(),
        branch="main",
        author="dev",
        artifacts=artifacts,
    )
    eventually(lambda: views.release_view(context.db(), release))
    command(type="release.promote", release=release, env="staging", actor="dev")
    assert rollout_in(release, "staging", "live", "rolled_back").state == "live"
    assert "TestFlight: build 4007" in mobile_demo.testing(release)
    command(type="release.promote", release=release, env="production", actor="dev")
    rollout_in(release, "production", "awaiting_approval")
    decide("approve", release)
    rollout_in(release, "production", "migrating", "deploying", "verifying", "baking", "live")
    assert "Play production 10%" in mobile_demo.to_production(stack, release, command)
    mobile_demo.crash(release)
    halted = mobile_demo.halted(release)
    assert "Play production halted at 10%" in halted and "PAUSED" in halted
    assert "videoCalls kill switch on" in halted
    status = releasectl("mobile", "status", release, "--json")
    assert status.exit_code == 0, status.output
    report = json.loads(status.output)
    assert report["android"]["tracks"]["production"][0]["status"] == "halted"
    assert report["ios"]["builds"]["4007"]["status"] == "PAUSED"
    # The stack's traffic generator sends the users of the rolled-out builds in the background
    # (healthy: the breach above came from the app's crash reports, standing out from them).
    samples = context.db().collection("mobileCrashSamples").document("android:4007")
    deadline = time.monotonic() + 120  # the window Play's 10 % began in must close first
    background: list[dict[str, Any]] = []
    while not background and time.monotonic() < deadline:
        batches = samples.collection("batches").stream()
        background = [b.to_dict() for b in batches if b.id.startswith("traffic-android-4007-")]
        time.sleep(1)
    assert background, "no background traffic for android build 4007"
    assert all(b["crashedUsers"] / b["users"] < 0.01 for b in background)
