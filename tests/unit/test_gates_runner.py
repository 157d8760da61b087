"""The gate runner with fake evidence sources, and what its report does to a rollout."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from shared.config import EnvConfig, PlaneConfig
from shared.domain.builds import Build
from shared.domain.messages import CheckResult, StepReport
from shared.domain.model import Release
from shared.domain.states import State
from shared.errors import ConfigError
from shared.gates.checks_file import ChecksConfig, load_checks
from shared.gates.evidence import Probe
from shared.gates.handler import ComplianceGates
from shared.gates.settings import COMPLIANCE_ITEMS, EndpointCheck
from tests.unit.fakes import Driver, make_world
from tests.unit.test_gates_rules import ci_build, good_docs

REPO = Path(__file__).resolve().parents[2]
NOW = datetime(2026, 11, 25, 12, 0, tzinfo=UTC)
SHA = "0a1b2c3d4e5f60718293a4b5c6d7e8f901234567"


class Docs:
    def __init__(self, docs: dict[str, Any] | Exception) -> None:
        self.docs, self.calls = docs, 0

    def read(self, env: EnvConfig, items: tuple[str, ...]) -> dict[str, Mapping[str, Any] | None]:
        self.calls += 1
        if isinstance(self.docs, Exception):
            raise self.docs
        return {i: self.docs.get(i) for i in items}


class Answers:
    def __init__(self, status: int = 200) -> None:
        self.status, self.seen = status, []  # type: list[str]

    def probe(self, base_url: str, endpoint: EndpointCheck, timeout: float) -> Probe:
        self.seen.append(base_url + endpoint.path)
        return Probe(base_url + endpoint.path, endpoint.method, status=self.status, latency_ms=1)


class Builds:
    def __init__(self, build: Build | Exception | None) -> None:
        self.build = build

    def find(self, release: Release) -> Build | None:
        if isinstance(self.build, Exception):
            raise self.build
        return self.build


class Secrets:
    def __init__(self, report: StepReport) -> None:
        self.report = report

    def run(self, release: Release, env: EnvConfig) -> StepReport:
        if env.name != "production":  # as SecretsGate(envs=frozenset({"production"}))
            return StepReport.not_run(f"secrets gate does not apply to {env.name}", ok=True)
        return self.report


# the gates these tests are about (the security scans': tests/unit/test_security_scans.py)
RUN = [*COMPLIANCE_ITEMS, "ciTests", "ciSecurityScan", "secrets"]
CHECKS = ChecksConfig.model_validate(
    {
        "environments": {
            "production": {
                "base_url": "http://app.test",
                "gates": {
                    "run": RUN,
                    "required": [*COMPLIANCE_ITEMS, "ciTests", "ciSecurityScan", "secrets"],
                    "endpoints": {
                        "dataExport": {"path": "/export"},
                        "dataDeletion": {"path": "/delete"},
                    },
                },
            },
            "staging": {"gates": {"run": RUN, "required": ["ciTests"]}},
        }
    }
)
RELEASE = Release(
    version="2.0.0", commit=SHA, branch="release/2.0.0", author="alice", created_at=NOW
)
SECRETS_OK = StepReport(
    ran=True,
    ok=True,
    summary="secrets gate (production): 1 checked",
    checks=(CheckResult(name="secret KYC_API_KEY", ok=True, detail="fine"),),
)
SECRETS_BAD = StepReport(
    ran=True,
    ok=False,
    summary="secrets gate (production): 1 failed",
    checks=(CheckResult(name="secret KYC_API_KEY", ok=False, detail="overdue for rotation"),),
)


def runner(
    docs: dict[str, Any] | Exception | None = None,
    build: Build | Exception | None = None,
    secrets: StepReport = SECRETS_OK,
    status: int = 200,
    checks: ChecksConfig = CHECKS,
) -> ComplianceGates:
    return ComplianceGates(
        checks,
        Docs(good_docs() if docs is None else docs),
        Answers(status),
        Builds(ci_build(substitutions={"COMMIT_SHA": SHA}) if build is None else build),
        secrets=Secrets(secrets),
        clock=lambda: NOW,
    )


def test_production_with_full_evidence_passes(plane: PlaneConfig) -> None:
    report = runner().run(RELEASE, plane.env("production"))
    assert report.ran and report.ok, report.failures()
    names = [c.name for c in report.checks]
    assert names == [*COMPLIANCE_ITEMS, "ciTests", "ciSecurityScan", "secret KYC_API_KEY"]
    assert report.checks[COMPLIANCE_ITEMS.index("dataExport")].evidence["http"]["url"] == (
        "http://app.test/export"
    )


def test_secrets_failures_block_production(plane: PlaneConfig) -> None:
    report = runner(secrets=SECRETS_BAD).run(RELEASE, plane.env("production"))
    assert not report.ok
    assert report.failures() == ["secret KYC_API_KEY: overdue for rotation"]


def test_secrets_not_required_by_checks_toml_only_warn(plane: PlaneConfig) -> None:
    checks = CHECKS.model_copy(deep=True)
    prod = checks.environments["production"]
    gates = prod.gates.model_copy(
        update={"required": tuple(g for g in prod.gates.required if g != "secrets")}
    )
    checks.environments["production"] = prod.model_copy(update={"gates": gates})
    report = runner(secrets=SECRETS_BAD, checks=checks).run(RELEASE, plane.env("production"))
    assert report.ok
    assert [c.name for c in report.checks if not c.ok] == ["secret KYC_API_KEY"]


@pytest.mark.parametrize(
    ("source", "reason"),
    [
        (RuntimeError("emulator down"), "evidence unreadable: RuntimeError: emulator down"),
        ({}, "compliance/termsOfService does not exist"),
    ],
)
def test_missing_or_unreadable_evidence_fails_closed(
    plane: PlaneConfig, source: dict[str, Any] | Exception, reason: str
) -> None:
    report = runner(docs=source).run(RELEASE, plane.env("production"))
    assert not report.ok
    assert f"termsOfService: {reason}" in report.failures()


@pytest.mark.parametrize(
    ("build", "reason"),
    [
        (RuntimeError("API 403"), "CI build unreadable: RuntimeError: API 403"),
        (Build(id="x", status="SUCCESS"), "step 'unit-tests' is not in build x"),
    ],
)
def test_the_ci_build_must_be_readable_and_complete(
    plane: PlaneConfig, build: Build | Exception, reason: str
) -> None:
    report = runner(build=build).run(RELEASE, plane.env("production"))
    assert f"ciTests: {reason}" in report.failures()


def test_no_ci_build_for_the_commit_names_the_commit(plane: PlaneConfig) -> None:
    gates = runner()
    gates.ci = Builds(None)  # type: ignore[assignment]
    report = gates.run(RELEASE, plane.env("production"))
    assert f"ciTests: no CI build found for commit {SHA}" in report.failures()


def test_staging_without_evidence_only_needs_its_ci_build(plane: PlaneConfig) -> None:
    report = runner(docs={}).run(RELEASE, plane.env("staging"))
    assert report.ok and report.ran
    assert "9 warning(s)" in report.summary
    assert not any(c.name.startswith("secret") for c in report.checks)  # production only


def test_a_base_url_override_is_where_endpoints_are_probed(plane: PlaneConfig) -> None:
    gates = runner()
    gates.base_urls = {"production": "http://127.0.0.1:9"}
    answers = gates.prober
    gates.run(RELEASE, plane.env("production"))
    assert answers.seen == ["http://127.0.0.1:9/export", "http://127.0.0.1:9/delete"]  # type: ignore[attr-defined]


# -- the report drives the state machine -----------------------------------------------------


def test_failing_gates_block_production_with_every_reason(plane: PlaneConfig) -> None:
    w = make_world(plane)
    docs = good_docs()
    docs["ageGate"] = {**docs["ageGate"], "minimumAge": 16}
    del docs["cookieConsent"]
    w.bus.ports.gates = runner(docs=docs)
    d = Driver(w)
    d.command(type="release.create", version="2.0.0", commit=SHA, branch="main", author="alice")
    d.command(type="release.promote", release="2.0.0", env="production", actor="alice")
    rollout = d.rollout("2.0.0", "production")
    assert rollout.state is State.BLOCKED
    assert rollout.reason == (
        "ageGate: minimumAge is 16, must be at least 18; "
        "cookieConsent: compliance/cookieConsent does not exist"
    )
    step = rollout.steps["gates"]
    assert step.status == "failed"
    evidence = {c["name"]: c["evidence"] for c in step.detail["checks"]}
    assert evidence["ageGate"]["fields"]["minimumAge"] == 16
    assert evidence["ciTests"]["build"] == "b-1"


def test_passing_gates_take_production_to_approval(plane: PlaneConfig) -> None:
    w = make_world(plane)
    w.bus.ports.gates = runner()
    d = Driver(w)
    d.command(type="release.create", version="2.0.0", commit=SHA, branch="main", author="alice")
    d.command(type="release.promote", release="2.0.0", env="production", actor="alice")
    rollout = d.rollout("2.0.0", "production")
    assert rollout.state is State.AWAITING_APPROVAL
    assert rollout.steps["gates"].status == "passed"


# -- checks.toml ---------------------------------------------------------------------------


def test_the_repository_checks_toml_is_valid(plane: PlaneConfig) -> None:
    checks = load_checks(REPO / "config" / "checks.toml", set(plane.environments))
    assert "secrets" in checks.env("production").gates.required
    assert checks.env("dev").gates.required == ()


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("[environments.dev.gates]\nrequired = ['nope']", "environments.dev.gates.required.0"),
        (
            "[environments.dev.smoke]\nchecks = [{name = 'h', path = '/h'}]",
            "environments.dev.base_url: required when smoke checks",
        ),
        ("[environments.qa]\nbase_url = 'http://x'", "environments.qa: not an environment"),
        ("[environments.dev.monitoring]\nwindow_seconds = 0", "window_seconds"),
        ("[environments.dev.gates]\nrun = ['ageGate']\nrequired = ['ciTests']", "must also be"),
        ("[environments.dev]\nsmoke = 3", "environments.dev.smoke"),
        ("[environments.dev", "not valid TOML"),
    ],
)
def test_a_bad_checks_file_is_one_error_naming_file_and_key(
    tmp_path: Path, plane: PlaneConfig, text: str, message: str
) -> None:
    path = tmp_path / "checks.toml"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(ConfigError) as err:
        load_checks(path, set(plane.environments))
    assert str(err.value).startswith(str(path))
    assert message in str(err.value)


def test_a_missing_checks_file_is_a_config_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="config file not found"):
        load_checks(tmp_path / "absent.toml")
