"""Remote Config templates from our flags, and our flags read back from a template. Pure.

Firestore stays the source of truth; Remote Config is how apps receive the flags. Each flag is
one BOOLEAN parameter, in two templates:

- the server template (namespace `firebase-server`), evaluated by the Admin SDKs'
  `ServerTemplate.evaluate({"randomization_id": uid, "userId": uid})`: structured conditions
  that reproduce `is_feature_enabled_for_user` exactly (deny list, allow list, then the percent
  condition with our seed and micro-percent, in that order: the first true condition wins);
- the client template (namespace `firebase`), read by the mobile and web SDKs: the same shape as
  condition expressions. Its percent condition buckets the app installation, not the user
  (docs/FLAGS.md says what that changes and what the apps do about it).

Both reduce to one `Delivery` per flag, so "what we would publish" and "what a template holds"
compare as values; parameters and conditions that are not ours are carried over untouched.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from shared.flags.bucketing import MICRO_SPACE
from shared.flags.model import Flag

SERVER = "firebase-server"
CLIENT = "firebase"
NAMESPACES = (SERVER, CLIENT)
MARK = "releasectl"
DESCRIPTION = f"{MARK}: feature flag, published from Firestore; console edits are governed"
USER_SIGNAL = "userId"  # the custom signal carrying the user id (server context, client apps)
MAX_SIGNAL_VALUES = 100  # Remote Config's limit of target values in one custom-signal condition
# Remote Config parameter keys: a letter or underscore, then letters, digits, underscores (our
# flag names may also hold "-": such a flag cannot be delivered and is reported, not published).
_RC_KEY = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,255}$")
_COND = re.compile(rf"^{MARK}\.(?P<flag>[A-Za-z][A-Za-z0-9_-]*)\.(?P<kind>deny|allow|rollout)")


class Unreadable(ValueError):
    """A managed parameter whose shape is not one we publish (so no policy can adopt it)."""


@dataclass(frozen=True)
class Delivery:
    """What one flag delivers, canonical: equal deliveries evaluate equally for every user."""

    default: bool
    deny: tuple[str, ...] = ()
    allow: tuple[str, ...] = ()
    micro: int | None = None  # the percent condition's threshold (LESS_OR_EQUAL), if any
    seed: str | None = None  # its seed (only with `micro`): another seed is other users

    @property
    def constant(self) -> bool:
        return not (self.deny or self.allow or self.micro is not None)


OFF = Delivery(default=False)
ON = Delivery(default=True)


def deliverable(name: str) -> bool:
    return bool(_RC_KEY.match(name))


def server_context(user_id: str) -> dict[str, str]:
    """What a server passes to `ServerTemplate.evaluate` for `user_id`: the percent conditions
    hash `randomization_id`, the allow and deny lists match the `userId` signal."""
    return {"randomization_id": user_id, USER_SIGNAL: user_id}


def delivery(name: str, flag: Flag) -> Delivery:
    """The evaluation order of `shared.flags.evaluation`, as Remote Config values."""
    if flag.kill_switch or not flag.enabled:
        return OFF
    if flag.always_on:
        return ON
    deny = frozenset(flag.deny_users)
    allow = tuple(sorted(frozenset(flag.allow_users) - deny))
    threshold = flag.micro_percent
    if threshold <= 0:  # 0% is nobody: only the allow list is on
        return Delivery(False, allow=allow) if allow else OFF
    if threshold >= MICRO_SPACE:  # everyone but the denied
        return Delivery(True, deny=tuple(sorted(deny)))
    return Delivery(
        False, deny=tuple(sorted(deny)), allow=allow, micro=threshold, seed=flag.seed_for(name)
    )


def deliveries(flags: Mapping[str, Flag]) -> dict[str, Delivery]:
    return {name: delivery(name, flag) for name, flag in sorted(flags.items())}


def condition_name(flag: str, kind: str, part: int = 0) -> str:
    return f"{MARK}.{flag}.{kind}" + (f".{part}" if part else "")


def _chunks(values: tuple[str, ...]) -> list[list[str]]:
    return [
        list(values[i : i + MAX_SIGNAL_VALUES]) for i in range(0, len(values), MAX_SIGNAL_VALUES)
    ]


def _bool(value: bool) -> dict[str, str]:
    return {"value": "true" if value else "false"}


# -- rendering --------------------------------------------------------------------------------


def _server_conditions(name: str, d: Delivery, seed: str) -> list[tuple[str, dict[str, Any], bool]]:
    out: list[tuple[str, dict[str, Any], bool]] = []
    for kind, users, value in (("deny", d.deny, False), ("allow", d.allow, True)):
        if users:
            ands = [{"andCondition": {"conditions": [_signal(chunk)]}} for chunk in _chunks(users)]
            out.append((condition_name(name, kind), {"orCondition": {"conditions": ands}}, value))
    if d.micro is not None:
        percent = {
            "percent": {"percentOperator": "LESS_OR_EQUAL", "seed": seed, "microPercent": d.micro}
        }
        wrapped = {"orCondition": {"conditions": [{"andCondition": {"conditions": [percent]}}]}}
        out.append((condition_name(name, "rollout"), wrapped, True))
    return out


def _signal(values: list[str]) -> dict[str, Any]:
    return {
        "customSignal": {
            "customSignalOperator": "STRING_EXACTLY_MATCHES",
            "customSignalKey": USER_SIGNAL,
            "targetCustomSignalValues": values,
        }
    }


def _quote(text: str) -> str:
    return "'" + text.replace("\\", "\\\\").replace("'", "\\'") + "'"


def _percent_text(micro: int) -> str:
    return f"{micro / 1_000_000:.6f}".rstrip("0").rstrip(".")


def _client_conditions(name: str, d: Delivery, seed: str) -> list[tuple[str, str, bool]]:
    out: list[tuple[str, str, bool]] = []
    for kind, users, value in (("deny", d.deny, False), ("allow", d.allow, True)):
        for i, chunk in enumerate(_chunks(users)):
            listed = ", ".join(_quote(u) for u in chunk)
            expression = f"app.customSignal[{_quote(USER_SIGNAL)}].exactlyMatches([{listed}])"
            out.append((condition_name(name, kind, i), expression, value))
    if d.micro is not None:
        expression = f"percent({_quote(seed)}) between 0 and {_percent_text(d.micro)}"
        out.append((condition_name(name, "rollout"), expression, True))
    return out


def _parameter(d: Delivery, conditional: dict[str, Any]) -> dict[str, Any]:
    param: dict[str, Any] = {"defaultValue": _bool(d.default), "valueType": "BOOLEAN"}
    if conditional:
        param["conditionalValues"] = conditional
    param["description"] = DESCRIPTION
    return param


def render(
    namespace: str, flags: Mapping[str, Flag]
) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    """Our conditions (in evaluation order) and parameters for `namespace`."""
    conditions: list[dict[str, Any]] = []
    parameters: dict[str, Any] = {}
    for name, d in deliveries(flags).items():
        seed = d.seed or name
        conditional: dict[str, Any] = {}
        if namespace == SERVER:
            for cname, cond, value in _server_conditions(name, d, seed):
                conditions.append({"name": cname, "condition": cond})
                conditional[cname] = _bool(value)
        else:
            for cname, expression, value in _client_conditions(name, d, seed):
                conditions.append({"name": cname, "expression": expression, "tagColor": "BLUE"})
                conditional[cname] = _bool(value)
        parameters[name] = _parameter(d, conditional)
    return conditions, parameters


def managed(template: Mapping[str, Any], flags: Iterable[str]) -> set[str]:
    """Parameters that are ours: our flags, and any parameter carrying our description (a flag
    deleted from Firestore still has its parameter until we publish again)."""
    params = template.get("parameters") or {}
    marked = {
        k for k, v in params.items() if str((v or {}).get("description", "")).startswith(MARK)
    }
    return marked | set(flags)


def ours(condition: Mapping[str, Any]) -> bool:
    return _flag_of(condition) is not None


def merge(
    namespace: str,
    template: Mapping[str, Any],
    flags: Mapping[str, Flag],
    keep: frozenset[str] = frozenset(),
) -> dict[str, Any]:
    """`template` with our conditions and parameters replaced by `flags`' (the rest untouched:
    their conditions first, in their order, then ours). Flags named in `keep` (invalid
    documents the guard is about to revert) keep whatever the template has for them."""
    conditions, parameters = render(namespace, {k: v for k, v in flags.items() if k not in keep})
    mine = managed(template, flags) - keep
    kept_params = {k: v for k, v in (template.get("parameters") or {}).items() if k not in mine}
    kept_conds = [c for c in template.get("conditions") or [] if _flag_of(c) in keep or not ours(c)]
    body: dict[str, Any] = {
        "conditions": kept_conds + conditions,
        "parameters": {**kept_params, **parameters},
    }
    if template.get("parameterGroups"):
        body["parameterGroups"] = template["parameterGroups"]
    return body


def _flag_of(condition: Mapping[str, Any]) -> str | None:
    match = _COND.match(str(condition.get("name", "")))
    return match.group("flag") if match else None


# -- reading back -----------------------------------------------------------------------------


def read(namespace: str, template: Mapping[str, Any], name: str) -> Delivery | None:
    """The delivery parameter `name` holds (None: the parameter is missing); `Unreadable` when
    it is not a shape we publish."""
    param = (template.get("parameters") or {}).get(name)
    if param is None:
        return None
    if not isinstance(param, dict):
        raise Unreadable(f"{name}: not a parameter object")
    default = _read_bool(name, param.get("defaultValue"))
    by_name = {
        str(c.get("name")): c for c in template.get("conditions") or [] if isinstance(c, dict)
    }
    deny: list[str] = []
    allow: list[str] = []
    micro: int | None = None
    conditional = param.get("conditionalValues") or {}
    if not isinstance(conditional, dict):
        raise Unreadable(f"{name}: conditionalValues is not an object")
    for cname, value in conditional.items():
        match = _COND.match(cname)
        if match is None or match.group("flag") != name or cname not in by_name:
            raise Unreadable(f"{name}: condition {cname!r} is not one releasectl publishes")
        kind, on = match.group("kind"), _read_bool(name, value)
        if on != (kind != "deny"):
            raise Unreadable(f"{name}: condition {cname!r} must give {kind != 'deny'}")
        cond = by_name[cname]
        if kind == "rollout":
            micro = _read_percent(name, namespace, cond)
        else:
            (deny if kind == "deny" else allow).extend(_read_users(name, namespace, cond))
    seed = seed_of(namespace, template, name) if micro is not None else None
    return Delivery(
        default, tuple(sorted(set(deny))), tuple(sorted(set(allow) - set(deny))), micro, seed
    )


def _read_bool(name: str, value: Any) -> bool:
    text = value.get("value") if isinstance(value, dict) else None
    if text not in ("true", "false"):
        raise Unreadable(f"{name}: value {json.dumps(value)[:80]} is not true or false")
    return bool(text == "true")


def _read_percent(name: str, namespace: str, cond: Mapping[str, Any]) -> int:
    if namespace == SERVER:
        leaves = _leaves(name, cond.get("condition"))
        if len(leaves) != 1 or "percent" not in leaves[0]:
            raise Unreadable(f"{name}: the rollout condition must be one percent condition")
        percent = leaves[0]["percent"]
        if percent.get("percentOperator") != "LESS_OR_EQUAL":
            raise Unreadable(f"{name}: the rollout condition must use LESS_OR_EQUAL")
        micro = percent.get("microPercent", 0)
    else:
        match = re.fullmatch(
            r"percent\('([-_.0-9a-zA-Z]{1,32})'\) between 0 and (-?[0-9]+(?:\.[0-9]+)?)",
            str(cond.get("expression", "")),
        )
        if match is None:
            raise Unreadable(
                f"{name}: the rollout condition is not `percent('seed') between 0 and P`"
            )
        micro = round(float(match.group(2)) * 1_000_000)
    if not isinstance(micro, int) or isinstance(micro, bool):
        raise Unreadable(f"{name}: microPercent is not an integer")
    return micro


def seed_of(namespace: str, template: Mapping[str, Any], name: str) -> str | None:
    """The seed of flag `name`'s rollout condition (a changed seed reshuffles every user)."""
    for cond in template.get("conditions") or []:
        if cond.get("name") != condition_name(name, "rollout"):
            continue
        if namespace == SERVER:
            leaves = _leaves(name, cond.get("condition"))
            return (
                str(leaves[0]["percent"].get("seed")) if leaves and "percent" in leaves[0] else None
            )
        match = re.match(r"percent\('([^']*)'\)", str(cond.get("expression", "")))
        return match.group(1) if match else None
    return None


