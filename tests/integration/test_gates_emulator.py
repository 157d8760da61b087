"""The gates on real parts: compliance documents in the env project on the Firestore emulator,
endpoints on a loopback HTTP server, CI builds from Firestore and from the local runner's files,
the real secrets gate, and the core's bus on Firestore recording the blocked rollout."""

from __future__ import annotations

import importlib.util
import json
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

from shared.adapters.cloudbuild import NoBuildRunner
from shared.adapters.dead_letters import FirestoreDeadLetters
from shared.adapters.firestore_store import FirestoreUnitOfWork
from shared.adapters.pending_steps import NoBakeAnalysis, NoDeployTarget, NoSmokeTests
from shared.bootstrap import approvals, bootstrap
from shared.config import EnvConfig, PlaneConfig, Settings
from shared.domain.commands import parse_command
from shared.domain.model import Release
from shared.gates.checks_file import ChecksConfig
from shared.gates.ci_builds import FirestoreCiBuilds, LocalDirCiBuilds, record_ci_build
from shared.gates.handler import ComplianceGates
from shared.gates.settings import COMPLIANCE_ITEMS
from shared.gates.sources import FirestoreCompliance, HttpProber
from shared.local import emulators
from shared.secrets.handler import SecretsGate
from shared.secrets.local_store import LocalSecretStore
from shared.secrets.model import SecretsConfig
from shared.service.ports import Ports
from tests.integration.core_stack import command
from tests.integration.test_smoke_http import Loopback
from tests.unit.fakes import FakeLedger, FakeReleaseFlags, FakeTicks
from tests.unit.test_gates_rules import good_docs

REPO = Path(__file__).resolve().parents[2]
PROD_PROJECT = "demo-avalo-production"
NOW = datetime(2026, 11, 25, 12, 0, tzinfo=UTC)
SHA = "0a1b2c3d4e5f60718293a4b5c6d7e8f901234567"
SECRETS = SecretsConfig.model_validate(
    {"secrets": {"KYC_API_KEY": {"description": "d", "owner": "trust-safety"}}}
)
CHECKS = ChecksConfig.model_validate(
    {
        "environments": {
            "production": {
                "base_url": "http://placeholder.invalid",
                "gates": {
                    "required": [*COMPLIANCE_ITEMS, "ciTests", "ciSecurityScan", "secrets"],
                    "kyc_mode": "live",
                    "http_timeout_seconds": 2,
                    "endpoints": {
                        "termsOfService": {"path": "/legal/terms"},
                        "privacyPolicy": {"path": "/legal/privacy"},
                        "dataExport": {"path": "/api/me/export", "statuses": [401]},
                        "dataDeletion": {
                            "path": "/api/me",
                            "method": "OPTIONS",
                            "statuses": [204],
                        },
                    },
                },
            }
        }
    }
)


