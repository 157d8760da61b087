"""Approvals as Firebase ID tokens: firebase-admin's own verification in its emulator mode
(unsigned tokens, the documented local equivalent), and what the control plane adds."""

from __future__ import annotations

import base64
import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from shared.approvals.tokens import (
    EMULATOR_ENV,
    FirebaseTokenVerifier,
    check_approver,
    identity,
)
from shared.errors import ConfigError, Refused

PROJECT = "demo-release-control"
NOW = datetime(2026, 11, 25, 12, 0, tzinfo=UTC)


def _b64(data: dict[str, Any]) -> str:
    return base64.urlsafe_b64encode(json.dumps(data).encode()).decode().rstrip("=")


def emulator_token(**claims: Any) -> str:
    """What the Firebase Auth emulator issues: an unsigned JWT (alg none)."""
    payload = {
        "iss": f"https://securetoken.google.com/{PROJECT}",
        "aud": PROJECT,
        "sub": "uid-bob",
        "email": "bob@avalo.app",
        "email_verified": True,
        "iat": int(NOW.timestamp()) - 60,
        "exp": int(NOW.timestamp()) + 3600,
        **claims,
    }
    return f"{_b64({'alg': 'none', 'typ': 'JWT'})}.{_b64(payload)}."


@pytest.fixture
def verifier(monkeypatch: pytest.MonkeyPatch) -> FirebaseTokenVerifier:
    monkeypatch.setenv(EMULATOR_ENV, "127.0.0.1:9099")
    return FirebaseTokenVerifier(PROJECT, clock=lambda: NOW)


def test_a_valid_token_names_the_approver(verifier: FirebaseTokenVerifier) -> None:
    approver = verifier.verify(emulator_token())
    assert (approver.uid, approver.name, approver.verified_by) == (
        "uid-bob",
        "bob@avalo.app",
        "auth-emulator",
    )
    check_approver("bob@avalo.app", approver)
    check_approver("uid-bob", approver)


@pytest.mark.parametrize(
    ("claims", "reason"),
    [
        ({"aud": "demo-other"}, 'incorrect "aud"'),
        ({"iss": "https://evil.example/demo-release-control"}, 'incorrect "iss"'),
        ({"sub": ""}, 'empty string "sub"'),
        ({"exp": int(NOW.timestamp()) - 1}, "expired"),
    ],
)
def test_a_bad_token_is_refused(
    verifier: FirebaseTokenVerifier, claims: dict[str, Any], reason: str
) -> None:
    with pytest.raises(Refused, match=reason):
        verifier.verify(emulator_token(**claims))


def test_garbage_and_empty_tokens_are_refused(verifier: FirebaseTokenVerifier) -> None:
    with pytest.raises(Refused, match="ID token rejected"):
        verifier.verify("not-a-jwt")
    with pytest.raises(Refused, match="carries no ID token"):
        verifier.verify("")


def test_someone_else_cannot_approve_with_bobs_token(verifier: FirebaseTokenVerifier) -> None:
    with pytest.raises(Refused, match=r"does not match the signed-in user 'bob@avalo\.app'"):
        check_approver("alice@avalo.app", verifier.verify(emulator_token()))


def test_an_unverified_email_is_not_an_identity() -> None:
    claims = {"sub": "uid-x", "email": "ceo@avalo.app", "email_verified": False, "exp": 2e9}
    approver = identity(claims, emulated=True, now=NOW)
    assert approver.name == "uid-x"
    with pytest.raises(Refused):
        check_approver("ceo@avalo.app", approver)


def test_emulator_tokens_are_never_accepted_for_a_real_project(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv(EMULATOR_ENV, "127.0.0.1:9099")
    with pytest.raises(Refused, match="only for demo- projects"):
        FirebaseTokenVerifier("avalo-control")


def test_outside_the_emulator_missing_credentials_are_one_clear_error(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    # The Google Cloud path checks Google's signature, so firebase-admin needs credentials.
    monkeypatch.delenv(EMULATOR_ENV, raising=False)
    monkeypatch.setenv("GOOGLE_APPLICATION_CREDENTIALS", str(tmp_path / "absent.json"))
    verifier = FirebaseTokenVerifier("avalo-control-x", clock=lambda: NOW, check_revoked=False)
    with pytest.raises(ConfigError, match="needs Google credentials"):
        verifier.verify(emulator_token(aud="avalo-control-x"))
    # on Google Cloud the (signed) expiry is firebase-admin's to check, not ours
    assert identity({"sub": "u", "exp": 0}, emulated=False, now=NOW + timedelta(days=1)).uid == "u"
