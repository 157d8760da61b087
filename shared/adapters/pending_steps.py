"""Adapters for steps that later work fills in. Each says plainly that it did not run.

A `StepReport` with `ran=False` is recorded as `skipped` (gates, smoke, bake analysis), or as a
failed rollback (deploy target): nothing here pretends a check passed.
"""

from __future__ import annotations

from datetime import datetime

from shared.config import EnvConfig
from shared.domain.messages import StepReport
from shared.domain.model import Deployed, DeployPart, Release, Rollout
from shared.errors import ConfigError


class NoGates:
    def run(self, release: Release, env: EnvConfig) -> StepReport:
        return StepReport.not_run(
            "compliance gates are not implemented yet: nothing checked", ok=True
        )


class NoSmokeTests:
    def run(self, release: Release, env: EnvConfig, base_url: str | None = None) -> StepReport:
        return StepReport.not_run("smoke tests are not implemented yet: nothing checked", ok=True)


class NoBakeAnalysis:
    def evaluate(self, rollout: Rollout, env: EnvConfig, now: datetime) -> StepReport:
        return StepReport.not_run(
            "bake analysis is not implemented yet: the bake only waits bake_minutes", ok=True
        )

    def watch(
        self, rollout: Rollout, env: EnvConfig, serving_since: datetime, now: datetime
    ) -> StepReport:
        return StepReport.not_run("no metrics are analysed: live releases are not watched", ok=True)


class NoDeployTarget:
    def deploy(self, release: str, env: EnvConfig, part: DeployPart = "all") -> dict[str, str]:
        raise ConfigError(f"no deploy target is configured for {env.name}: nothing deployed")

    def restore(self, target: Deployed, env: EnvConfig) -> StepReport:
        return StepReport.not_run(
            f"no deploy target is configured: release {target.release} was not restored in "
            f"{env.name}; restore it by hand",
            ok=False,
        )

    def split(
        self, canary: dict[str, str], stable: Deployed | None, percent: int, env: EnvConfig
    ) -> StepReport:
        return StepReport.not_run(
            f"no deploy target is configured: no traffic split to {percent} % in {env.name}",
            ok=False,
        )
