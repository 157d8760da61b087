"""Smoke checks: the pure judgement, and the runner's retries over a mock transport."""

from __future__ import annotations

import httpx
import pytest

from shared.config import PlaneConfig
from shared.domain.model import Release
from shared.gates.checks_file import ChecksConfig
from shared.smoke import judge
from shared.smoke.handler import HttpSmokeRunner
from shared.smoke.judge import Observation
from shared.smoke.settings import SmokeCheck
from tests.unit.fakes import FakeClock

CHECK = SmokeCheck(name="health", path="/health", status=200, body_contains="ok", latency_ms=100)
URL = "http://app/health"


@pytest.mark.parametrize(
    ("seen", "problems"),
    [
        (Observation(URL, 200, 12.0, '{"status": "ok"}'), []),
        (Observation(URL, 503, 12.0, '{"status": "ok"}'), ["status 503, expected 200"]),
        (Observation(URL, 200, 12.0, "down"), ["body does not contain 'ok'"]),
        (Observation(URL, 200, 150.0, "ok"), ["took 150 ms, budget 100 ms"]),
        (Observation(URL, error="timed out"), ["no answer: timed out"]),
        (
            Observation(URL, 500, 250.0, "boom"),
            [
                "status 500, expected 200",
                "body does not contain 'ok'",
                "took 250 ms, budget 100 ms",
            ],
        ),
    ],
)
def test_judge(seen: Observation, problems: list[str]) -> None:
    assert judge.problems(CHECK, seen) == problems


def test_the_result_keeps_every_attempt_as_evidence() -> None:
    attempts = [Observation(URL, error="refused"), Observation(URL, 200, 5.0, "ok")]
    result = judge.result(CHECK, attempts)
    assert result.ok and result.detail == "200 in 5 ms"
    assert result.evidence["attempts"] == [
        {"status": None, "latencyMs": None, "error": "refused"},
        {"status": 200, "latencyMs": 5.0},
    ]


CHECKS = ChecksConfig.model_validate(
    {
        "environments": {
            "staging": {
                "base_url": "http://app.test",
                "smoke": {
                    "attempts": 3,
                    "backoff_seconds": 0.5,
                    "checks": [
                        {"name": "health", "path": "/health", "body_contains": "ok"},
                        {"name": "pay", "path": "/api/payments", "required": False},
                    ],
                },
            }
        }
    }
)
RELEASE = Release(
    version="1.0.0", commit="c", branch="main", author="a", created_at=FakeClock().now
)


def run(plane: PlaneConfig, answers: dict[str, list[int]]) -> tuple[judge.StepReport, list[float]]:
    calls = {path: 0 for path in answers}

    def respond(request: httpx.Request) -> httpx.Response:
        seq = answers[request.url.path]
        status = seq[min(calls[request.url.path], len(seq) - 1)]
        calls[request.url.path] += 1
        return httpx.Response(status, text="ok" if status == 200 else "fail")

    slept: list[float] = []
    runner = HttpSmokeRunner(CHECKS, transport=httpx.MockTransport(respond), sleep=slept.append)
    return runner.run(RELEASE, plane.env("staging")), slept


def test_a_flaky_endpoint_passes_after_retries_with_backoff(plane: PlaneConfig) -> None:
    report, slept = run(plane, {"/health": [503, 503, 200], "/api/payments": [200]})
    assert report.ran and report.ok
    health = report.checks[0]
    assert [a["status"] for a in health.evidence["attempts"]] == [503, 503, 200]
    assert slept == [0.5, 1.0]  # exponential backoff between the three attempts


def test_an_endpoint_failing_every_attempt_fails_the_report(plane: PlaneConfig) -> None:
    report, _ = run(plane, {"/health": [500], "/api/payments": [200]})
    assert not report.ok
    assert report.failures() == [
        "health: status 500, expected 200; body does not contain 'ok' (after 3 attempts)"
    ]


def test_a_check_not_required_fails_without_failing_the_step(plane: PlaneConfig) -> None:
    report, _ = run(plane, {"/health": [200], "/api/payments": [500]})
    assert report.ok and not report.checks[1].ok


def test_no_checks_configured_is_not_run_never_a_pass(plane: PlaneConfig) -> None:
    runner = HttpSmokeRunner(ChecksConfig())
    report = runner.run(RELEASE, plane.env("dev"))
    assert not report.ran
    assert "no smoke checks configured" in report.summary
