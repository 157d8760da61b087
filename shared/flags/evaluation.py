"""Evaluating flags for a user from an in-memory snapshot: pure, no I/O.

Precedence (first match wins): kill switch → off; alwaysOn → on; disabled → off; denied user →
off; allowed user → on; otherwise the Remote Config percent bucket.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from hashlib import sha256
from typing import Any

from shared.flags import bucketing, catalog
from shared.flags.model import Flag, FlagInvalid, parse_flag

log = logging.getLogger(__name__)
# Per-flag memo of bucket results; cleared when full, so memory stays bounded.
MEMO_MAX = 65_536


class Reason(StrEnum):
    KILLED = "killed"
    ALWAYS_ON = "always_on"
    DISABLED = "disabled"
    DENIED = "denied"
    ALLOWED = "allowed"
    IN_ROLLOUT = "in_rollout"
    OUT_OF_ROLLOUT = "out_of_rollout"
    UNKNOWN = "unknown_flag"


def explain(name: str, flag: Flag | None, user_id: str) -> Reason:
    """The readable reference evaluation; `CompiledFlag` is the fast equivalent."""
    bucketing.user_id_bytes(user_id)  # refuse bad ids whatever the flag says
    if flag is None:
        return Reason.ALWAYS_ON if _unknown_default(name) else Reason.UNKNOWN
    if flag.kill_switch:
        return Reason.KILLED
    if flag.always_on:
        return Reason.ALWAYS_ON
    if not flag.enabled:
        return Reason.DISABLED
    if user_id in flag.deny_users:
        return Reason.DENIED
    if user_id in flag.allow_users:
        return Reason.ALLOWED
    micro = bucketing.micro_percentile(flag.seed_for(name), user_id)
    if bucketing.in_rollout(micro, flag.micro_percent):
        return Reason.IN_ROLLOUT
    return Reason.OUT_OF_ROLLOUT


ON_REASONS = frozenset({Reason.ALWAYS_ON, Reason.ALLOWED, Reason.IN_ROLLOUT})


def _unknown_default(name: str) -> bool:
    # A missing safety flag must not take the panic button away: always-on flags default on.
    return catalog.policy(name) is catalog.Policy.ALWAYS_ON


class CompiledFlag:
    """One flag prepared for fast evaluation: constants folded, seed pre-encoded, results memoised
    per snapshot (a new snapshot compiles new flags, so the memo never goes stale)."""

    __slots__ = ("_allow", "_constant", "_deny", "_memo", "_micro", "_prefix")

    def __init__(self, name: str, flag: Flag) -> None:
        self._constant: bool | None = None
        if flag.kill_switch or not flag.enabled:
            self._constant = False
        elif flag.always_on:
            self._constant = True
        self._deny = frozenset(flag.deny_users)
        self._allow = frozenset(flag.allow_users)
        self._micro = flag.micro_percent
        self._prefix = bucketing.seed_prefix(flag.seed_for(name))
        self._memo: dict[str, bool] = {}

    def __call__(self, user_id: str) -> bool:
        hit = self._memo.get(user_id)  # only valid ids are ever memoised
        if hit is not None:
            return hit
        raw = bucketing.user_id_bytes(user_id)
        if self._constant is not None:
            result = self._constant
        elif user_id in self._deny:
            result = False
        elif user_id in self._allow:
            result = True
        else:
            # bucketing.micro_percentile_raw + in_rollout, inlined: this is the hot path.
            digest = sha256(self._prefix + raw).digest()
            micro = int.from_bytes(digest, "big") % bucketing.MICRO_SPACE
            result = self._micro > 0 and micro <= self._micro
        memo = self._memo
        if len(memo) >= MEMO_MAX:
            memo.clear()
        memo[user_id] = result
        return result


@dataclass(frozen=True)
class FlagSnapshot:
    """All flags of one environment at one moment. Immutable: a refresh builds a new one."""

    flags: Mapping[str, Flag]
    problems: Mapping[str, str] = field(default_factory=dict)
    compiled: Mapping[str, CompiledFlag] = field(init=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "compiled", {n: CompiledFlag(n, f) for n, f in self.flags.items()})

    @classmethod
    def from_docs(
        cls, docs: Iterable[tuple[str, Any]], previous: FlagSnapshot | None = None
    ) -> FlagSnapshot:
        """Parse raw documents; an invalid one keeps its last valid value (the guard is about
        to revert it) or, with none, the flag's safe default."""
        flags: dict[str, Flag] = {}
        problems: dict[str, str] = {}
        for name, data in docs:
            try:
                flags[name] = parse_flag(name, data)
            except FlagInvalid as exc:
                problems[name] = exc.reason
                kept = previous.flags.get(name) if previous else None
                flags[name] = kept or Flag.model_validate(catalog.safe_default(name))
        return cls(flags=flags, problems=problems)


class FlagEvaluator:
    """Holds the current snapshot; evaluation reads it without locks or I/O."""

    def __init__(self, snapshot: FlagSnapshot | None = None) -> None:
        self._snapshot = snapshot or FlagSnapshot(flags={})
        self._ready = threading.Event()
        if snapshot is not None:
            self._ready.set()
        self._unknown_logged: set[str] = set()

    @property
    def snapshot(self) -> FlagSnapshot:
        return self._snapshot

    def replace(self, snapshot: FlagSnapshot) -> None:
        for name, problem in snapshot.problems.items():
            log.warning(
                "flag %s has an invalid value, keeping the last valid one: %s", name, problem
            )
        self._snapshot = snapshot  # one reference swap: readers see old or new, never a mix
        self._ready.set()

    def wait_ready(self, timeout: float) -> bool:
        return self._ready.wait(timeout)

    def is_enabled(self, flag: str, user_id: str) -> bool:
        compiled = self._snapshot.compiled.get(flag)
        if compiled is not None:
            return compiled(user_id)
        return self._unknown(flag, user_id)

    def _unknown(self, flag: str, user_id: str) -> bool:
        bucketing.user_id_bytes(user_id)
        if flag not in self._unknown_logged:
            self._unknown_logged.add(flag)
            log.warning(
                "unknown feature flag %r evaluated (default: %s)", flag, _unknown_default(flag)
            )
        return _unknown_default(flag)
