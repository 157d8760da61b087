"""Reliability on the local stack: hostile messages on every Pub/Sub topic, and function servers
killed in the middle of a release.

Part 1, hostile messages. For each topic (`release-commands`, `cloud-builds`, `monitoring-ticks`,
`app-metrics`, `release-events`), one after the other, N messages that can never be valid are
generated with hypothesis (seeded: the same `--seed` gives the same messages, see the corpus
digest) and published with the real Pub/Sub client: random bytes, JSON nested 1,000 to 100,000
levels deep, integer literals of more than 4,300 digits, known fields of the wrong type, unknown
fields, 1 MiB strings, invalid UTF-8 and JSON objects of random shape, each with random
attributes. Every message is checked against an oracle written from the contract (DESIGN.md §3,
not the project's decoders) before it is sent: no valid command, build, tick, batch or event is
ever published, so each message should end as exactly one dead letter, delivered once, with no
change to release state. Per topic it prints: sent, dead-lettered (`deadLetters` documents of the
control project whose `topic` is the topic and whose `eventId` is one of the published message
ids), redeliveries (goal 0), deliveries that failed, control documents changed (goal 0) and
messages/s delivered.

How deliveries are counted, from the function servers' logs (`<local dir>/logs/<target>.log`):
a delivery the function finishes logs JSON lines carrying its `event_id` (the Pub/Sub message
id): `delivered: <outcome>` (release bus), `refused: <reason>` (bus, notifier), `metrics batch
refused: …`, `ignored: …`. One delivery may log several of these kinds (the bus logs `refused:`
then `delivered: refused`), so a message's finished deliveries are the largest count of any one
kind. A delivery that fails logs a `delivery failed…` JSON line with its event id (when the
entry point notes failures) and/or a Flask traceback without an id (`ERROR in app: Exception on
/projects/P/topics/T`, or gunicorn's `Error handling request`). Failed deliveries of a topic =
the `delivery failed` lines of our ids + the tracebacks not matched by any `delivery failed` line
(so one failure that logs both is counted once). Redeliveries = Σ (finished deliveries − 1) over
our ids + failed deliveries. Part 1's stack ticks every 10 minutes, so the ticker's own messages
hardly show up on `monitoring-ticks`.

A topic has settled when every message is dead-lettered and has finished a delivery (then 5 s
more to catch late redeliveries), or after 90 s without a new dead letter or finished delivery
(a failing message is redelivered forever; 90 s outlasts the Firestore client's 60 s retry of a
write it refuses), or at `--settle-timeout`. Then its push subscription is switched to pull, so
a redelivery loop it left does not slow the next topic down. messages/s delivered = messages with
a finished delivery / time from the first publish to the last first finished delivery.

Control documents: a snapshot (path → content hash) of the control project's `releases/**`
(with `rollouts`, `history` and every other subcollection) and `environments/*`, and of each
environment project's `featureFlags/*`, taken before and after each topic; changed = added +
removed + modified documents.

Part 2, kill-restart runs (on a fresh stack, bake 0, tick 1 s). A warm-up release measures how
long a release takes (`release.create` + `release.promote` to dev: the gates, the migrate and
deploy builds on `cloud-builds`, the smoke test, the tick that ends the bake, `release-events`).
Then each run starts such a release, and after a random delay (uniform over the warm-up
release's duration) SIGKILLs the process group of one Pub/Sub-triggered function server chosen
at random, calls `shared.local.stack.up` again (which restarts the dead parts on their recorded
ports) and waits for the release to end. Expected: the rollout `live`, `environments/dev.current`
the release, and the dev sample app serving it. A run that does not get there within
`--run-timeout` is reported as it stands.

    .venv/bin/python benchmarks/reliability.py [--per-topic 1000] [--kill-runs 10] [--seed 1]
        [--json] [--parts hostile,kills] [--settle-timeout 300] [--run-timeout 90]

    quick check: .venv/bin/python benchmarks/reliability.py --per-topic 40 --kill-runs 2

Progress goes to stderr, the tables (or with `--json` the figures) to stdout. Both stacks live in
a temporary directory and are stopped at the end, also on an error or Ctrl-C.
"""

from __future__ import annotations

import argparse
import contextlib
import hashlib
import json
import math
import os
import random
import re
import signal
import sys
import tempfile
import threading
import time
from collections import Counter, defaultdict
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from hypothesis import HealthCheck, Phase, assume, given, settings
from hypothesis import seed as hypothesis_seed
from hypothesis import strategies as st

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from shared.config import DEFAULT_CONFIG_FILE, load_config
from shared.local.driving import head_commit
from shared.local.stack import Options, down, up
from shared.local.state import StackState, alive, load
from shared.topics import (
    APP_METRICS,
    CLOUD_BUILDS,
    MONITORING_TICKS,
    PUBSUB_TRIGGERS,
    RELEASE_COMMANDS,
    RELEASE_EVENTS,
)

TOPICS = (RELEASE_COMMANDS, CLOUD_BUILDS, MONITORING_TICKS, APP_METRICS, RELEASE_EVENTS)
CONTROL_PROJECT = "demo-release-control"
KILL_ENV = "dev"
MiB = 1 << 20
PUBSUB_LIMIT = 10 * 1000 * 1000  # bytes per message (data + attributes)
QUIET_S = 90.0  # no new dead letter or finished delivery for this long (> the Firestore client's
# 60 s retry of a refused write, which holds a server thread): the topic has settled
SETTLED_EXTRA_S = 5.0  # once every message has finished, watch a little longer for redeliveries
Say = Callable[[str], None]


