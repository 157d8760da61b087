"""The one place that scrubs secrets from text bound for logs, dead letters and notifications.

Two nets: the exact values of secrets this process has read (`remember`), and the shapes of
well-known credentials (Stripe keys, webhook URLs, bearer tokens, private keys...), so that a
secret we never read ourselves (pasted into a reason, echoed in an error) is caught as well.
"""

from __future__ import annotations

import json
import re
import threading
from typing import Any
from urllib.parse import quote

REDACTED = "[REDACTED]"
# Shorter values would scrub ordinary words; no real credential is this short.
MIN_SECRET_LEN = 6

# Shapes of credentials that must never leave the process in clear text.
_PATTERNS = [
    re.compile(r"\b(sk|rk|pk)_(live|test)_[0-9A-Za-z]{8,}"),  # Stripe keys
    re.compile(r"\bwhsec_[0-9A-Za-z]{8,}"),  # Stripe webhook secrets
    re.compile(r"(?i)\bbearer\s+[A-Za-z0-9._~+/=-]{8,}"),  # bearer tokens
    re.compile(r"(?i)\bbasic\s+[A-Za-z0-9+/=]{8,}"),  # HTTP basic credentials
    re.compile(r"\beyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]*"),  # JWTs
    re.compile(r"\bAIza[0-9A-Za-z_-]{35}\b"),  # Google API keys
    re.compile(r"\bya29\.[0-9A-Za-z_-]{20,}"),  # Google OAuth access tokens
    # the body is base64 and line breaks: a class without `-` cannot run into the next BEGIN
    re.compile(
        r"-----BEGIN [A-Z ]{0,40}PRIVATE KEY-----[A-Za-z0-9+/=\s\\]{0,16384}"
        r"-----END [A-Z ]{0,40}PRIVATE KEY-----"
    ),
    re.compile(r"https://hooks\.slack\.com/services/[A-Za-z0-9/]+"),
    re.compile(r"https://discord(?:app)?\.com/api/webhooks/[0-9]+/[A-Za-z0-9_-]+"),
    re.compile(r"\bxox[abprs]-[0-9A-Za-z-]{10,}"),  # Slack tokens
    re.compile(r"\bgh[pousr]_[0-9A-Za-z]{30,}"),  # GitHub tokens
    re.compile(r"\b(AKIA|ASIA)[0-9A-Z]{16}\b"),  # AWS access key ids
    re.compile(r"\bSG\.[0-9A-Za-z_-]{16,}\.[0-9A-Za-z_-]{16,}"),  # SendGrid API keys
]
# `scheme://user:password@host`: keep the user and host (useful), drop the password. Every
# repeat is bounded: unbounded ones backtrack quadratically on a long run such as `a-a-a-…`
# (a 1 MiB message would hold a function for hours).
_URL_PASSWORD = re.compile(r"(?i)\b([a-z][a-z0-9+.-]{0,31}://[^/\s:@]{1,256}:)[^@\s/]{1,256}@")
# `password=...`, `"api_key": "..."`: keep the key (useful), drop the value. The key must stand
# alone (`\b` before it) so names such as STRIPE_SECRET_KEY in our own messages are left alone.
_KEY_VALUE = re.compile(
    r"(?i)\b(password|passwd|pwd|client_secret|api_key|apikey|access_token|auth_token|"
    r"refresh_token|id_token|secret_key|private_key)\b([\"']?\s{0,8}[=:]\s{0,8}[\"']?)"
    r"([^\s\"',;&]{4,4096})"
)

_lock = threading.Lock()
_known: set[str] = set()
_known_re: re.Pattern[str] | None = None


def _variants(secret: str) -> set[str]:
    """The forms a value takes in text: as is, JSON-escaped, URL-encoded."""
    forms = {secret, secret.strip(), json.dumps(secret)[1:-1], quote(secret, safe="")}
    return {f for f in forms if len(f) >= MIN_SECRET_LEN}


def remember(secret: str) -> None:
    """Register a secret value in play so that it is scrubbed wherever it appears."""
    global _known_re
    forms = _variants(secret)
    if not forms:
        return
    with _lock:
        if forms <= _known:
            return
        _known.update(forms)
        # Longest first, so a value that contains another is scrubbed whole.
        alternatives = sorted(_known, key=len, reverse=True)
        _known_re = re.compile("|".join(re.escape(v) for v in alternatives))


def known_count() -> int:
    """How many value forms are registered (for diagnostics: never the values)."""
    return len(_known)


def redact(text: str) -> str:
    """`text` with every remembered secret and every credential-shaped string replaced."""
    pattern = _known_re
    if pattern is not None:
        text = pattern.sub(REDACTED, text)
    for shape in _PATTERNS:
        text = shape.sub(REDACTED, text)
    text = _URL_PASSWORD.sub(lambda m: f"{m.group(1)}{REDACTED}@", text)
    return _KEY_VALUE.sub(lambda m: f"{m.group(1)}{m.group(2)}{REDACTED}", text)


def redact_value(value: Any) -> Any:
    """`redact` applied to every string inside a JSON-like value (dicts, lists, scalars)."""
    if isinstance(value, str):
        return redact(value)
    if isinstance(value, dict):
        return {redact(str(k)): redact_value(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [redact_value(v) for v in value]
    return value