def _leaves(name: str, cond: Any, depth: int = 0) -> list[dict[str, Any]]:
    if not isinstance(cond, dict) or depth > 10:
        raise Unreadable(f"{name}: a condition is not an object")
    for key in ("orCondition", "andCondition"):
        if key in cond:
            subs = (cond[key] or {}).get("conditions") or []
            if key == "andCondition" and len(subs) != 1:
                raise Unreadable(f"{name}: a condition combines several rules")
            return [leaf for sub in subs for leaf in _leaves(name, sub, depth + 1)]
    return [cond]


def _read_users(name: str, namespace: str, cond: Mapping[str, Any]) -> list[str]:
    if namespace == SERVER:
        users: list[str] = []
        for leaf in _leaves(name, cond.get("condition")):
            signal = leaf.get("customSignal") or {}
            if (
                signal.get("customSignalOperator") != "STRING_EXACTLY_MATCHES"
                or signal.get("customSignalKey") != USER_SIGNAL
            ):
                raise Unreadable(f"{name}: a user list must match the {USER_SIGNAL} signal exactly")
            users.extend(str(v) for v in signal.get("targetCustomSignalValues") or [])
        return users
    prefix = f"app.customSignal[{_quote(USER_SIGNAL)}].exactlyMatches(["
    text = str(cond.get("expression", ""))
    if not (text.startswith(prefix) and text.endswith("])")):
        raise Unreadable(f"{name}: a user list must be `{prefix}...])`")
    return _unquote_list(name, text[len(prefix) : -2])


