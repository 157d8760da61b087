"""Publishing an environment's flags to its Remote Config templates (both namespaces).

`TemplatePublisher.publish(env)` renders Firestore's flags into the env's current templates
(keeping what is not ours) and publishes them with `If-Match`, only when our part differs:

- the template is read before the flags, so a publish whose ETag still holds carries flags at
  least as new as any publish before it; a 412 (the template changed: a console edit, another
  instance) re-reads both and applies again;
- every template is checked with `validateOnly` first: one Remote Config refuses is reported
  (`TemplateRejected`), never half-published;
- calls for the same env coalesce: while one publish runs, the calls that arrive wait for the
  next one, which starts after them and serves them all (a burst of N changes is one or two
  publishes in an instance; across instances the comparison makes the extra ones no-ops).

429 / 5xx are retried by the adapter; what still fails escapes (`RemoteConfigUnavailable`), so
the trigger that asked is redelivered.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from shared.config import PlaneConfig
from shared.flags import templates
from shared.flags.model import Flag, FlagInvalid, parse_flag
from shared.flags.ports import FlagStore, RemoteConfig
from shared.flags.templates import NAMESPACES
from shared.flags.versions import (
    OUR_MARK,
    EtagMismatch,
    Fetched,
    RemoteConfigUnavailable,
    TemplateRejected,
)

log = logging.getLogger(__name__)
MAX_CONFLICTS = 8


@dataclass(frozen=True)
class Published:
    """One env's templates after a publish: the version of each namespace, and which of them
    this call wrote (False: already equal, nothing to publish)."""

    env: str
    versions: dict[str, int]
    wrote: dict[str, bool]

    def to_json(self) -> dict[str, Any]:
        return {"env": self.env, "versions": self.versions, "published": self.wrote}


def read_flags(store: FlagStore) -> tuple[dict[str, Flag], frozenset[str]]:
    """The env's valid flags, and the names of invalid documents (their parameters are left as
    they are: the guard is about to revert the document, which publishes again)."""
    flags: dict[str, Flag] = {}
    invalid: set[str] = set()
    for name, doc in store.all_docs().items():
        if not templates.deliverable(name):
            log.warning("flag %s is not a valid Remote Config key: not published", name)
            invalid.add(name)
            continue
        try:
            flags[name] = parse_flag(name, doc)
        except FlagInvalid:
            invalid.add(name)
    return flags, frozenset(invalid)


def same(template: dict[str, Any], body: dict[str, Any]) -> bool:
    conditions: list[Any] = template.get("conditions") or []
    parameters: dict[str, Any] = template.get("parameters") or {}
    return bool(conditions == body["conditions"] and parameters == body["parameters"])


@dataclass
class _Slot:
    """Per env: the run lock, how many calls arrived, and up to which call the last run served."""

    run: threading.Lock = field(default_factory=threading.Lock)
    requested: int = 0
    served: int = 0
    last: Published | None = None


@dataclass
class TemplatePublisher:
    plane: PlaneConfig
    stores: Callable[[str], FlagStore]  # by project id
    api: RemoteConfig
    _slots: dict[str, _Slot] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def publish(self, env: str, why: str = "flags changed") -> Published:
        """Publish `env`'s flags if they differ from its templates (coalesced, see module)."""
        self.plane.env(env)  # unknown env: ConfigError before any I/O
        with self._lock:
            slot = self._slots.setdefault(env, _Slot())
            slot.requested += 1
            mine = slot.requested
        with slot.run:
            if slot.served >= mine and slot.last is not None:
                return slot.last  # a publish that started after this call served it
            with self._lock:
                start = slot.requested
            result = self._publish(env, why)
            slot.served, slot.last = start, result
            return result

    def _publish(self, env: str, why: str) -> Published:
        versions: dict[str, int] = {}
        wrote: dict[str, bool] = {}
        for namespace in NAMESPACES:
            versions[namespace], wrote[namespace] = self.publish_namespace(env, namespace, why)
        log.info("remote config of %s: %s", env, versions, extra={"env": env})
        return Published(env=env, versions=versions, wrote=wrote)

    def check(self, env: str, name: str, flag: Flag) -> None:
        """Would Remote Config accept the templates with `flag` as `name`? (`validateOnly`;
        `TemplateRejected` with its reason if not.) Lets a change be refused before it is
        written to Firestore."""
        project = self.plane.env(env).project
        if not templates.deliverable(name):
            raise TemplateRejected(
                f"{name!r} cannot be a Remote Config parameter key (letters, digits and _ only)"
            )
        flags, invalid = read_flags(self.stores(project))
        flags[name] = flag
        for namespace in NAMESPACES:
            fetched = self.api.get(project, namespace)
            body = render_into(namespace, fetched, flags, invalid - {name})
            if not same(fetched.template, body):
                self.api.publish(
                    project, namespace, body, fetched.etag, description=OUR_MARK, validate_only=True
                )

    def publish_namespace(self, env: str, namespace: str, why: str) -> tuple[int, bool]:
        project = self.plane.env(env).project
        store = self.stores(project)
        for _ in range(MAX_CONFLICTS):
            fetched = self.api.get(project, namespace)  # before the flags: see module
            flags, invalid = read_flags(store)
            body = render_into(namespace, fetched, flags, invalid)
            if same(fetched.template, body):
                return fetched.version.version_number, False
            description = f"{OUR_MARK} {why}"[:256]
            try:
                self.api.publish(
                    project,
                    namespace,
                    body,
                    fetched.etag,
                    description=description,
                    validate_only=True,
                )
                done = self.api.publish(
                    project, namespace, body, fetched.etag, description=description
                )
            except EtagMismatch:  # from the validation or the publish: someone published
                log.info("remote config %s/%s changed meanwhile: applying again", env, namespace)
                continue
            return done.version.version_number, True
        raise RemoteConfigUnavailable(
            f"{env} {namespace}: the template kept changing ({MAX_CONFLICTS} conflicts in a row)"
        )


def render_into(
    namespace: str, fetched: Fetched, flags: dict[str, Flag], invalid: frozenset[str]
) -> dict[str, Any]:
    return templates.merge(namespace, fetched.template, flags, keep=invalid)
