"""The `SmokeRunner`: each declared check over HTTP (httpx), retried with backoff (tenacity)."""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping

import httpx
from tenacity import RetryCallState, Retrying, retry_if_result, stop_after_attempt, wait_exponential

from shared.config import EnvConfig
from shared.domain.messages import CheckResult, StepReport
from shared.domain.model import Release
from shared.gates.checks_file import ChecksConfig
from shared.smoke import judge
from shared.smoke.judge import Observation
from shared.smoke.settings import SmokeCheck, SmokeSettings


def _observe(client: httpx.Client, check: SmokeCheck, url: str) -> Observation:
    started = time.perf_counter()
    try:
        with client.stream(check.method, url) as response:
            chunks, size = [], 0
            for chunk in response.iter_text():
                chunks.append(chunk)
                size += len(chunk)
                if size >= judge.BODY_CAP:
                    break
            body = "".join(chunks)
    except httpx.TimeoutException:
        return Observation(url, error="timed out")
    except httpx.HTTPError as exc:
        return Observation(url, error=f"{type(exc).__name__}: {exc}"[:200])
    elapsed = (time.perf_counter() - started) * 1000
    return Observation(url, status=response.status_code, latency_ms=elapsed, body=body)


def _last(state: RetryCallState) -> Observation:
    if state.outcome is None:  # tenacity calls this only after an attempt ended
        raise RuntimeError("smoke check retries ended without an attempt")
    seen: Observation = state.outcome.result()
    return seen


class HttpSmokeRunner:
    """Runs `checks.toml`'s smoke checks of the env against its base URL.

    No checks configured is `ran=False` (recorded as skipped, never a pass). `base_urls`
    overrides the file per env (the local stack knows its ports only at start-up); a run's
    `base_url` (a canary's own URL) overrides both.
    """

    def __init__(
        self,
        checks: ChecksConfig,
        base_urls: Mapping[str, str] | None = None,
        transport: httpx.BaseTransport | None = None,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.checks, self.base_urls = checks, dict(base_urls or {})
        self.transport, self.sleep = transport, sleep

    def run(self, release: Release, env: EnvConfig, base_url: str | None = None) -> StepReport:
        settings = self.checks.env(env.name)
        base = base_url or self.base_urls.get(env.name) or settings.base_url
        if not settings.smoke.checks:
            return judge.report(env.name, ())
        if base is None:
            return StepReport.not_run(f"smoke ({env.name}): no base_url", ok=True)
        with httpx.Client(
            timeout=settings.smoke.timeout_seconds, transport=self.transport
        ) as client:
            results = tuple(
                self._check(client, check, base.rstrip("/") + check.path, settings.smoke)
                for check in settings.smoke.checks
            )
        return judge.report(env.name, results)

    def _check(
        self, client: httpx.Client, check: SmokeCheck, url: str, s: SmokeSettings
    ) -> CheckResult:
        attempts: list[Observation] = []

        def attempt() -> Observation:
            seen = _observe(client, check, url)
            attempts.append(seen)
            return seen

        retrying = Retrying(
            stop=stop_after_attempt(s.attempts),
            wait=wait_exponential(multiplier=s.backoff_seconds, max=s.backoff_max_seconds),
            retry=retry_if_result(lambda seen: bool(judge.problems(check, seen))),
            retry_error_callback=_last,
            sleep=self.sleep,
        )
        retrying(attempt)
        return judge.result(check, attempts)