def _unquote_list(name: str, text: str) -> list[str]:
    items = re.findall(r"'((?:[^'\\]|\\.)*)'\s*(?:,\s*|$)", text)
    if ", ".join(f"'{i}'" for i in items) != text.strip():
        raise Unreadable(f"{name}: cannot read the user list")
    return [re.sub(r"\\(.)", r"\1", i) for i in items]


def drift(namespace: str, template: Mapping[str, Any], flags: Mapping[str, Flag]) -> dict[str, str]:
    """Each flag whose parameter does not deliver what Firestore says, and how."""
    out: dict[str, str] = {}
    for name, flag in sorted(flags.items()):
        try:
            seen = read(namespace, template, name)
        except Unreadable as exc:
            out[name] = f"unreadable: {exc}"
            continue
        expected = delivery(name, flag)
        if seen is None:
            out[name] = "missing from the template"
        elif seen != expected:
            out[name] = f"template {describe(seen)}, Firestore {describe(expected)}"
    for name in sorted(managed(template, ()) - set(flags)):
        out[name] = "in the template, not in Firestore"
    return out


def describe(d: Delivery) -> str:
    parts = [f"{d.micro / 1_000_000:g}% (seed {d.seed})" if d.micro is not None else ""]
    parts[0] = parts[0] or ("on" if d.default else "off")
    if d.allow:
        parts.append(f"allow {len(d.allow)}")
    if d.deny:
        parts.append(f"deny {len(d.deny)}")
    return ", ".join(parts)