def say(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


class BenchFailed(Exception):
    pass


# -- the contract, as the oracle sees it (DESIGN.md §3; independent of the decoders) -------------

# type -> (required fields, optional fields); `id_token` may come with any command (§8).
COMMANDS: dict[str, tuple[tuple[str, ...], tuple[str, ...]]] = {
    "release.create": (("version", "commit", "branch", "author"), ("artifacts",)),
    "release.promote": (("release", "env", "actor"), ()),
    "release.approve": (("release", "env", "approver"), ("reason",)),
    "release.reject": (("release", "env", "approver"), ("reason",)),
    "release.rollback": (("env", "reason", "actor"), ("to_release",)),
    "release.cancel": (("release", "env", "actor"), ()),
    "env.freeze": (("env", "actor", "reason"), ()),
    "env.unfreeze": (("env", "actor"), ("reason",)),
}
# Commands §8 adds: never generated; the oracle treats them as possibly valid.
LATER_COMMANDS = (
    "mobile.promote",
    "mobile.submit",
    "mobile.release",
    "mobile.halt",
    "mobile.resume",
    "mobile.complete",
    "release.advance",
    "release.abort",
)
LONGEST_COMMAND_STRING = 8192  # every string field of a command is capped well below 1 MiB
BUILD_STATUSES = frozenset(
    {
        "STATUS_UNKNOWN",
        "PENDING",
        "QUEUED",
        "WORKING",
        "SUCCESS",
        "FAILURE",
        "INTERNAL_ERROR",
        "TIMEOUT",
        "CANCELLED",
        "EXPIRED",
    }
)
BUILD_FIELDS = (
    "id",
    "status",
    "projectId",
    "tags",
    "substitutions",
    "createTime",
    "logUrl",
    "statusDetail",
    "failureInfo",
)
BATCH_FIELDS = {
    "batchId": "batch_id",
    "env": "env",
    "release": "release",
    "windowStart": "window_start",
    "windowSeconds": "window_seconds",
    "counters": "counters",
    "latency": "latency",
}
BATCH_REQUIRED = ("batchId", "env", "windowStart", "windowSeconds")
EVENT_KINDS = (
    "rollout.state",
    "flag.reverted",
    "flag.changed",
    "monitoring.breach",
    "secret.exposed",
)
EVENT_FIELDS = ("key", "release", "env", "attempt", "from", "to", "actor", "at", "eventId")
# Attribute names the decoders read (a build's id and status, an event's kind): never random.
RESERVED_ATTRIBUTES = frozenset({"buildId", "status", "kind"})


def _json(data: bytes) -> tuple[bool, Any]:
    """(parsed, value) as `json.loads` (what the decoders use) sees the bytes."""
    try:
        return True, json.loads(data)
    except Exception:
        return False, None


def never_valid(topic: str, data: bytes, attributes: dict[str, str], envs: frozenset[str]) -> bool:
    """Whether a message can never be accepted on `topic`, by the contract. Conservative: when
    in doubt it answers False, and such a message is not sent."""
    parsed, value = _json(data)
    if topic == MONITORING_TICKS:
        # Decoded by pydantic's own JSON parser, with an empty body meaning `{}`; whatever
        # `json.loads` cannot read, it cannot read either (nesting, huge ints, bad UTF-8).
        if not data.strip():
            return False
        if not parsed:
            return True
        if not isinstance(value, dict) or set(value) - {"env"}:
            return True
        env = value.get("env")
        return not (env is None or (isinstance(env, str) and env in envs))
    if not parsed:
        if topic == RELEASE_EVENTS:
            kind = attributes.get("kind")
            return kind is None or kind in EVENT_KINDS  # an unknown kind is ignored, not refused
        return True
    if topic == RELEASE_COMMANDS:
        if not isinstance(value, dict):
            return True
        kind = value.get("type")
        if kind in LATER_COMMANDS:
            return False
        if kind not in COMMANDS:
            return True
        required, optional = COMMANDS[kind]
        if set(value) - {"type", "id_token", *required, *optional}:
            return True  # unknown fields are refused
        return not all(
            isinstance(value.get(f), str) and len(value[f]) <= LONGEST_COMMAND_STRING
            for f in required
        )
    if topic == CLOUD_BUILDS:
        if not isinstance(value, dict):
            return True
        build_id = value["id"] if "id" in value else attributes.get("buildId")
        status = value["status"] if "status" in value else attributes.get("status")
        return not (
            isinstance(build_id, str) and isinstance(status, str) and status in BUILD_STATUSES
        )
    if topic == APP_METRICS:
        if not isinstance(value, dict):
            return True
        known = set(BATCH_FIELDS) | set(BATCH_FIELDS.values())
        if set(value) - known:
            return True
        if any(a not in value and BATCH_FIELDS[a] not in value for a in BATCH_REQUIRED):
            return True
        batch_id = value.get("batchId", value.get("batch_id"))
        env = value.get("env")
        return not (isinstance(batch_id, str) and isinstance(env, str) and env in envs)
    if topic == RELEASE_EVENTS:
        kind = attributes.get("kind")
        if kind is None:
            return True
        if kind not in EVENT_KINDS:
            return False
        if not isinstance(value, dict):
            return True
        return not (
            isinstance(value.get("key"), str)
            and isinstance(value.get("env"), str)
            and "at" in value
        )
    raise ValueError(f"unknown topic {topic}")


# -- hostile messages (hypothesis) ---------------------------------------------------------------


@dataclass
class Hostile:
    category: str
    data: bytes
    attributes: dict[str, str]

    @property
    def size(self) -> int:
        return len(self.data) + sum(
            len(k.encode()) + len(v.encode()) for k, v in self.attributes.items()
        )


CATEGORIES = (
    "random_bytes",
    "deep_nesting",
    "huge_int",
    "wrong_types",
    "unknown_fields",
    "mib_string",
    "invalid_utf8",
    "random_shape",
)
# Out of 100: 1 MiB strings are few (each is a megabyte through the emulator and the function).
WEIGHTS = (14, 14, 10, 14, 12, 4, 14, 18)
MARKER = "\x00bench-splice\x00"
SPLICED = json.dumps(MARKER)
INVALID_UTF8 = (
    b"\xff",
    b"\xfe",
    b"\x80",
    b"\xc0\x80",  # overlong NUL
    b"\xe2\x82",  # truncated
    b"\xf5\x80\x80\x80",  # beyond U+10FFFF
    b"\xed\xa0\x80",  # an encoded surrogate (json.loads lets these through: then the oracle judges)
)

_leaf = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**70), max_value=2**70)
    | st.floats()
    | st.text(max_size=40)
)
json_values = st.recursive(
    _leaf,
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=12), inner, max_size=4)
    ),
    max_leaves=12,
)
not_strings = st.one_of(
    st.integers(),
    st.floats(),
    st.booleans(),
    st.lists(_leaf, max_size=3),
    st.dictionaries(st.text(max_size=8), _leaf, max_size=3),
)
names = st.text(min_size=1, max_size=30)
versions = st.builds(
    lambda a, b, c: f"{a}.{b}.{c}",
    st.integers(0, 99),
    st.integers(0, 99),
    st.integers(0, 99),
)
commits = st.text(alphabet="0123456789abcdef", min_size=7, max_size=40)
timestamps = st.datetimes(
    min_value=datetime(2020, 1, 1), max_value=datetime(2030, 1, 1), timezones=st.just(UTC)
).map(lambda t: t.isoformat())
attribute_names = st.text(st.characters(codec="utf-8"), min_size=1, max_size=24).filter(
    lambda k: k not in RESERVED_ATTRIBUTES and not k.lower().startswith("goog")
)
random_attributes = st.dictionaries(
    attribute_names, st.text(st.characters(codec="utf-8"), max_size=64), max_size=4
)


