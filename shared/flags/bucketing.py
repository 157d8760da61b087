"""Firebase Remote Config's percent-condition bucketing, reproducible in every client.

micro-percentile = int(SHA-256(utf8(seed + "." + userId))) mod 100,000,000, as in Remote
Config's server-template evaluation. A user is in a P% rollout iff P > 0 and
micro-percentile <= P * 1,000,000 (Remote Config's LESS_OR_EQUAL). The one deviation: 0% is
nobody (Remote Config would still admit the 1-in-10^8 users whose micro-percentile is 0).

`micro_percentile` is the readable reference. The evaluator's hot path uses `seed_state` (the
SHA-256 state after hashing `seed + "."`, computed once per flag and copied per user) and
`micro_percentile_from`; both give the same number (tests/unit/test_flags_vectors.py).
"""

from __future__ import annotations

import hashlib
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from _hashlib import HASH

MICRO_SPACE = 100_000_000


class InvalidUserId(ValueError):
    """A user id that cannot be bucketed: not a string, blank, or not valid Unicode."""


def user_id_bytes(user_id: object) -> bytes:
    """The UTF-8 bytes of a valid user id; `InvalidUserId` for anything else."""
    if type(user_id) is str and user_id and not user_id.isspace():
        try:  # the common case first: a plain, non-blank str
            return user_id.encode()
        except UnicodeEncodeError:
            pass
    if not isinstance(user_id, str):
        raise InvalidUserId(f"user id must be a string, got {type(user_id).__name__}")
    if not user_id or user_id.isspace():
        raise InvalidUserId("user id must not be empty or blank")
    try:
        return user_id.encode("utf-8")
    except UnicodeEncodeError:
        # A lone surrogate: JavaScript would silently turn it into U+FFFD and bucket a
        # different string, so no client may bucket it.
        raise InvalidUserId("user id is not valid Unicode (lone surrogate)") from None


def seed_prefix(seed: str) -> bytes:
    return f"{seed}.".encode()


def seed_state(seed: str) -> HASH:
    """SHA-256 after `seed + "."`: `.copy()` it and feed the user id to finish the hash."""
    return hashlib.sha256(seed_prefix(seed))


def micro_percentile_raw(prefix: bytes, user: bytes) -> int:
    """Prefix and user already encoded and checked."""
    return int.from_bytes(hashlib.sha256(prefix + user).digest(), "big") % MICRO_SPACE


def micro_percentile_from(state: HASH, user: bytes) -> int:
    """Same as `micro_percentile_raw`, continuing a `seed_state` instead of rehashing the seed."""
    h = state.copy()
    h.update(user)
    return int.from_bytes(h.digest(), "big") % MICRO_SPACE


def micro_percentile(seed: str, user_id: str) -> int:
    return micro_percentile_raw(seed_prefix(seed), user_id_bytes(user_id))


def in_rollout(micro: int, micro_percent: int) -> bool:
    return micro_percent > 0 and micro <= micro_percent


def percent_to_micro(percent: float) -> int:
    return round(percent * 1_000_000)
