"""Per-environment gate settings (`[environments.<env>.gates]` in `config/checks.toml`)."""

from __future__ import annotations

from typing import Literal, Self

from pydantic import BaseModel, ConfigDict, Field, model_validator

from shared.security.model import Threshold

# The compliance items of migration 001 (`compliance/{item}` in each env project), the CI
# build's own results, and the secrets gate. Names are what `required` lists.
COMPLIANCE_ITEMS = (
    "termsOfService",
    "privacyPolicy",
    "ageGate",
    "kycProvider",
    "contentModeration",
    "refundPolicy",
    "dataExport",
    "dataDeletion",
    "cookieConsent",
)
SCAN_GATES = ("sast", "dependencies", "sbom")  # the CI build's security scans (docs/SECURITY.md)
CI_GATES = ("ciTests", "ciSecurityScan", *SCAN_GATES)
SECRETS_GATE = "secrets"
GateName = Literal[
    "termsOfService",
    "privacyPolicy",
    "ageGate",
    "kycProvider",
    "contentModeration",
    "refundPolicy",
    "dataExport",
    "dataDeletion",
    "cookieConsent",
    "ciTests",
    "ciSecurityScan",
    "sast",
    "dependencies",
    "sbom",
    "secrets",
]
ALL_GATES: tuple[GateName, ...] = (*COMPLIANCE_ITEMS, *CI_GATES, SECRETS_GATE)  # type: ignore[assignment]
GDPR_SECTIONS = (
    "controller",
    "purposes",
    "legalBasis",
    "retention",
    "rights",
    "transfers",
    "contact",
)


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class EndpointCheck(_Strict):
    """An HTTP endpoint a gate needs answering: path under the env's base URL."""

    path: str = Field(pattern=r"^/")
    method: Literal["GET", "HEAD", "OPTIONS", "POST"] = "GET"
    # "answering": any of these statuses (e.g. 401 for an endpoint that needs a signed-in user)
    statuses: tuple[int, ...] = (200,)


class GateSettings(_Strict):
    """Which gates run and block in one environment, and what they compare evidence with."""

    # gates that run; a failing gate that is not `required` is a warning, never a block
    run: tuple[GateName, ...] = ALL_GATES
    required: tuple[GateName, ...] = ()
    terms_max_age_days: int = Field(730, ge=1)
    privacy_sections: tuple[str, ...] = GDPR_SECTIONS
    minimum_age: int = Field(18, ge=18)
    kyc_mode: Literal["live", "sandbox"] | None = None  # None: any mode
    ci_test_steps: tuple[str, ...] = ("unit-tests",)
    ci_scan_steps: tuple[str, ...] = ("secret-scan",)
    # lowest severity of a scan finding that fails the `sast` / `dependencies` gate
    sast_fail_on: Threshold = "medium"
    dependencies_fail_on: Threshold = "low"
    http_timeout_seconds: float = Field(5.0, gt=0, le=60)
    endpoints: dict[GateName, EndpointCheck] = Field(default_factory=dict)

    @model_validator(mode="after")
    def _check(self) -> Self:
        missing = [g for g in self.required if g not in self.run]
        if missing:
            raise ValueError(f"required: {', '.join(missing)} must also be in `run`")
        return self
