"""Pure secret checks: inventory, rotation age, Stripe mode, rotation plan, config, input."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from shared.errors import ConfigError, Refused
from shared.secrets import checks
from shared.secrets import handler as secrets_handler
from shared.secrets.model import (
    DEFAULT_SECRETS_FILE,
    SecretInfo,
    SecretsConfig,
    SecretVersion,
    VersionState,
    load_secrets_config,
)

NOW = datetime(2026, 6, 1, tzinfo=UTC)
ENVS = {"dev", "staging", "production"}
# Assembled at run time: no credential-shaped literal in the source (secret scan).
LIVE = "sk_" + "live_" + "a1b2c3d4e5f6g7h8"
TEST = "sk_" + "test_" + "a1b2c3d4e5f6g7h8"
PK_LIVE = "pk_" + "live_" + "a1b2c3d4e5f6g7h8"


def _config(**secrets: dict[str, object]) -> SecretsConfig:
    return SecretsConfig.model_validate({"secrets": secrets})


def _info(name: str, *versions: tuple[str, VersionState, int]) -> SecretInfo:
    return SecretInfo(
        name=name,
        versions=tuple(
            SecretVersion(id=i, state=s, created_at=NOW - timedelta(days=age))
            for i, s, age in versions
        ),
    )


CONFIG = _config(
    STRIPE_SECRET_KEY={"description": "d", "owner": "payments", "stripe": "secret_key"},
    KYC_API_KEY={"description": "d", "owner": "ts", "rotation_days": 30},
    STORE_KEY={"description": "d", "owner": "mobile", "envs": ["production"]},
    OPTIONAL_URL={"description": "d", "owner": "p", "required": False},
)
E = VersionState.ENABLED
D = VersionState.DISABLED


def _by_name(report: object) -> dict[str, checks.Status]:
    assert hasattr(report, "checks")
    return {c.name: checks.status_of(c) for c in report.checks}


def test_inventory_statuses() -> None:
    infos = {
        "STRIPE_SECRET_KEY": _info("STRIPE_SECRET_KEY", ("1", E, 10)),
        "KYC_API_KEY": _info("KYC_API_KEY", ("1", E, 31)),  # rotate every 30 days: overdue
        "STORE_KEY": None,
        "OPTIONAL_URL": None,
    }
    report = checks.check_inventory(CONFIG, "production", infos, NOW)
    assert _by_name(report) == {
        "secret STRIPE_SECRET_KEY": "ok",
        "secret KYC_API_KEY": "fail",
        "secret STORE_KEY": "fail",
        "secret OPTIONAL_URL": "warn",
    }
    assert not report.ok
    assert report.failures() == [
        "secret KYC_API_KEY: overdue for rotation by 1 day(s) (rotate every 30 days)",
        "secret STORE_KEY: does not exist",
    ]


def test_env_filter_and_due_soon_warning() -> None:
    infos = {
        "STRIPE_SECRET_KEY": _info("STRIPE_SECRET_KEY", ("1", E, 80)),  # due in 10 days
        "KYC_API_KEY": _info("KYC_API_KEY", ("1", E, 1)),
        "OPTIONAL_URL": _info("OPTIONAL_URL", ("1", E, 1)),
    }
    report = checks.check_inventory(CONFIG, "dev", infos, NOW)
    assert "secret STORE_KEY" not in _by_name(report)
    assert _by_name(report)["secret STRIPE_SECRET_KEY"] == "warn"
    assert report.ok  # a warning never blocks


def test_age_counts_from_the_newest_enabled_version() -> None:
    info = _info("KYC_API_KEY", ("1", E, 100), ("2", E, 5), ("3", D, 1))
    result = checks.check_secret(
        CONFIG.spec("KYC_API_KEY"), info, rotation_days=30, warn_days=14, now=NOW
    )
    assert result.ok and result.evidence["version"] == "2"


def test_no_enabled_version_fails() -> None:
    info = _info("KYC_API_KEY", ("1", D, 1))
    result = checks.check_secret(
        CONFIG.spec("KYC_API_KEY"), info, rotation_days=30, warn_days=14, now=NOW
    )
    assert not result.ok and result.detail == "has no enabled version"


def test_stripe_key_kind_reads_the_prefix_only() -> None:
    assert checks.stripe_key_kind(LIVE) == checks.StripeKeyKind("sk", "live")
    assert checks.stripe_key_kind(TEST) == checks.StripeKeyKind("sk", "test")
    assert checks.stripe_key_kind("whatever") is None
    assert checks.stripe_key_kind("sk_live") is None


@pytest.mark.parametrize(
    ("env", "value", "ok", "detail"),
    [
        ("staging", LIVE, False, "holds a live-mode key; staging must use test-mode keys"),
        ("dev", LIVE, False, "holds a live-mode key; dev must use test-mode keys"),
        ("production", TEST, False, "holds a test-mode key; production must use live-mode keys"),
        ("production", PK_LIVE, False, "holds a pk_ key where a sk_ key (secret_key) belongs"),
        ("production", "garbage-value", False, "is not a Stripe secret key"),
        ("production", LIVE, True, "live-mode sk_ key"),
        ("staging", TEST, True, "test-mode sk_ key"),
    ],
)
def test_stripe_mode_check(env: str, value: str, ok: bool, detail: str) -> None:
    report = checks.check_stripe_modes(
        CONFIG, env, {"STRIPE_SECRET_KEY": checks.stripe_key_kind(value)}
    )
    (check,) = report.checks
    assert (check.ok, check.detail) == (ok, detail)
    assert report.ok is ok
    assert value not in report.model_dump_json()


def test_stripe_check_leaves_missing_keys_to_the_inventory() -> None:
    assert checks.check_stripe_modes(CONFIG, "production", {}).checks == ()


def test_combine() -> None:
    good = checks.check_stripe_modes(CONFIG, "staging", {"STRIPE_SECRET_KEY": None})
    report = checks.combine("gate", good, checks.check_inventory(CONFIG, "dev", {}, NOW))
    assert not report.ok and len(report.checks) == 4 and report.summary.startswith("gate: ")


def test_plan_finish() -> None:
    grace = timedelta(hours=24)
    fresh = SecretInfo(
        name="K",
        versions=(
            SecretVersion(id="1", state=E, created_at=NOW - timedelta(days=90)),
            SecretVersion(id="2", state=E, created_at=NOW - timedelta(hours=2)),
        ),
    )
    waiting = checks.plan_finish(fresh, NOW, grace, force=False)
    assert waiting.disable == () and "grace period" in waiting.note
    assert checks.plan_finish(fresh, NOW, grace, force=True).disable == ("1",)
    assert checks.plan_finish(fresh, NOW + grace, grace, force=False).disable == ("1",)
    single = SecretInfo(name="K", versions=fresh.versions[1:])
    assert checks.plan_finish(single, NOW, grace, force=True).disable == ()


def test_repo_secrets_file_is_valid() -> None:
    config = load_secrets_config(DEFAULT_SECRETS_FILE, ENVS)
    names = {s.name for s in config.for_env("production")}
    assert {"STRIPE_SECRET_KEY", "STRIPE_WEBHOOK_SECRET", "SLACK_WEBHOOK_URL"} <= names
    assert config.live_mode("production") and not config.live_mode("staging")


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("[secrets.lower]\ndescription='d'\nowner='o'", "secrets.lower"),
        ("[secrets.A_B]\nowner='o'", "secrets.A_B.description"),
        ("[secrets.A_B]\ndescription='d'\nowner='o'\nenvs=['qa']", "unknown environment(s) qa"),
        ("[secrets.A_B\n", "not valid TOML"),
        ("[defaults]\nrotation_days=0", "defaults.rotation_days"),
    ],
)
def test_bad_secrets_file(tmp_path: Path, text: str, message: str) -> None:
    path = tmp_path / "secrets.toml"
    path.write_text(text)
    with pytest.raises(ConfigError, match=r"secrets\.toml") as err:
        load_secrets_config(path, ENVS)
    assert message in str(err.value)


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        (b"", "empty value"),
        (b"  \n", "empty value"),
        (b" padded", "leading or trailing whitespace"),
        (b"\xff\xfe", "not UTF-8"),
        (b"x" * (64 * 1024 + 1), "larger than"),
        (LIVE.encode(), "holds a live-mode key; staging must use test-mode keys"),
    ],
)
def test_bad_rotation_input(raw: bytes, message: str) -> None:
    spec = CONFIG.spec("STRIPE_SECRET_KEY")
    with pytest.raises(Refused, match=message) as err:
        secrets_handler.clean_value(spec, raw, live=False, env="staging")
    assert LIVE not in str(err.value)


def test_rotation_input_loses_one_trailing_newline() -> None:
    spec = CONFIG.spec("KYC_API_KEY")
    assert secrets_handler.clean_value(spec, b"abc-123\n", live=False, env="dev") == b"abc-123"


def test_template_has_names_and_no_values() -> None:
    text = secrets_handler.template(CONFIG, "production")
    assert "STRIPE_SECRET_KEY=\n" in text and "STORE_KEY=\n" in text
    assert "[live-mode Stripe key]" in text
    assert all(line.endswith("=") for line in text.splitlines() if "=" in line and "#" not in line)


def test_secrets_gate_scoped_to_production(tmp_path: Path) -> None:
    from shared.config import EnvConfig
    from shared.domain.model import Release
    from shared.secrets.local_store import LocalSecretStore

    release = Release(version="1.0.0", commit="abcdef1", branch="main", author="a", created_at=NOW)
    gate = secrets_handler.SecretsGate(
        CONFIG,
        stores=lambda env: LocalSecretStore(tmp_path, env.project),
        clock=lambda: NOW,
        envs=frozenset({"production"}),
    )
    staging = gate.run(release, EnvConfig(name="staging", project="demo-avalo-staging"))
    assert (staging.ran, staging.ok) == (False, True)
    prod = gate.run(release, EnvConfig(name="production", project="demo-avalo-production"))
    assert prod.ran and not prod.ok
    assert "secret STORE_KEY: does not exist" in prod.failures()