def _plausible(draw: st.DrawFn, topic: str, envs: list[str]) -> dict[str, Any]:
    """A body that looks like the topic's messages (valid or not: callers break it)."""
    if topic == RELEASE_COMMANDS:
        kind = draw(st.sampled_from(sorted(COMMANDS)))
        required, optional = COMMANDS[kind]
        body: dict[str, Any] = {"type": kind}
        for name in (*required, *optional):
            if name in optional and draw(st.booleans()):
                continue
            if name in ("version", "release", "to_release"):
                body[name] = draw(versions)
            elif name == "commit":
                body[name] = draw(commits)
            elif name == "env":
                body[name] = draw(
                    st.sampled_from(envs) | st.from_regex(r"[a-z]{1,8}", fullmatch=True)
                )
            elif name == "artifacts":
                body[name] = draw(st.dictionaries(names, names, max_size=3))
            else:
                body[name] = draw(names)
        return body
    if topic == CLOUD_BUILDS:
        return {
            "id": draw(st.uuids()).hex,
            "status": draw(st.sampled_from(sorted(BUILD_STATUSES))),
            "projectId": CONTROL_PROJECT,
            "tags": draw(st.lists(names, max_size=3)),
            "substitutions": draw(st.dictionaries(names, names, max_size=3)),
            "createTime": draw(timestamps),
            "logUrl": "https://console.cloud.google.com/cloud-build/builds/x",
        }
    if topic == MONITORING_TICKS:
        return {"env": draw(st.sampled_from(envs))}
    if topic == APP_METRICS:
        return {
            "batchId": f"bench-{draw(st.integers(0, 10**9))}",
            "env": draw(st.sampled_from(envs)),
            "windowStart": draw(timestamps),
            "windowSeconds": draw(st.sampled_from([5, 60])),
            "counters": {"functionInvocations": draw(st.integers(0, 1000))},
        }
    if topic == RELEASE_EVENTS:
        return {
            "key": draw(names),
            "release": draw(versions),
            "env": draw(st.sampled_from(envs)),
            "attempt": draw(st.integers(1, 5)),
            "from": "pending",
            "to": "gating",
            "actor": draw(names),
            "at": draw(timestamps),
            "eventId": draw(names),
        }
    raise ValueError(topic)


def _known_fields(topic: str, body: dict[str, Any]) -> list[str]:
    if topic == RELEASE_COMMANDS:
        required, optional = COMMANDS[body["type"]]
        return [*required, *optional]
    return {
        CLOUD_BUILDS: list(BUILD_FIELDS),
        MONITORING_TICKS: ["env"],
        APP_METRICS: list(BATCH_FIELDS),
        RELEASE_EVENTS: list(EVENT_FIELDS),
    }[topic]


def _break(draw: st.DrawFn, topic: str, body: dict[str, Any], envs: list[str]) -> dict[str, Any]:
    """One defect that makes the body invalid whatever its other fields hold (a missing
    required field, an unknown field where unknown fields are refused, a bad key value)."""
    body = dict(body)
    if topic == RELEASE_COMMANDS:
        required, _ = COMMANDS[body["type"]]
        if draw(st.booleans()):
            body.pop(draw(st.sampled_from(required)), None)
        else:
            body[draw(_unknown_key(topic, body))] = draw(json_values)
    elif topic == CLOUD_BUILDS:
        how = draw(st.sampled_from(["no id", "bad status", "id not a string"]))
        if how == "no id":
            body.pop("id", None)
        elif how == "bad status":
            body["status"] = draw(st.text(max_size=20).filter(lambda s: s not in BUILD_STATUSES))
        else:
            body["id"] = draw(not_strings)
    elif topic == MONITORING_TICKS:
        if draw(st.booleans()):
            body[draw(_unknown_key(topic, body))] = draw(json_values)
        else:
            body["env"] = draw(st.text(min_size=1, max_size=30).filter(lambda e: e not in envs))
    elif topic == APP_METRICS:
        how = draw(st.sampled_from(["missing", "unknown field", "unknown env"]))
        if how == "missing":
            name = draw(st.sampled_from(BATCH_REQUIRED))
            body.pop(name, None)
            body.pop(BATCH_FIELDS[name], None)
        elif how == "unknown field":
            body[draw(_unknown_key(topic, body))] = draw(json_values)
        else:
            body["env"] = draw(st.text(max_size=30).filter(lambda e: e not in envs))
    elif topic == RELEASE_EVENTS:
        # With no `kind` attribute the event is refused whatever it holds; with a kind, it
        # lacks its time (every event kind requires `at`).
        body.pop("at", None)
    return body


def _unknown_key(topic: str, body: dict[str, Any]) -> st.SearchStrategy[str]:
    known = {"type", "id_token", *_known_fields(topic, body), *BATCH_FIELDS.values()}
    return st.text(min_size=1, max_size=20).filter(lambda k: k not in known)


def _event_attributes(draw: st.DrawFn, topic: str) -> dict[str, str]:
    attributes = draw(random_attributes)
    if topic == RELEASE_EVENTS:
        kind = draw(st.none() | st.sampled_from(EVENT_KINDS))
        if kind is not None:
            attributes["kind"] = kind
    return attributes


def _splice(body: dict[str, Any], key: str, raw: str) -> bytes:
    """`body` as JSON with `raw` (JSON text json.dumps would never write) as the value of key."""
    body = {**body, key: MARKER}
    return json.dumps(body).replace(SPLICED, raw, 1).encode()


