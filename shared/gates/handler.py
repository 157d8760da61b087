"""The `GateRunner`: gather evidence (I/O), evaluate it (pure), add the secrets gate."""

from __future__ import annotations

from collections.abc import Mapping

from shared.clock import Clock, utcnow
from shared.config import EnvConfig
from shared.domain.builds import Build
from shared.domain.messages import CheckResult, StepReport
from shared.domain.model import Release
from shared.gates import rules
from shared.gates.checks_file import ChecksConfig
from shared.gates.evidence import Evidence, Probe
from shared.gates.ports import CiBuildSource, ComplianceSource, Prober
from shared.gates.settings import CI_GATES, COMPLIANCE_ITEMS, SECRETS_GATE, GateSettings
from shared.secrets.checks import combine
from shared.service.ports import GateRunner


class ComplianceGates:
    """Compliance items, the CI build's results and (optionally) the secrets gate, as one step.

    Evidence that cannot be read fails the gates that need it (with the error as the reason);
    nothing here ever turns an unreadable source into a pass.
    """

    def __init__(
        self,
        checks: ChecksConfig,
        compliance: ComplianceSource,
        prober: Prober,
        ci: CiBuildSource,
        secrets: GateRunner | None = None,
        clock: Clock = utcnow,
        base_urls: Mapping[str, str] | None = None,
    ) -> None:
        self.checks, self.compliance, self.prober, self.ci = checks, compliance, prober, ci
        self.secrets, self.clock = secrets, clock
        self.base_urls = dict(base_urls or {})  # env -> URL, overrides checks.toml's base_url

    def run(self, release: Release, env: EnvConfig) -> StepReport:
        settings = self.checks.env(env.name).gates
        evidence = self._evidence(release, env, settings)
        checks = rules.evaluate(settings, evidence, self.clock())
        report = rules.report(env.name, checks)
        if self.secrets is None or SECRETS_GATE not in settings.run:
            return report
        secrets = self.secrets.run(release, env)
        if not secrets.ran:
            return report
        return _with_secrets(env.name, checks, secrets, SECRETS_GATE in settings.required)

    def _evidence(self, release: Release, env: EnvConfig, s: GateSettings) -> Evidence:
        items = tuple(g for g in s.run if g in COMPLIANCE_ITEMS)
        docs: Mapping[str, Mapping[str, object] | None] = {}
        docs_error = None
        if items:
            try:
                docs = self.compliance.read(env, items)
            except Exception as exc:  # any read failure blocks, with its reason
                docs_error = f"{type(exc).__name__}: {exc}"[:300]
        ci: Build | None = None
        ci_error = None
        if any(g in CI_GATES for g in s.run):
            try:
                ci = self.ci.find(release)
            except Exception as exc:
                ci_error = f"CI build unreadable: {type(exc).__name__}: {exc}"[:300]
            if ci is None and ci_error is None:
                ci_error = f"no CI build found for commit {release.commit}"
        return Evidence(
            docs=docs,
            docs_error=docs_error,
            probes=self._probes(env, s),
            ci=ci,
            ci_error=ci_error,
        )

    def _probes(self, env: EnvConfig, s: GateSettings) -> dict[str, Probe]:
        base = self.base_urls.get(env.name) or self.checks.env(env.name).base_url
        if base is None:
            return {}
        return {
            gate: self.prober.probe(base, endpoint, s.http_timeout_seconds)
            for gate, endpoint in s.endpoints.items()
            if gate in s.run
        }


def _with_secrets(
    env: str, checks: tuple[CheckResult, ...], secrets: StepReport, required: bool
) -> StepReport:
    """The secrets gate's checks join the others; they block only if checks.toml requires it."""
    own = tuple(c.model_copy(update={"required": c.required and required}) for c in secrets.checks)
    demoted = secrets.model_copy(
        update={"checks": own, "ok": not any(c.required and not c.ok for c in own)}
    )
    return combine(f"gates ({env})", rules.report(env, checks), demoted)
