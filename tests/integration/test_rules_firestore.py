"""The security rules on the Firestore emulator: every allow and every deny.

The rules files are loaded into the session emulator for two projects of their own (rules
are per project), documents are seeded with `Bearer owner` (admin, bypasses rules), and
each request is made as nobody (no header), a signed-in user, or an operator (custom claim
`releaseOperator: true`), with unsigned emulator tokens.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

REPO = Path(__file__).resolve().parents[2]
CONTROL = "demo-rules-control"
APP = "demo-rules-app"
ANON, USER, OPERATOR = "anonymous", "user", "operator"
PRINCIPALS = (ANON, USER, OPERATOR)
OPS = ("get", "list", "create", "update", "delete")
OWNER = {"Authorization": "Bearer owner"}


def token(project: str, uid: str, **claims: Any) -> str:
    """An unsigned ID token (`alg: none`), which the emulator takes as that user."""

    def b64(part: dict[str, Any]) -> str:
        raw = json.dumps(part).encode()
        return base64.urlsafe_b64encode(raw).decode().rstrip("=")

    payload = {
        "iss": f"https://securetoken.google.com/{project}",
        "aud": project,
        "sub": uid,
        "user_id": uid,
        "iat": 1_700_000_000,
        "exp": 4_000_000_000,
        "auth_time": 1_700_000_000,
        "firebase": {"sign_in_provider": "password", "identities": {}},
        **claims,
    }
    return f"{b64({'alg': 'none', 'typ': 'JWT'})}.{b64(payload)}."


def headers(project: str, who: str) -> dict[str, str]:
    if who == ANON:
        return {}
    if who == USER:
        # a signed-in app user, even one who claims the flag as a string, is no operator
        return {"Authorization": f"Bearer {token(project, 'alice', releaseOperator='true')}"}
    return {"Authorization": f"Bearer {token(project, 'op-1', releaseOperator=True)}"}


class Firestore:
    def __init__(self, host: str, project: str) -> None:
        self.project = project
        self.base = f"http://{host}/v1/projects/{project}/databases/%28default%29/documents"
        self.http = httpx.Client(timeout=10.0)

    def seed(self, path: str) -> None:
        body = {"fields": {"seeded": {"booleanValue": True}}}
        self.http.patch(f"{self.base}/{path}", json=body, headers=OWNER).raise_for_status()

    def status(self, op: str, path: str, who: str) -> int:
        h = headers(self.project, who)
        parent, _, _ = path.rpartition("/")
        body = {"fields": {"by": {"stringValue": who}}}
        if op == "get":
            r = self.http.get(f"{self.base}/{path}", headers=h)
        elif op == "list":
            r = self.http.get(f"{self.base}/{parent}", headers=h)
        elif op == "create":
            r = self.http.post(
                f"{self.base}/{parent}", params={"documentId": f"new-{who}"}, json=body, headers=h
            )
        elif op == "update":
            r = self.http.patch(
                f"{self.base}/{path}",
                params={"currentDocument.exists": "true"},
                json=body,
                headers=h,
            )
        else:
            r = self.http.delete(f"{self.base}/{path}", headers=h)
        return r.status_code


def load_rules(host: str, project: str, rules: Path) -> None:
    body = {"rules": {"files": [{"content": rules.read_text(encoding="utf-8")}]}}
    url = f"http://{host}/emulator/v1/projects/{project}:securityRules"
    httpx.put(url, json=body, timeout=10.0).raise_for_status()


# path -> the principals that may read it. Nobody may write anything.
CONTROL_READS: dict[str, set[str]] = {
    "releases/1.4.0": {OPERATOR},
    "releases/1.4.0/rollouts/production": {OPERATOR},
    "releases/1.4.0/history/000001": {OPERATOR},
    "environments/production": {OPERATOR},
    "deadLetters/evt-1": {OPERATOR},
    "processedEvents/evt-1": set(),
    "notifications/n-1": set(),
    "_schema/current": set(),
    "somethingElse/x": set(),
}
APP_READS: dict[str, set[str]] = {
    "featureFlags/videoCalls": {ANON, USER, OPERATOR},
    "featureFlags/videoCalls/audit/a-1": {OPERATOR},
    "_schema/current": {OPERATOR},
    "_schema/lock": {OPERATOR},
}


def cases(reads: dict[str, set[str]]) -> list[Any]:
    out = []
    for path, readers in reads.items():
        for who in PRINCIPALS:
            for op in OPS:
                allowed = op in ("get", "list") and who in readers
                verdict = "allow" if allowed else "deny"
                out.append(pytest.param(path, who, op, allowed, id=f"{verdict}-{op}-{who}-{path}"))
    return out


@pytest.fixture(scope="module")
def control(emulator_env: dict[str, str]) -> Iterator[Firestore]:
    host = emulator_env["FIRESTORE_EMULATOR_HOST"]
    load_rules(host, CONTROL, REPO / "firestore.rules")
    fs = Firestore(host, CONTROL)
    yield fs
    fs.http.close()


@pytest.fixture(scope="module")
def app(emulator_env: dict[str, str]) -> Iterator[Firestore]:
    host = emulator_env["FIRESTORE_EMULATOR_HOST"]
    load_rules(host, APP, REPO / "config" / "app-firestore.rules")
    fs = Firestore(host, APP)
    yield fs
    fs.http.close()


@pytest.mark.parametrize(("path", "who", "op", "allowed"), cases(CONTROL_READS))
def test_control_project_rules(
    control: Firestore, path: str, who: str, op: str, allowed: bool
) -> None:
    control.seed(path)  # every case starts from an existing document
    status = control.status(op, path, who)
    assert status == (200 if allowed else 403), (op, path, who, status)


@pytest.mark.parametrize(("path", "who", "op", "allowed"), cases(APP_READS))
def test_app_project_rules(app: Firestore, path: str, who: str, op: str, allowed: bool) -> None:
    app.seed(path)
    status = app.status(op, path, who)
    assert status == (200 if allowed else 403), (op, path, who, status)


def test_denied_writes_change_nothing(control: Firestore, app: Firestore) -> None:
    """A refused write leaves the document as it was (history stays as written)."""
    control.seed("releases/1.4.0/history/000002")
    assert control.status("update", "releases/1.4.0/history/000002", OPERATOR) == 403
    assert control.status("delete", "releases/1.4.0/history/000002", OPERATOR) == 403
    snap = control.http.get(f"{control.base}/releases/1.4.0/history/000002", headers=OWNER)
    assert snap.json()["fields"] == {"seeded": {"booleanValue": True}}
    app.seed("featureFlags/wallet")
    assert app.status("update", "featureFlags/wallet", USER) == 403
    snap = app.http.get(f"{app.base}/featureFlags/wallet", headers=OWNER)
    assert snap.json()["fields"] == {"seeded": {"booleanValue": True}}


def test_owner_bypasses_rules_as_the_admin_sdk_does(control: Firestore) -> None:
    """The control plane's accounts write through the admin SDK: rules never stop them."""
    body = {"fields": {"state": {"stringValue": "live"}}}
    url = f"{control.base}/releases/1.4.0/rollouts/staging"
    assert control.http.patch(url, json=body, headers=OWNER).status_code == 200