def _mib_string(draw: st.DrawFn) -> str:
    pattern = draw(
        st.text(st.characters(codec="utf-8", exclude_categories=["Cc"]), min_size=1, max_size=16)
    )
    target = draw(st.integers(MiB, MiB + 64 * 1024))
    return pattern * math.ceil(target / len(pattern.encode()))


@st.composite
def hostile(draw: st.DrawFn, topic: str, envs: list[str], category: str) -> Hostile:
    attributes = _event_attributes(draw, topic)
    body = _plausible(draw, topic, envs)
    if category == "random_bytes":
        data = draw(st.binary(min_size=1, max_size=4096))
    elif category == "deep_nesting":
        depth = draw(st.integers(1000, 100_000))
        if draw(st.booleans()):
            nested = "[" * depth + "]" * depth
        else:
            key = json.dumps(draw(st.text(min_size=1, max_size=8)))
            nested = f"{{{key}:" * depth + "0" + "}" * depth
        if draw(st.booleans()):
            data = nested.encode()
        else:
            where = draw(st.sampled_from(_known_fields(topic, body)))
            data = _splice(_break(draw, topic, body, envs), where, nested)
    elif category == "huge_int":
        digits = draw(st.integers(4301, 50_000))
        number = str(draw(st.integers(1, 9))) + "7" * (digits - 1)
        where = draw(st.sampled_from(_known_fields(topic, body)))
        data = _splice(body, where, ("-" if draw(st.booleans()) else "") + number)
    elif category == "wrong_types":
        wrong = {k: v for k, v in body.items() if k == "type"}
        for name in _known_fields(topic, body):
            wrong[name] = draw(not_strings)
        data = json.dumps(wrong).encode()
    elif category == "unknown_fields":
        extra = draw(
            st.dictionaries(_unknown_key(topic, body), json_values, min_size=1, max_size=5)
        )
        if topic in (CLOUD_BUILDS, RELEASE_EVENTS):  # they ignore unknown fields: break it too
            body = _break(draw, topic, body, envs)
        data = json.dumps({**body, **extra}).encode()
    elif category == "mib_string":
        big = _mib_string(draw)
        if topic == RELEASE_COMMANDS:
            required, _ = COMMANDS[body["type"]]
            body[draw(st.sampled_from(required))] = big
        elif topic in (MONITORING_TICKS, APP_METRICS):
            body["env"] = big  # not an environment
        else:
            body = _break(draw, topic, body, envs)
            body[draw(st.sampled_from(["statusDetail", "logUrl", "key", "actor"]))] = big
        data = json.dumps(body, ensure_ascii=False).encode()
    elif category == "invalid_utf8":
        source = body if draw(st.booleans()) else _break(draw, topic, body, envs)
        data = json.dumps(source).encode()
        for _ in range(draw(st.integers(1, 3))):
            at = draw(st.integers(1, len(data)))
            data = data[:at] + draw(st.sampled_from(INVALID_UTF8)) + data[at:]
    else:  # random_shape
        keys = st.sampled_from(_known_fields(topic, body)) | st.text(max_size=12)
        data = json.dumps(draw(st.dictionaries(keys, json_values, min_size=1, max_size=8))).encode()
    message = Hostile(category, data, attributes)
    assume(message.size < PUBSUB_LIMIT - 64 * 1024)
    assume(never_valid(topic, data, attributes, frozenset(envs)))
    return message


def quotas(n: int) -> dict[str, int]:
    """How many messages of each kind make `n` (WEIGHTS, largest remainders)."""
    exact = [n * w / sum(WEIGHTS) for w in WEIGHTS]
    counts = [int(x) for x in exact]
    by_remainder = sorted(range(len(exact)), key=lambda i: counts[i] - exact[i])
    for i in by_remainder[: n - sum(counts)]:
        counts[i] += 1
    return dict(zip(CATEGORIES, counts, strict=True))


def _given(strategy: st.SearchStrategy[Hostile], count: int, key: str) -> list[Hostile]:
    """Run a `@given` over `strategy` for `count` examples, seeded by `key`, and keep them."""
    got: list[Hostile] = []

    @settings(
        max_examples=count,
        database=None,
        phases=[Phase.generate],
        deadline=None,
        suppress_health_check=list(HealthCheck),
        print_blob=False,
    )
    @given(strategy)
    def collect(message: Hostile) -> None:
        got.append(message)

    hypothesis_seed(int.from_bytes(hashlib.sha256(key.encode()).digest()[:8]))(collect)()
    return got


def generate(topic: str, n: int, seed: int, envs: list[str]) -> list[Hostile]:
    """`n` hostile messages for `topic`, the same ones for the same seed: hypothesis drives the
    generation (a seeded `@given` run per kind of message, no `example()`, no database, the
    generate phase only); the kinds are then shuffled with the same seed."""
    out: list[Hostile] = []
    for category, quota in quotas(n).items():
        got: list[Hostile] = []
        strategy = hostile(topic, envs, category)
        for round_ in range(20):
            if len(got) >= quota:
                break
            got += _given(strategy, quota - len(got), f"{seed}:{topic}:{category}:{round_}")
        if len(got) < quota:
            raise BenchFailed(f"hypothesis generated {len(got)} of {quota} {category} for {topic}")
        out += got[:quota]
    random.Random(f"{seed}:{topic}").shuffle(out)
    return out


def corpus_digest(messages: list[Hostile]) -> str:
    digest = hashlib.sha256()
    for m in messages:
        digest.update(m.data)
        digest.update(json.dumps(m.attributes, sort_keys=True).encode())
    return digest.hexdigest()[:16]


# -- what the function servers logged -----------------------------------------------------------

FLASK_FAILURE = re.compile(r"ERROR in app: Exception on /projects/[^/]+/topics/(\S+) \[POST\]")
GUNICORN_FAILURE = re.compile(r"\[ERROR\] Error handling request")


