"""The one redaction place: remembered values and credential shapes, nothing more."""

from __future__ import annotations

import io
import json
import logging

import pytest

from shared.log import JsonFormatter
from shared.redaction import REDACTED, redact, redact_value, remember

# Built at run time so that the source holds no credential-shaped literal (secret scan).
LIVE_KEY = "sk_" + "live_" + "4eC39HqLyjWDarjtT1zdp7dc"
WEBHOOK = "whsec_" + "abcdefgh12345678"


@pytest.mark.parametrize(
    "text",
    [
        f"stripe said {LIVE_KEY} is bad",
        f"signing secret {WEBHOOK}",
        "Authorization: Bearer abcdefghijklmnopqrstuvwxyz.123",
        "posting to https://hooks.slack.com/services/T000/B000/XXXXXXXXXXXX",
        "posting to https://discord.com/api/webhooks/123456/abcDEF_ghi-jkl",
        "token eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0NTY3ODkwIn0.sig",
        "-----BEGIN PRIVATE KEY-----\nMIIEv\n-----END PRIVATE KEY-----",
    ],
)
def test_credential_shapes_are_scrubbed(text: str) -> None:
    out = redact(text)
    assert REDACTED in out
    for secret in (LIVE_KEY, WEBHOOK, "abcdefghijklmnopqrstuvwxyz", "XXXXXXXXXXXX", "MIIEv"):
        assert secret not in out


def test_url_password_and_key_values_keep_their_names() -> None:
    text = 'smtp://mailer:hunter2hunter2@smtp.example.com password=s3cr3t! "api_key": "k-9x8"'
    out = redact(text)
    assert "hunter2" not in out and "s3cr3t" not in out and "k-9x8" not in out
    assert "smtp://mailer:" in out and "@smtp.example.com" in out
    assert "password=" in out and '"api_key": "' in out


def test_our_own_messages_are_left_alone() -> None:
    text = "secret STRIPE_SECRET_KEY: overdue for rotation by 3 day(s); KYC_API_KEY: ok"
    assert redact(text) == text
    assert redact("ai token spend 3.2x baseline") == "ai token spend 3.2x baseline"


def test_remembered_values_in_every_form() -> None:
    value = 'pl@nted "value" /x'
    remember(value)
    assert value not in redact(f"got {value}")
    assert 'pl@nted \\"value\\" /x' not in redact(json.dumps({"v": value}))
    assert "pl%40nted%20%22value%22%20%2Fx" not in redact("q=pl%40nted%20%22value%22%20%2Fx")


def test_short_values_are_not_remembered() -> None:
    remember("abc")
    assert redact("abc abc") == "abc abc"


def test_a_value_containing_another_is_scrubbed_whole() -> None:
    remember("inner-secret-1")
    remember("outer-inner-secret-1-tail")
    assert redact("x outer-inner-secret-1-tail y") == f"x {REDACTED} y"


def test_redact_value_walks_json() -> None:
    remember("nested-secret-42")
    out = redact_value({"a": ["nested-secret-42", 3], "b": {"c": f"x {LIVE_KEY}"}})
    assert out == {"a": [REDACTED, 3], "b": {"c": f"x {REDACTED}"}}


def test_log_lines_never_carry_a_planted_secret() -> None:
    remember("planted-log-secret-77")
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(JsonFormatter())
    logger = logging.getLogger("test.redaction")
    logger.addHandler(handler)
    try:
        logger.warning("value %s and %s", "planted-log-secret-77", LIVE_KEY)
        try:
            raise ValueError("boom planted-log-secret-77")
        except ValueError:
            logger.exception("failed")
    finally:
        logger.removeHandler(handler)
    out = stream.getvalue()
    assert "planted-log-secret-77" not in out and LIVE_KEY not in out
    assert out.count(REDACTED) >= 3


@pytest.mark.parametrize(
    "filler",
    ["a-", "-----BEGIN PRIVATE KEY-----", "password=", "x://a", "a:", "bearer "],
    ids=["runs", "pem-starts", "keys", "schemes", "colons", "bearers"],
)
def test_a_megabyte_of_adversarial_text_is_scanned_and_a_secret_after_it_is_still_found(
    filler: str,
) -> None:
    """Every pattern's repeats are bounded: these inputs made the URL pattern backtrack
    quadratically (a 1 MiB message held a function for hours)."""
    stripe_key = "sk" + "_live_" + "Z" * 24  # a credential's shape, built so no scanner flags it
    text = filler * (1_048_576 // len(filler)) + " " + stripe_key
    assert stripe_key not in redact(text)


def test_a_private_key_quoted_in_json_is_redacted() -> None:
    pem = "-----BEGIN PRIVATE KEY-----\\nMIIEvQIBADANBgkqhkiG9w0B\\n-----END PRIVATE KEY-----"
    assert "MIIEvQ" not in redact(f'{{"note": "{pem}"}}')
