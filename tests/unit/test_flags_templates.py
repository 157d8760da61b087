"""Remote Config templates: golden renderings, reading back, merging, and the server template
evaluated by firebase-admin's own `ServerTemplate` for every user equal to our evaluation."""

from __future__ import annotations

import json
import os
import random
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from shared.flags import templates
from shared.flags.evaluation import FlagSnapshot
from shared.flags.model import Flag, parse_flag
from shared.flags.templates import CLIENT, SERVER, Delivery, Unreadable, merge, read, render

GOLDEN = Path(__file__).resolve().parent.parent / "golden" / "remote_config"
USERS = 12_000
TEN_PERCENT = Delivery(False, micro=10_000_000, seed="videoCalls")


def flags() -> dict[str, Flag]:
    """Every shape a flag can take: off, killed, always on, 0 %, 100 %, lists, custom seed."""
    docs: dict[str, dict[str, Any]] = {
        "aiCompanions": {"enabled": False, "rolloutPercent": 50},
        "videoCalls": {"enabled": True, "rolloutPercent": 10},
        "calendarPayments": {
            "enabled": True,
            "rolloutPercent": 33.33,
            "allowUsers": ["u-7", "u-42", "qa'tester"],
            "denyUsers": ["u-3", "u-42"],
            "seed": "cal-2026",
        },
        "events": {"enabled": True, "rolloutPercent": 0, "allowUsers": ["u-1", "u-2"]},
        "refundButtons": {"enabled": True, "rolloutPercent": 100, "alwaysOn": True},
        "panicTracking": {"enabled": True, "rolloutPercent": 100, "alwaysOn": True},
        "wallet": {"enabled": True, "rolloutPercent": 100, "killSwitch": True},
        "chatBilling": {"enabled": True, "rolloutPercent": 100, "denyUsers": ["u-9"]},
        "tiny": {"enabled": True, "rolloutPercent": 0.01},
        "almostAll": {"enabled": True, "rolloutPercent": 99.99, "denyUsers": ["u-5"]},
    }
    return {name: parse_flag(name, doc) for name, doc in docs.items()}


@pytest.mark.parametrize("namespace", [SERVER, CLIENT])
def test_rendering_matches_the_golden_template(namespace: str) -> None:
    conditions, parameters = render(namespace, flags())
    text = json.dumps({"conditions": conditions, "parameters": parameters}, indent=2) + "\n"
    path = GOLDEN / f"{namespace}.json"
    if os.environ.get("UPDATE_GOLDEN"):
        path.write_text(text, encoding="utf-8")
    assert text == path.read_text(encoding="utf-8")


@pytest.mark.parametrize("namespace", [SERVER, CLIENT])
def test_every_rendered_flag_reads_back_as_its_delivery(namespace: str) -> None:
    all_flags = flags()
    conditions, parameters = render(namespace, all_flags)
    template = {"conditions": conditions, "parameters": parameters}
    for name, flag in all_flags.items():
        assert read(namespace, template, name) == templates.delivery(name, flag), name
    assert read(namespace, template, "missing") is None


def test_merge_keeps_parameters_and_conditions_that_are_not_ours() -> None:
    theirs = {
        "conditions": [{"name": "ios", "expression": "device.os == 'ios'", "tagColor": "PINK"}],
        "parameters": {
            "welcome": {
                "defaultValue": {"value": "hi"},
                "conditionalValues": {"ios": {"value": "yo"}},
            },
            "videoCalls": {"defaultValue": {"value": "true"}},  # ours: replaced
            "gone": {"defaultValue": {"value": "false"}, "description": templates.DESCRIPTION},
        },
        "parameterGroups": {"g": {"parameters": {}}},
    }
    merged = merge(CLIENT, theirs, {"videoCalls": flags()["videoCalls"]})
    assert merged["conditions"][0] == theirs["conditions"][0]
    assert merged["parameters"]["welcome"] == theirs["parameters"]["welcome"]
    assert "gone" not in merged["parameters"]  # a flag deleted from Firestore: its parameter too
    assert read(CLIENT, merged, "videoCalls") == TEN_PERCENT
    assert merged["parameterGroups"] == theirs["parameterGroups"]


@pytest.mark.parametrize(
    ("param", "conditions", "why"),
    [
        ({"defaultValue": {"value": "maybe"}}, [], "not true or false"),
        (
            {"defaultValue": {"value": "false"}, "conditionalValues": {"ios": {"value": "true"}}},
            [{"name": "ios", "expression": "device.os == 'ios'"}],
            "not one releasectl publishes",
        ),
        (
            {
                "defaultValue": {"value": "false"},
                "conditionalValues": {"releasectl.videoCalls.rollout": {"value": "true"}},
            },
            [{"name": "releasectl.videoCalls.rollout", "expression": "percent between 0 and 5"}],
            "percent('seed')",
        ),
    ],
)
def test_shapes_we_do_not_publish_are_unreadable(
    param: dict[str, Any], conditions: list[dict[str, Any]], why: str
) -> None:
    with pytest.raises(Unreadable, match=why.replace("(", r"\(").replace(")", r"\)")):
        read(CLIENT, {"conditions": conditions, "parameters": {"videoCalls": param}}, "videoCalls")


@pytest.fixture(scope="module")
def server_template() -> Iterator[Any]:
    """firebase-admin's `ServerTemplate`, built from our rendered JSON (offline)."""
    import firebase_admin
    from firebase_admin import credentials, remote_config
    from google.auth.credentials import AnonymousCredentials

    class _Anonymous(credentials.Base):  # type: ignore[misc]
        def get_credential(self) -> Any:
            return AnonymousCredentials()

    app = firebase_admin.initialize_app(
        _Anonymous(), options={"projectId": "demo-flags"}, name="templates-oracle"
    )
    conditions, parameters = render(SERVER, flags())
    merged = merge(SERVER, {"conditions": [], "parameters": {}}, flags())
    assert merged["parameters"] == parameters and merged["conditions"] == conditions
    data = json.dumps({**merged, "version": {"versionNumber": "1"}, "etag": "etag-1"})
    yield remote_config.init_server_template(app=app, template_data_json=data)
    firebase_admin.delete_app(app)


def test_firebase_admin_server_template_decides_exactly_as_we_do(server_template: Any) -> None:
    """≥ 10,000 users (random ids, the listed users, odd Unicode) × every flag shape."""
    rng = random.Random(15)
    listed = ["u-1", "u-2", "u-3", "u-5", "u-7", "u-9", "u-42", "qa'tester"]
    odd = ["é", "用户-1", "a b", "💥", "0", "x" * 256]
    users = listed + odd + [f"user-{rng.getrandbits(64):x}" for _ in range(USERS)]
    snapshot = FlagSnapshot(flags=flags())
    ours = {name: snapshot.compiled[name].evaluate_many(users) for name in snapshot.flags}
    mismatches = []
    for i, user in enumerate(users):
        config = server_template.evaluate(templates.server_context(user))
        for name in snapshot.flags:
            if config.get_boolean(name) != ours[name][i]:
                mismatches.append((name, user))
    assert mismatches == []
    # The bucketed flags really split the population (the comparison is not all-off).
    assert 0.08 < sum(ours["videoCalls"]) / len(users) < 0.12
    assert 0.30 < sum(ours["calendarPayments"]) / len(users) < 0.37