@dataclass
class Deliveries:
    """What one target's log says about deliveries, read incrementally."""

    path: Path
    offset: int = 0
    partial: bytes = b""
    kinds: dict[str, Counter[str]] = field(default_factory=lambda: defaultdict(Counter))
    failed: Counter[str] = field(default_factory=Counter)  # `delivery failed` lines per id
    failed_lines: int = 0  # all `delivery failed` lines, whatever the id
    tracebacks: int = 0  # failed requests logged without an id
    first_done: dict[str, datetime] = field(default_factory=dict)

    def read(self) -> None:
        if not self.path.exists():
            return
        with self.path.open("rb") as handle:
            handle.seek(self.offset)
            chunk = handle.read()
        self.offset += len(chunk)
        lines = (self.partial + chunk).split(b"\n")
        self.partial = lines.pop()
        for raw in lines:
            self._line(raw.decode("utf-8", errors="replace"))

    def _line(self, line: str) -> None:
        if FLASK_FAILURE.search(line) or GUNICORN_FAILURE.search(line):
            self.tracebacks += 1
            return
        if not line.startswith("{"):
            return
        try:
            entry = json.loads(line)
        except ValueError:
            return
        if not isinstance(entry, dict):
            return
        message, event_id = str(entry.get("message", "")), entry.get("event_id")
        if message.startswith("delivery failed"):
            self.failed_lines += 1
            if event_id:
                self.failed[event_id] += 1
            return
        if not event_id or message.startswith("failure not noted"):
            return
        self.kinds[event_id][message.split(":", 1)[0]] += 1
        with contextlib.suppress(KeyError, ValueError, TypeError):
            at = datetime.fromisoformat(entry["time"])
            self.first_done[event_id] = min(at, self.first_done.get(event_id, at))

    def finished(self, event_id: str) -> int:
        kinds = self.kinds.get(event_id)
        return max(kinds.values()) if kinds else 0


# -- Firestore: dead letters and the control documents ---------------------------------------------


def _firestore(project: str) -> Any:
    from google.cloud import firestore

    return firestore.Client(project=project)


def letters_for(db: Any, topic: str) -> tuple[int, set[str]]:
    """(documents whose `topic` is `topic`, their event ids)."""
    from google.cloud.firestore_v1.base_query import FieldFilter

    query = db.collection("deadLetters").where(filter=FieldFilter("topic", "==", topic))
    count, ids = 0, set()
    for snap in query.select(["eventId"]).stream():
        count += 1
        event_id = (snap.to_dict() or {}).get("eventId")
        if isinstance(event_id, str):
            ids.add(event_id)
    return count, ids


def _digest(doc: dict[str, Any] | None) -> str:
    text = json.dumps(doc, sort_keys=True, default=repr)
    return hashlib.sha256(text.encode()).hexdigest()


def _walk(collection: Any, out: dict[str, str], prefix: str) -> None:
    for ref in collection.list_documents():
        snap = ref.get()
        if snap.exists:
            out[f"{prefix}{ref.path}"] = _digest(snap.to_dict())
        for sub in ref.collections():
            _walk(sub, out, prefix)


def control_snapshot(control: Any, envs: dict[str, Any]) -> dict[str, str]:
    """Path → content hash: `releases/**`, `environments/*`, each env project's `featureFlags/*`."""
    out: dict[str, str] = {}
    _walk(control.collection("releases"), out, "")
    for snap in control.collection("environments").stream():
        out[snap.reference.path] = _digest(snap.to_dict())
    for project, db in envs.items():
        for snap in db.collection("featureFlags").stream():
            out[f"{project}:{snap.reference.path}"] = _digest(snap.to_dict())
    return out


def changed(before: dict[str, str], after: dict[str, str]) -> list[str]:
    return sorted(p for p in before.keys() | after.keys() if before.get(p) != after.get(p))


# -- part 1 --------------------------------------------------------------------------------------


@dataclass
class TopicFigures:
    topic: str
    sent: int
    publish_errors: int
    bytes_sent: int
    corpus: str
    dead_lettered: int  # distinct published ids with a dead letter
    letters_for_topic: int  # every deadLetters document of the topic
    finished: int  # published ids with at least one finished delivery
    redeliveries: int
    failed_deliveries: int
    control_changed: int
    changed_paths: list[str]
    publish_s: float
    delivered_per_s: float | None
    settle_s: float
    settled: bool
    categories: dict[str, dict[str, int]]
    unfinished: list[str]  # a few messages that never finished a delivery: kind, size, start


def _publisher() -> Any:
    from google.cloud import pubsub_v1  # type: ignore[attr-defined]

    types = pubsub_v1.types

    flow = types.PublishFlowControl(
        message_limit=500,
        byte_limit=64 * MiB,
        limit_exceeded_behavior=types.LimitExceededBehavior.BLOCK,
    )
    return pubsub_v1.PublisherClient(publisher_options=types.PublisherOptions(flow_control=flow))


