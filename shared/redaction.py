"""The one place that scrubs secrets from text bound for logs, dead letters and notifications."""

from __future__ import annotations

import re

# Shapes of credentials that must never leave the process in clear text.
_PATTERNS = [
    re.compile(r"\b(sk|rk|pk)_(live|test)_[0-9A-Za-z]{8,}"),  # Stripe keys
    re.compile(r"\bwhsec_[0-9A-Za-z]{8,}"),  # Stripe webhook secrets
    re.compile(r"(?i)\bbearer\s+[A-Za-z0-9._~+/=-]{8,}"),  # bearer tokens
    re.compile(r"\beyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]*"),  # JWTs
    re.compile(r"\bAIza[0-9A-Za-z_-]{35}\b"),  # Google API keys
    re.compile(r"-----BEGIN [A-Z ]*PRIVATE KEY-----.*?-----END [A-Z ]*PRIVATE KEY-----", re.S),
    re.compile(r"https://hooks\.slack\.com/services/[A-Za-z0-9/]+"),
    re.compile(r"https://discord(?:app)?\.com/api/webhooks/[0-9]+/[A-Za-z0-9_-]+"),
]
_known: set[str] = set()
REDACTED = "[REDACTED]"


def remember(secret: str) -> None:
    """Register a secret value in play so that it is scrubbed wherever it appears."""
    if len(secret) >= 6:
        _known.add(secret)


def redact(text: str) -> str:
    for value in sorted(_known, key=len, reverse=True):
        text = text.replace(value, REDACTED)
    for pattern in _PATTERNS:
        text = pattern.sub(REDACTED, text)
    return text
