"""Evaluating flags for a user from an in-memory snapshot: pure, no I/O.

Precedence (first match wins): kill switch → off; alwaysOn → on; disabled → off; denied user →
off; allowed user → on; otherwise the Remote Config percent bucket.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from typing import TYPE_CHECKING, Any, NoReturn

from shared.flags import bucketing, catalog
from shared.flags.bucketing import MICRO_SPACE, user_id_bytes
from shared.flags.model import Flag, FlagInvalid, parse_flag

if TYPE_CHECKING:
    from _hashlib import HASH

log = logging.getLogger(__name__)
# Per-flag memo of bucket results; cleared when full, so memory stays bounded.
MEMO_MAX = 65_536

Evaluate = Callable[[str], bool]
EvaluateMany = Callable[[Sequence[str]], list[bool]]


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
    """One flag prepared for fast evaluation, once per snapshot: `evaluate(user_id)` and
    `evaluate_many(user_ids)` are closures specialised for the flag's shape.

    - kill switch, disabled, alwaysOn: a constant (the id is still checked);
    - 0% or 100%: only the allow / deny lists can matter, no hashing;
    - otherwise the bucket, from the SHA-256 state of `seed + "."` (hashed once here and copied
      per user) and the threshold in micro-percent; `evaluate` memoises the result per user
      (bounded by MEMO_MAX). A new snapshot compiles new flags, so a memo is never stale.
    """

    __slots__ = ("evaluate", "evaluate_many")

    def __init__(self, name: str, flag: Flag) -> None:
        self.evaluate: Evaluate
        self.evaluate_many: EvaluateMany
        self.evaluate, self.evaluate_many = _compile(name, flag)

    def __call__(self, user_id: str) -> bool:
        return self.evaluate(user_id)


def _compile(name: str, flag: Flag) -> tuple[Evaluate, EvaluateMany]:
    if flag.kill_switch or not flag.enabled:
        return _constant(False)
    if flag.always_on:
        return _constant(True)
    deny = frozenset(flag.deny_users)
    allow = frozenset(flag.allow_users) - deny  # deny beats allow
    threshold = flag.micro_percent
    if threshold <= 0:  # 0% is nobody (see bucketing): only the allow list is on
        return _member_of(allow)
    if threshold >= MICRO_SPACE:  # every micro-percentile (< 10^8) is <= the threshold
        return _not_member_of(deny)
    return _bucketed(bucketing.seed_state(flag.seed_for(name)), threshold, deny, allow)


def _check_all(user_ids: Sequence[str]) -> None:
    """Raise `InvalidUserId` for the first bad id. Non-strings, empty and blank ids are caught
    here; a lone surrogate only when the id is encoded, so callers that encode themselves catch
    `UnicodeEncodeError` and call `_refuse_first_bad`."""
    try:
        if all(user_ids) and not any(map(str.isspace, user_ids)):  # TypeError: not a str
            return
    except TypeError:
        pass
    _refuse_first_bad(user_ids)


def _refuse_first_bad(user_ids: Sequence[str]) -> NoReturn:
    for user_id in user_ids:
        user_id_bytes(user_id)  # raises with the precise reason
    raise AssertionError("an id was refused but none is invalid")


def _check_all_encodable(user_ids: Sequence[str]) -> None:
    _check_all(user_ids)
    try:
        for user_id in user_ids:
            user_id.encode()
    except UnicodeEncodeError:
        _refuse_first_bad(user_ids)


def _constant(value: bool) -> tuple[Evaluate, EvaluateMany]:
    def evaluate(user_id: str) -> bool:
        user_id_bytes(user_id)  # refuse bad ids whatever the flag says
        return value

    def evaluate_many(user_ids: Sequence[str]) -> list[bool]:
        _check_all_encodable(user_ids)
        return [value] * len(user_ids)

    return evaluate, evaluate_many


def _member_of(members: frozenset[str]) -> tuple[Evaluate, EvaluateMany]:
    def evaluate(user_id: str) -> bool:
        user_id_bytes(user_id)
        return user_id in members

    def evaluate_many(user_ids: Sequence[str]) -> list[bool]:
        _check_all_encodable(user_ids)
        return [u in members for u in user_ids]

    return evaluate, evaluate_many


def _not_member_of(members: frozenset[str]) -> tuple[Evaluate, EvaluateMany]:
    def evaluate(user_id: str) -> bool:
        user_id_bytes(user_id)
        return user_id not in members

    def evaluate_many(user_ids: Sequence[str]) -> list[bool]:
        _check_all_encodable(user_ids)
        return [u not in members for u in user_ids]

    return evaluate, evaluate_many


def _bucketed(
    state: HASH, threshold: int, deny: frozenset[str], allow: frozenset[str]
) -> tuple[Evaluate, EvaluateMany]:
    listed = deny | allow
    memo: dict[str, bool] = {}
    memo_get = memo.get
    copy = state.copy
    from_bytes = int.from_bytes

    def evaluate(user_id: str) -> bool:
        try:
            hit = memo_get(user_id)  # only valid ids are ever memoised
        except TypeError:  # unhashable, so not a str
            user_id_bytes(user_id)
            raise
        if hit is not None:
            return hit
        # bucketing.user_id_bytes, its common case inlined: this is the hot path.
        if type(user_id) is str and user_id and not user_id.isspace():
            try:
                raw = user_id.encode()
            except UnicodeEncodeError:
                raw = user_id_bytes(user_id)  # raises
        else:
            raw = user_id_bytes(user_id)  # raises, unless a str subclass
        if listed and user_id in listed:
            return user_id not in deny
        # bucketing.micro_percentile_from, inlined.
        h = copy()
        h.update(raw)
        result = from_bytes(h.digest()) % MICRO_SPACE <= threshold
        if len(memo) >= MEMO_MAX:
            memo.clear()
        memo[user_id] = result
        return result

    def evaluate_many(user_ids: Sequence[str]) -> list[bool]:
        _check_all(user_ids)
        out: list[bool] = []
        try:
            for user_id in user_ids:
                h = copy()
                h.update(user_id.encode())
                out.append(from_bytes(h.digest()) % MICRO_SPACE <= threshold)
        except UnicodeEncodeError:
            _refuse_first_bad(user_ids)
        if listed and not listed.isdisjoint(user_ids):
            for i, user_id in enumerate(user_ids):
                if user_id in listed:
                    out[i] = user_id not in deny
        return out

    return evaluate, evaluate_many


@dataclass(frozen=True)
class FlagSnapshot:
    """All flags of one environment at one moment. Immutable: a refresh builds a new one."""

    flags: Mapping[str, Flag]
    problems: Mapping[str, str] = field(default_factory=dict)
    compiled: Mapping[str, CompiledFlag] = field(init=False)
    evaluators: Mapping[str, Evaluate] = field(init=False)

    def __post_init__(self) -> None:
        compiled = {n: CompiledFlag(n, f) for n, f in self.flags.items()}
        object.__setattr__(self, "compiled", compiled)
        object.__setattr__(self, "evaluators", {n: c.evaluate for n, c in compiled.items()})

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
    """Holds the current snapshot; evaluation reads it without locks or I/O.

    `snapshot` is a plain attribute (read on every evaluation, so no property call); change it
    only with `replace`."""

    def __init__(self, snapshot: FlagSnapshot | None = None) -> None:
        self.snapshot = snapshot or FlagSnapshot(flags={})
        self._ready = threading.Event()
        if snapshot is not None:
            self._ready.set()
        self._unknown_logged: set[str] = set()

    def replace(self, snapshot: FlagSnapshot) -> None:
        for name, problem in snapshot.problems.items():
            log.warning(
                "flag %s has an invalid value, keeping the last valid one: %s", name, problem
            )
        self.snapshot = snapshot  # one reference swap: readers see old or new, never a mix
        self._ready.set()

    def wait_ready(self, timeout: float) -> bool:
        return self._ready.wait(timeout)

    def is_enabled(self, flag: str, user_id: str) -> bool:
        evaluate = self.snapshot.evaluators.get(flag)
        if evaluate is not None:
            return evaluate(user_id)
        return self.unknown(flag, user_id)

    def evaluate_many(self, flag: str, user_ids: Iterable[str]) -> list[bool]:
        """`is_enabled(flag, u)` for each id, in order, from one snapshot. All ids are checked
        first (`InvalidUserId` for the first bad one, nothing evaluated). Saves the per-call
        overhead; neither reads nor fills the per-user memo."""
        ids = user_ids if isinstance(user_ids, list | tuple) else list(user_ids)
        compiled = self.snapshot.compiled.get(flag)
        if compiled is not None:
            return compiled.evaluate_many(ids)
        _check_all_encodable(ids)
        return [self.unknown(flag, ids[0])] * len(ids) if ids else []

    def unknown(self, flag: str, user_id: str) -> bool:
        """The answer for a flag the snapshot does not have (logged once per flag)."""
        bucketing.user_id_bytes(user_id)
        if flag not in self._unknown_logged:
            self._unknown_logged.add(flag)
            log.warning(
                "unknown feature flag %r evaluated (default: %s)", flag, _unknown_default(flag)
            )
        return _unknown_default(flag)