def run_topic(
    stack: StackState,
    topic: str,
    messages: list[Hostile],
    control: Any,
    env_dbs: dict[str, Any],
    settle_timeout: float,
) -> TopicFigures:
    log = Deliveries(stack.local_dir / "logs" / f"{PUBSUB_TRIGGERS[topic]}.log")
    log.read()
    tracebacks_before, failed_lines_before = log.tracebacks, log.failed_lines
    before = control_snapshot(control, env_dbs)
    publisher = _publisher()
    path = publisher.topic_path(CONTROL_PROJECT, topic)
    started = datetime.now(UTC)
    t0 = time.monotonic()
    futures = [(m, publisher.publish(path, m.data, **m.attributes)) for m in messages]
    ids: dict[str, Hostile] = {}
    errors: Counter[str] = Counter()
    for message, future in futures:
        try:
            ids[future.result(timeout=300)] = message
        except Exception as exc:
            errors[type(exc).__name__] += 1
    publisher.stop()
    publish_s = time.monotonic() - t0
    if errors:
        say(f"  {topic}: {sum(errors.values())} messages not published: {dict(errors)}")
    say(f"  {topic}: published {len(ids)} in {publish_s:.1f} s; waiting for them to settle …")

    deadline = t0 + settle_timeout
    last_progress, last_seen, all_done_at = time.monotonic(), (-1, -1), None
    lettered: set[str] = set()
    count = 0
    while True:
        log.read()
        count, letter_ids = letters_for(control, topic)
        lettered = letter_ids & ids.keys()
        done = sum(1 for i in ids if log.finished(i))
        now = time.monotonic()
        if (len(lettered), done) != last_seen:
            last_seen, last_progress = (len(lettered), done), now
        if all_done_at is None and len(lettered) == len(ids) and done == len(ids):
            all_done_at = now
        if all_done_at is not None and now - all_done_at >= SETTLED_EXTRA_S:
            break
        if now - last_progress >= QUIET_S or now > deadline:
            break
        time.sleep(1.0)
    settle_s = time.monotonic() - t0
    log.read()
    after = control_snapshot(control, env_dbs)
    diff = changed(before, after)

    finished = {i: log.finished(i) for i in ids}
    failed_ours = sum(log.failed[i] for i in ids)
    unmatched = max(
        0, (log.tracebacks - tracebacks_before) - (log.failed_lines - failed_lines_before)
    )
    failed = failed_ours + unmatched
    redeliveries = sum(max(0, n - 1) for n in finished.values()) + failed
    firsts = [log.first_done[i] for i in ids if i in log.first_done]
    rate = None
    if firsts:
        span = (max(firsts) - started).total_seconds()
        rate = len(firsts) / span if span > 0 else None
    categories: dict[str, dict[str, int]] = defaultdict(
        lambda: {"sent": 0, "dead_lettered": 0, "finished": 0, "failed": 0}
    )
    for event_id, message in ids.items():
        row = categories[message.category]
        row["sent"] += 1
        row["dead_lettered"] += event_id in lettered
        row["finished"] += finished[event_id] > 0
        row["failed"] += log.failed[event_id]
    unfinished = [
        f"{m.category} {m.size} B {m.data[:48]!r}" for i, m in ids.items() if not finished[i]
    ]
    return TopicFigures(
        topic=topic,
        sent=len(ids),
        publish_errors=sum(errors.values()),
        bytes_sent=sum(m.size for m in ids.values()),
        corpus=corpus_digest(messages),
        dead_lettered=len(lettered),
        letters_for_topic=count,
        finished=sum(1 for n in finished.values() if n),
        redeliveries=redeliveries,
        failed_deliveries=failed,
        control_changed=len(diff),
        changed_paths=diff[:10],
        publish_s=round(publish_s, 2),
        delivered_per_s=round(rate, 1) if rate else None,
        settle_s=round(settle_s, 1),
        settled=all_done_at is not None,
        categories=dict(categories),
        unfinished=unfinished[:5],
    )


def pause(topic: str) -> None:
    """Switch the topic's push subscriptions to pull: its messages stop being delivered, so a
    redelivery loop left by one topic does not load the next topic's measurement."""
    from google.cloud import pubsub_v1  # type: ignore[attr-defined]

    publisher, subscriber = pubsub_v1.PublisherClient(), pubsub_v1.SubscriberClient()
    path = publisher.topic_path(CONTROL_PROJECT, topic)
    for name in publisher.list_topic_subscriptions(request={"topic": path}):
        subscriber.modify_push_config(request={"subscription": name, "push_config": {}})


def part_hostile(
    local_dir: Path, per_topic: int, seed: int, settle_timeout: float
) -> list[TopicFigures]:
    say(f"part 1: starting a local stack in {local_dir} …")
    options = Options(local_dir=local_dir, bake_minutes=0, tick_seconds=600.0, seed=True)
    with running(options) as stack:
        plane = load_config(stack.config_file)
        envs = sorted(plane.environments)
        control = _firestore(plane.control.project)
        env_dbs = {cfg.project: _firestore(cfg.project) for cfg in plane.environments.values()}
        figures = []
        for topic in TOPICS:
            t0 = time.monotonic()
            messages = generate(topic, per_topic, seed, envs)
            say(
                f"  {topic}: generated {len(messages)} messages "
                f"({sum(m.size for m in messages) / MiB:.1f} MiB) in {time.monotonic() - t0:.1f} s"
            )
            figures.append(run_topic(stack, topic, messages, control, env_dbs, settle_timeout))
            del messages
            pause(topic)
            f = figures[-1]
            say(
                f"  {topic}: {f.dead_lettered}/{f.sent} dead-lettered, {f.redeliveries} "
                f"redeliveries, {f.control_changed} control documents changed"
            )
        return figures


# -- part 2 --------------------------------------------------------------------------------------


@dataclass
class KillRun:
    run: int
    release: str
    killed: str | None
    kill_at_s: float | None
    restarted: bool | None
    restart_s: float | None
    up_said: list[str]
    final_state: str | None
    current: str | None
    serving: str | None
    expected: bool
    end_s: float | None  # create → the release's rollout rests (live or otherwise)
    note: str = ""


def _rollout_state(control: Any, release: str, env: str) -> str | None:
    snap = control.document(f"releases/{release}/rollouts/{env}").get()
    return (snap.to_dict() or {}).get("state") if snap.exists else None


def _current(control: Any, env: str) -> str | None:
    snap = control.document(f"environments/{env}").get()
    current = (snap.to_dict() or {}).get("current") if snap.exists else None
    return current.get("release") if isinstance(current, dict) else None


def _lock(control: Any, env: str) -> str | None:
    snap = control.document(f"environments/{env}").get()
    lock = (snap.to_dict() or {}).get("lock") if snap.exists else None
    return lock.get("release") if isinstance(lock, dict) else None


def _serving(stack: StackState, env: str) -> str | None:
    from shared.local.sample_app import serving

    try:
        return serving(stack.apps[env].url)
    except Exception:
        return None


RESTING_STATES = frozenset(
    {"live", "failed", "rolled_back", "rollback_failed", "blocked", "rejected", "cancelled"}
)


class Killer(threading.Thread):
    """After `delay`, SIGKILL a function server's process group, then `up` the stack again."""

    def __init__(self, options: Options, target: str, delay: float) -> None:
        super().__init__(daemon=True)
        self.options, self.target, self.delay = options, target, delay
        self.said: list[str] = []
        self.restarted: bool | None = None
        self.restart_s: float | None = None
        self.killed_at: float | None = None
        self.error: str | None = None
        self.already_dead = False
        self.go = threading.Event()

    def run(self) -> None:
        if self.go.wait(self.delay):
            return  # the release ended before the kill: cancelled
        try:
            state = load(self.options.local_dir)
            if state is None:
                raise BenchFailed("no running stack recorded")
            pid = state.functions[self.target].pid
            self.already_dead = not alive(pid)
            self.killed_at = time.monotonic()
            with contextlib.suppress(ProcessLookupError):
                os.killpg(pid, signal.SIGKILL)
            with contextlib.suppress(ChildProcessError):
                os.waitpid(pid, 0)  # our child (we ran `up`): reap it
            t0 = time.monotonic()
            up(self.options, say=self.said.append)
            self.restart_s = time.monotonic() - t0
            after = load(self.options.local_dir)
            proc = after.functions.get(self.target) if after else None
            self.restarted = proc is not None and proc.pid != pid and alive(proc.pid)
        except Exception as exc:
            self.error = f"{type(exc).__name__}: {exc}"

    def cancel(self) -> None:
        self.go.set()