def migration_001() -> ModuleType:
    path = REPO / "migrations" / "001_initial_schema.py"
    spec = importlib.util.spec_from_file_location("m001", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture
def env_db(emulator_env: dict[str, str]) -> Iterator[Any]:
    from google.cloud import firestore

    emulators.reset_firestore(emulator_env["FIRESTORE_EMULATOR_HOST"], PROD_PROJECT)
    client = firestore.Client(project=PROD_PROJECT)
    yield client
    client.close()


@pytest.fixture
def app() -> Iterator[Loopback]:
    server = Loopback().start()
    server.route("/legal/terms", body="Terms v3.1")
    server.route("/legal/privacy", body="Privacy")
    server.route("/api/me/export", status=401, body="sign in")
    server.route("/api/me", status=204, body="", method="OPTIONS")
    try:
        yield server
    finally:
        server.stop()


def write(db: Any, docs: dict[str, dict[str, Any]]) -> None:
    for path, data in docs.items():
        db.document(path).set(data)


def ci(build_id: str = "ci-1", **changes: Any) -> dict[str, Any]:
    return {
        "id": build_id,
        "status": "SUCCESS",
        "tags": ["ci"],
        "createTime": "2026-11-25T11:00:00Z",
        "substitutions": {"COMMIT_SHA": SHA, "BRANCH_NAME": "release/3.0.0"},
        "steps": [
            {"id": "unit-tests", "name": "python", "status": "SUCCESS"},
            {"id": "secret-scan", "name": "python", "status": "SUCCESS"},
        ],
        **changes,
    }


def secrets_gate(root: Path, seeded: bool) -> SecretsGate:
    if seeded:
        LocalSecretStore(root, PROD_PROJECT, clock=lambda: NOW).add_version(
            "KYC_API_KEY", b"kyc-value-77"
        )

    def stores(env: EnvConfig) -> LocalSecretStore:
        return LocalSecretStore(root, env.project)

    return SecretsGate(SECRETS, stores=stores, clock=lambda: NOW, envs=frozenset({"production"}))


def gates(control: Any, app: Loopback, secrets: SecretsGate) -> ComplianceGates:
    return ComplianceGates(
        CHECKS,
        FirestoreCompliance(),
        HttpProber(),
        FirestoreCiBuilds(control),
        secrets=secrets,
        clock=lambda: NOW,
        base_urls={"production": app.url},
    )


RELEASE = Release(version="3.0.0", commit=SHA, branch="release/3.0.0", author="dev", created_at=NOW)


def test_full_evidence_passes_every_production_gate(
    firestore_db: Any, env_db: Any, app: Loopback, plane: PlaneConfig, tmp_path: Path
) -> None:
    write(env_db, {f"compliance/{k}": v for k, v in good_docs().items()})
    record_ci_build(firestore_db, ci("ci-old", createTime="2026-11-24T11:00:00Z", status="FAILURE"))
    record_ci_build(firestore_db, ci())
    report = gates(firestore_db, app, secrets_gate(tmp_path, seeded=True)).run(
        RELEASE, plane.env("production")
    )
    assert report.ran and report.ok, report.failures()
    checks = {c.name: c for c in report.checks}
    assert checks["ciTests"].evidence["build"] == "ci-1"  # the newest build of the commit
    assert checks["dataDeletion"].evidence["http"]["status"] == 204
    assert checks["secret KYC_API_KEY"].ok
    assert app.calls[("OPTIONS", "/api/me")] == 1


def test_the_migrations_placeholders_block_production_with_every_reason(
    firestore_db: Any, env_db: Any, app: Loopback, plane: PlaneConfig, tmp_path: Path
) -> None:
    m001 = migration_001()
    write(env_db, m001.documents("production"))
    report = gates(firestore_db, app, secrets_gate(tmp_path, seeded=False)).run(
        RELEASE, plane.env("production")
    )
    assert not report.ok
    failed = [f.split(":")[0] for f in report.failures()]
    assert failed == [*COMPLIANCE_ITEMS, "ciTests", "ciSecurityScan", "secret KYC_API_KEY"]
    assert all("not verified (status 'placeholder')" in f for f in report.failures()[:9])
    assert f"ciTests: no CI build found for commit {SHA}" in report.failures()


def test_endpoints_that_stop_answering_fail_their_gates(
    firestore_db: Any, env_db: Any, plane: PlaneConfig, tmp_path: Path
) -> None:
    write(env_db, {f"compliance/{k}": v for k, v in good_docs().items()})
    record_ci_build(firestore_db, ci())
    gone = Loopback().start()
    gone.stop()
    report = gates(firestore_db, gone, secrets_gate(tmp_path, seeded=True)).run(
        RELEASE, plane.env("production")
    )
    failed = {f.split(":")[0] for f in report.failures()}
    assert failed == {"termsOfService", "privacyPolicy", "dataExport", "dataDeletion"}
    assert "did not answer: ConnectError" in next(
        f for f in report.failures() if f.startswith("dataExport")
    )


def test_the_local_runners_build_files_are_ci_evidence(tmp_path: Path) -> None:
    (tmp_path / "queued.json").write_text(json.dumps({"steps": []}))  # not run yet: skipped
    (tmp_path / "ci-9.json").write_text(
        json.dumps(ci("ci-9", steps=[{"id": "unit-tests", "status": "CANCELLED"}]))
    )
    (tmp_path / "other.json").write_text(json.dumps(ci("other", substitutions={})))
    found = LocalDirCiBuilds(tmp_path).find(RELEASE)
    assert found is not None and found.id == "ci-9"
    assert found.step("unit-tests") is not None
    pinned = RELEASE.model_copy(update={"artifacts": {"ciBuild": "other"}})
    assert LocalDirCiBuilds(tmp_path).find(pinned).id == "other"  # type: ignore[union-attr]


def test_a_blocked_production_rollout_stores_the_reasons_in_firestore(
    firestore_db: Any, env_db: Any, app: Loopback, plane: PlaneConfig, tmp_path: Path
) -> None:
    docs = good_docs()
    docs["privacyPolicy"] = {**docs["privacyPolicy"], "sections": ["controller"]}
    write(env_db, {f"compliance/{k}": v for k, v in docs.items()})
    record_ci_build(firestore_db, ci())
    ports = Ports(
        builds=NoBuildRunner(),
        events=_Events(),
        gates=gates(firestore_db, app, secrets_gate(tmp_path, seeded=True)),
        smoke=NoSmokeTests(),
        bake=NoBakeAnalysis(),
        deploy_target=NoDeployTarget(),
        flags=FakeReleaseFlags(),
        approvals=approvals(Settings()),
        ticks=FakeTicks(),
        migrations=FakeLedger(),
        letters=FirestoreDeadLetters(firestore_db),
    )
    bus = bootstrap(uow=FirestoreUnitOfWork(firestore_db), plane=plane, ports=ports)
    for n, cmd in enumerate(
        [
            {"type": "release.create", "version": "3.0.0", "commit": SHA},
            {"type": "release.promote", "release": "3.0.0", "env": "production", "actor": "ops"},
        ]
    ):
        extra = {"branch": "release/3.0.0", "author": "dev"} if n == 0 else {}
        data = command(**cmd, **extra)  # signed by its sender, as the CLI signs it
        bus.handle(parse_command(data), event_id=f"cmd-{n}", topic="release-commands")
    rollout = firestore_db.document("releases/3.0.0/rollouts/production").get().to_dict()
    assert rollout["state"] == "blocked"
    assert rollout["reason"].startswith("privacyPolicy: missing GDPR section(s): purposes")
    gates_step = rollout["steps"]["gates"]
    assert gates_step["status"] == "failed"
    names = [c["name"] for c in gates_step["detail"]["checks"]]
    assert names[-1] == "secret KYC_API_KEY"


class _Events:
    def publish(self, event: object) -> None:
        pass