def _command(publisher: Any, **body: object) -> None:
    path = publisher.topic_path(CONTROL_PROJECT, RELEASE_COMMANDS)
    publisher.publish(path, json.dumps(body).encode()).result(timeout=60)


def release_once(
    stack: StackState,
    options: Options,
    control: Any,
    publisher: Any,
    run: int,
    release: str,
    target: str | None,
    delay: float | None,
    timeout: float,
) -> KillRun:
    killer = Killer(options, target, delay) if target is not None and delay is not None else None
    t0 = time.monotonic()
    if killer:
        killer.start()
    commit = head_commit()
    _command(
        publisher,
        type="release.create",
        version=release,
        commit=commit,
        branch="main",
        author="bench-reliability",
    )
    deadline, promoted, state, note = t0 + timeout, False, None, ""
    while time.monotonic() < deadline:
        if not promoted:
            if control.document(f"releases/{release}").get().exists:
                _command(
                    publisher, type="release.promote", release=release, env=KILL_ENV, actor="bench"
                )
                promoted = True
        else:
            state = _rollout_state(control, release, KILL_ENV)
            if state in RESTING_STATES:
                break
        time.sleep(0.1)
    end = time.monotonic() - t0
    if not promoted:
        note = "release never created"
    elif state not in RESTING_STATES:
        note = f"still {state or 'no rollout'} after {timeout:.0f} s"
        lock = _lock(control, KILL_ENV)
        if lock and lock != release:
            note += f" ({KILL_ENV} locked by {lock})"
    if killer:
        killer.cancel()
        killer.join(timeout=120)
        if killer.killed_at is None:
            note = (note + "; " if note else "") + "ended before the kill"
        if killer.already_dead:
            note = (note + "; " if note else "") + f"{target} was already dead before the kill"
        if killer.error:
            note = (note + "; " if note else "") + f"kill/up: {killer.error}"
    current = _current(control, KILL_ENV)
    serving = _serving(stack, KILL_ENV)
    if state == "live" and serving != release:  # the deploy switched it; give HTTP a moment
        for _ in range(50):
            if (serving := _serving(stack, KILL_ENV)) == release:
                break
            time.sleep(0.1)
    expected = state == "live" and current == release and serving == release
    return KillRun(
        run=run,
        release=release,
        killed=target,
        kill_at_s=round(killer.killed_at - t0, 2) if killer and killer.killed_at else None,
        restarted=killer.restarted if killer else None,
        restart_s=round(killer.restart_s, 2) if killer and killer.restart_s else None,
        up_said=killer.said if killer else [],
        final_state=state,
        current=current,
        serving=serving,
        expected=expected,
        end_s=round(end, 2) if state in RESTING_STATES else None,
        note=note,
    )


def part_kills(local_dir: Path, runs: int, rng: random.Random, timeout: float) -> list[KillRun]:
    say(f"part 2: starting a local stack in {local_dir} …")
    options = Options(local_dir=local_dir, bake_minutes=0, tick_seconds=1.0, seed=True)
    with running(options) as stack:
        plane = load_config(stack.config_file)
        control = _firestore(plane.control.project)
        from google.cloud import pubsub_v1  # type: ignore[attr-defined]

        publisher = pubsub_v1.PublisherClient()
        targets = sorted(t for t in PUBSUB_TRIGGERS.values() if t in stack.functions)
        warm = release_once(stack, options, control, publisher, 0, "1.0.0", None, None, timeout)
        say(
            f"  warm-up 1.0.0: {warm.final_state} in {warm.end_s} s"
            + (f" ({warm.note})" if warm.note else "")
        )
        span = warm.end_s if warm.expected and warm.end_s else 30.0
        results = [warm]
        for n in range(1, runs + 1):
            target = rng.choice(targets)
            delay = rng.uniform(0.0, span)
            result = release_once(
                stack, options, control, publisher, n, f"1.{n}.0", target, delay, timeout
            )
            results.append(result)
            say(
                f"  run {n}: killed {target} at {result.kill_at_s} s, restarted "
                f"{result.restarted}; {result.final_state} after {result.end_s} s"
                + (f" ({result.note})" if result.note else "")
            )
        return results


# -- the stacks ---------------------------------------------------------------------------------


@contextlib.contextmanager
def running(options: Options) -> Iterator[StackState]:
    """The stack, its environment in this process, and `down` whatever happens."""
    saved = dict(os.environ)
    try:
        stack = up(options, say=lambda m: say(f"    {m}"))
        os.environ.update(stack.environment())
        os.environ["GOOGLE_CLOUD_PROJECT"] = CONTROL_PROJECT
        yield stack
    finally:
        say("  stopping the local stack …")
        with contextlib.suppress(Exception):
            down(options.local_dir, say=lambda m: say(f"    {m}"))
        os.environ.clear()
        os.environ.update(saved)


def _interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt(f"signal {signum}")


# -- report -------------------------------------------------------------------------------------


def report_hostile(figures: list[TopicFigures], seed: int) -> None:
    print(
        f"\npart 1: hostile messages per topic (seed {seed}); goals: every message dead-lettered,"
    )
    print("0 redeliveries, 0 control documents changed\n")
    head = (
        f"{'topic':17} {'sent':>5} {'dead-lettered':>13} {'redeliveries':>12} {'failed':>7} "
        f"{'ctrl changed':>12} {'delivered/s':>11} {'settled':>9}  corpus"
    )
    print(head)
    print("-" * len(head))
    for f in figures:
        rate = f"{f.delivered_per_s:.1f}" if f.delivered_per_s else "-"
        settled = f"{f.settle_s:.0f} s" + ("" if f.settled else "*")
        print(
            f"{f.topic:17} {f.sent:>5} {f.dead_lettered:>13} {f.redeliveries:>12} "
            f"{f.failed_deliveries:>7} {f.control_changed:>12} {rate:>11} {settled:>9}  {f.corpus}"
        )
    print("-" * len(head))
    total = sum(f.sent for f in figures)
    print(
        f"{'all':17} {total:>5} {sum(f.dead_lettered for f in figures):>13} "
        f"{sum(f.redeliveries for f in figures):>12} "
        f"{sum(f.failed_deliveries for f in figures):>7} "
        f"{sum(f.control_changed for f in figures):>12}"
    )
    print(
        "\n  failed: deliveries that ended in an exception (HTTP 500, Pub/Sub redelivers); they"
        "\n  are counted in redeliveries. delivered/s: messages with a finished delivery / time"
        "\n  from the first publish to the last first finished delivery. settled: time to settle"
        f"\n  (* = not every message was dead-lettered and finished; stopped after {QUIET_S:.0f} s"
        "\n  without progress or at the settle timeout). corpus: digest of the generated messages."
    )
    for f in figures:
        extra = []
        if f.publish_errors:
            extra.append(f"{f.publish_errors} not published")
        if f.letters_for_topic != f.dead_lettered:
            extra.append(f"{f.letters_for_topic} deadLetters documents for the topic")
        if f.finished != f.sent:
            extra.append(f"{f.sent - f.finished} never finished a delivery")
        if f.changed_paths:
            extra.append("changed: " + ", ".join(f.changed_paths[:5]))
        if extra:
            print(f"  {f.topic}: " + "; ".join(extra))
        for sample in f.unfinished:
            print(f"    never finished: {sample}")
    print("\nper kind of message, all topics:")
    print(f"  {'kind':15} {'sent':>6} {'dead-lettered':>13} {'never finished':>14}")
    for category in CATEGORIES:
        rows = [f.categories.get(category) for f in figures]
        sent = sum(r["sent"] for r in rows if r)
        lettered = sum(r["dead_lettered"] for r in rows if r)
        unfinished = sent - sum(r["finished"] for r in rows if r)
        print(f"  {category:15} {sent:>6} {lettered:>13} {unfinished:>14}")


def report_kills(results: list[KillRun]) -> None:
    runs = [r for r in results if r.run > 0]
    warm = next((r for r in results if r.run == 0), None)
    print(f"\npart 2: kill-restart runs ({KILL_ENV}, release.create + release.promote, bake 0)")
    if warm:
        print(
            f"  warm-up release {warm.release} without a kill: {warm.final_state} in "
            f"{warm.end_s} s (expected state: {'yes' if warm.expected else 'NO'})"
            + (f"; {warm.note}" if warm.note else "")
        )
    head = (
        f"{'run':>3}  {'release':8} {'killed':19} {'kill at':>8} {'restarted':>9} "
        f"{'final':12} {'expected':>8} {'finished in':>11}"
    )
    print("\n" + head)
    print("-" * len(head))
    for r in runs:
        kill_at = f"{r.kill_at_s:.1f} s" if r.kill_at_s is not None else "-"
        restarted = {True: "yes", False: "NO", None: "-"}[r.restarted]
        end = f"{r.end_s:.1f} s" if r.end_s is not None else "-"
        print(
            f"{r.run:>3}  {r.release:8} {r.killed or '-':19} {kill_at:>8} {restarted:>9} "
            f"{r.final_state or '-':12} {'yes' if r.expected else 'NO':>8} {end:>11}"
        )
    print("-" * len(head))
    good = sum(r.expected for r in runs)
    print(f"runs: {len(runs)}; releases ending in the expected state: {good} (goal: all)")
    for r in runs:
        said = "; ".join(r.up_said)
        notes = [n for n in (r.note, f"up: {said}" if said else "") if n]
        if not r.expected:
            notes.append(f"current={r.current}, serving={r.serving}")
        if notes:
            print(f"  run {r.run}: " + " | ".join(notes))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--per-topic", type=int, default=1000, help="messages per topic (≥ 1000)")
    parser.add_argument("--kill-runs", type=int, default=10)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--json", action="store_true", help="print the figures as JSON")
    parser.add_argument("--parts", default="hostile,kills", help="hostile, kills or both")
    parser.add_argument("--settle-timeout", type=float, default=300.0, help="per topic (s)")
    parser.add_argument("--run-timeout", type=float, default=90.0, help="per release (s)")
    args = parser.parse_args()
    parts = set(args.parts.split(","))
    if not parts <= {"hostile", "kills"} or args.per_topic < 1 or args.kill_runs < 0:
        parser.error("bad --parts, --per-topic or --kill-runs")
    if args.per_topic < 1000:
        say(f"note: --per-topic {args.per_topic} is a quick check; the real run uses ≥ 1000")
    signal.signal(signal.SIGTERM, _interrupt)
    load_config(DEFAULT_CONFIG_FILE)  # a broken config fails before anything starts
    tmp = Path(tempfile.mkdtemp(prefix="bench-reliability-"))
    t0 = time.monotonic()
    hostile_figures: list[TopicFigures] = []
    kill_results: list[KillRun] = []
    try:
        if "hostile" in parts:
            hostile_figures = part_hostile(
                tmp / "hostile", args.per_topic, args.seed, args.settle_timeout
            )
        if "kills" in parts:
            rng = random.Random(args.seed)
            kill_results = part_kills(tmp / "kills", args.kill_runs, rng, args.run_timeout)
    except KeyboardInterrupt:
        say("interrupted: the stacks are stopped")
        return 130
    except BenchFailed as exc:
        say(f"benchmark failed: {exc}")
        return 1
    elapsed = time.monotonic() - t0
    if args.json:
        print(
            json.dumps(
                {
                    "seed": args.seed,
                    "per_topic": args.per_topic,
                    "elapsed_s": round(elapsed, 1),
                    "hostile": [asdict(f) for f in hostile_figures],
                    "kills": [asdict(r) for r in kill_results],
                },
                indent=2,
                default=str,
            )
        )
        return 0
    if hostile_figures:
        report_hostile(hostile_figures, args.seed)
    if kill_results:
        report_kills(kill_results)
    print(f"\nwhole benchmark: {timedelta(seconds=round(elapsed))} (stacks in {tmp})")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
