"""The dashboard over a fake reader: pages, 404s, escaping, access, approve and reject."""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any

import pytest
from flask import Request, Response
from werkzeug.test import EnvironBuilder

from shared.adapters.firestore_views import EnvStatus, ReleaseView, TrainView
from shared.config import PlaneConfig
from shared.dashboard.app import Dashboard
from shared.dashboard.auth import SESSION_COOKIE, LocalAccess
from shared.dashboard.ports import (
    AppTrains,
    EnvFlags,
    EnvMigrations,
    Forbidden,
    SignInNeeded,
    Viewer,
)
from shared.dead_letters import DeadLetter
from shared.domain.commands import Command
from shared.domain.states import State
from shared.dora.model import Report, report
from shared.mobile.model import TrackLock, Train
from tests.unit.test_status_view import T0, release_view, rollout, rows, step

HOSTILE = "<script>alert(1)</script>"
RIGHT = "ri" + "ght"  # the stand-in password the fake accepts


@dataclass
class FakeReader:
    envs: list[EnvStatus]
    releases: dict[str, ReleaseView]
    reads: list[str] = field(default_factory=list)
    app_trains: list[AppTrains] = field(default_factory=list)
    train_views: dict[str, list[TrainView]] = field(default_factory=dict)

    def environments(self) -> list[EnvStatus]:
        return self.envs

    def release(self, version: str) -> ReleaseView | None:
        self.reads.append(version)
        return self.releases.get(version)

    def flags(self) -> list[EnvFlags]:
        return [EnvFlags("dev", [{"name": "videoCalls", "enabled": True}], {"bad": HOSTILE})]

    def migrations(self) -> list[EnvMigrations]:
        return [EnvMigrations("dev", "1.0.0", [{"version": "1.0.0", "status": "applied"}])]

    def dead_letters(self, limit: int) -> list[DeadLetter]:
        return []

    def dora(self, env: str, since: datetime, now: datetime) -> Report:
        return report(env, [], {}, since, now)

    def apps(self, limit: int, current: bool = False) -> list[AppTrains]:
        def held(a: AppTrains) -> list[Train]:
            mine = [t for t in a.trains if a.holder and t.release == a.holder.release]
            return mine[:1] if current and mine else a.trains[:limit]

        return [replace(a, trains=held(a)) for a in self.app_trains]

    def holders(self) -> dict[str, TrackLock]:
        return {a.platform: a.holder for a in self.app_trains if a.holder is not None}

    def trains(self, version: str, with_history: bool) -> list[TrainView]:
        found = self.train_views.get(version, [])
        return found if with_history else [v.model_copy(update={"history": []}) for v in found]


class Sessions:
    """Google Cloud's access with firebase-admin's answers stood in for."""

    def __init__(self, roles: dict[str, set[str]]) -> None:
        self.roles = roles

    def viewer(self, session_cookie: str | None) -> Viewer:
        if session_cookie not in self.roles:
            raise SignInNeeded("no session")
        viewer = Viewer(session_cookie, frozenset(self.roles[session_cookie]))
        if not viewer.may("viewer"):
            raise Forbidden(f"{viewer.name} does not have the viewer role")
        return viewer

    def session(self, email: str, password: str) -> str:
        raise SignInNeeded("wrong password")

    def id_token(self, viewer: Viewer, password: str) -> str | None:
        if password != RIGHT:
            raise SignInNeeded("wrong password")
        return "token-of-" + viewer.name


def awaiting() -> ReleaseView:
    view = release_view()
    waiting = rollout("1.4.0", "production", State.AWAITING_APPROVAL, approval=step("waiting", 1))
    return view.model_copy(update={"rollouts": [*view.rollouts, waiting]})


@pytest.fixture
def sent() -> list[Command]:
    return []


def board(plane: PlaneConfig, sent: list[Command], access: Any = None) -> Dashboard:
    reader = FakeReader(rows(), {"1.4.0": awaiting()})

    def publish(command: Command) -> str:
        sent.append(command)
        moved = [
            r.model_copy(update={"state": State.MIGRATING}) if r.env == "production" else r
            for r in reader.releases["1.4.0"].rollouts
        ]  # the bus moved it on
        reader.releases["1.4.0"] = awaiting().model_copy(update={"rollouts": moved})
        return str(len(sent))

    return Dashboard(reader, access or LocalAccess(lambda name: None), plane, publish, lambda: T0)


def call(d: Dashboard, path: str, method: str = "GET", **kw: Any) -> Response:
    environ = EnvironBuilder(path=path, method=method, **kw).get_environ()
    return d.respond(Request(environ))


def test_overview_shows_each_env_what_waits_and_refreshes_while_in_flight(
    plane: PlaneConfig, sent: list[Command]
) -> None:
    page = call(board(plane, sent), "/")
    html = page.get_data(as_text=True)
    assert page.status_code == 200
    assert "1.1.0</a> waits for you: approve or reject" in html
    assert 'data-refresh="5"' in html  # production's rollout is in flight: refresh.js reloads
    assert 'http-equiv="refresh"' not in html  # never a full-page refresh (WCAG 2.2.1)
    assert "payments incident [INC-7]" in html
    assert html.count("error rate 100.00% (must stay below 5.00%)") <= 2
    assert "script-src 'self';" in page.headers["Content-Security-Policy"]
    script = call(board(plane, sent), "/assets/refresh.js")
    assert script.status_code == 200 and script.mimetype == "text/javascript"
    assert call(board(plane, sent), "/assets/../app.py").status_code == 404


def test_unknown_release_env_and_path_are_404_pages_that_say_so(
    plane: PlaneConfig, sent: list[Command]
) -> None:
    d = board(plane, sent)
    for path, said in [
        ("/releases/9.9.9", "unknown release &#39;9.9.9&#39;"),
        ("/metrics?env=qa", "unknown environment &#39;qa&#39;"),
        ("/nowhere", "no page at /nowhere"),
        ("/inbox", "local stack only"),
    ]:
        page = call(d, path)
        assert page.status_code == 404, path
        assert said in page.get_data(as_text=True)
    assert call(d, "/metrics?since=soon").status_code == 400


def test_everything_shown_is_escaped(plane: PlaneConfig, sent: list[Command]) -> None:
    d = board(plane, sent)
    assert HOSTILE not in call(d, "/flags").get_data(as_text=True)
    assert "&lt;script&gt;" in call(d, "/flags").get_data(as_text=True)
    page = call(d, f"/releases/{HOSTILE}")
    assert page.status_code == 404 and HOSTILE not in page.get_data(as_text=True)


def test_approve_from_the_page_sends_the_cli_command_once(
    plane: PlaneConfig, sent: list[Command]
) -> None:
    d = board(plane, sent)
    page = call(d, "/releases/1.4.0")
    assert 'action="/releases/1.4.0/production/approve"' in page.get_data(as_text=True)
    first = call(d, "/releases/1.4.0/production/approve", "POST", data={"reason": "ok"})
    again = call(d, "/releases/1.4.0/production/approve", "POST", data={"reason": "ok"})
    assert first.status_code == again.status_code == 303
    assert first.headers["Location"] == "/releases/1.4.0?sent=approve#production"
    assert again.headers["Location"] == "/releases/1.4.0?sent=decided#production"
    assert [(c.type, c.release, c.env) for c in sent] == [  # type: ignore[attr-defined]
        ("release.approve", "1.4.0", "production")
    ]


def test_a_rejection_needs_a_reason_and_a_form_from_elsewhere_is_refused(
    plane: PlaneConfig, sent: list[Command]
) -> None:
    d = board(plane, sent)
    assert call(d, "/releases/1.4.0/production/reject", "POST", data={}).status_code == 400
    forged = call(
        d,
        "/releases/1.4.0/production/approve",
        "POST",
        headers={"Origin": "https://evil.example"},
        base_url="http://127.0.0.1:8080",
    )
    assert forged.status_code == 403 and sent == []
    assert call(d, "/releases/1.4.0/qa/approve", "POST").status_code == 404


def test_on_google_cloud_no_session_signs_in_and_no_role_is_403(
    plane: PlaneConfig, sent: list[Command]
) -> None:
    d = board(plane, sent, Sessions({"viewer@x.io": {"viewer"}, "nobody@x.io": set()}))
    assert call(d, "/").status_code == 401
    assert "Sign in" in call(d, "/").get_data(as_text=True)
    nobody = call(d, "/", headers={"Cookie": f"{SESSION_COOKIE}=nobody@x.io"})
    assert nobody.status_code == 403
    viewer = call(d, "/", headers={"Cookie": f"{SESSION_COOKIE}=viewer@x.io"})
    assert viewer.status_code == 200
    posted = call(
        d,
        "/releases/1.4.0/production/approve",
        "POST",
        headers={"Cookie": f"{SESSION_COOKIE}=viewer@x.io"},
    )
    assert posted.status_code == 403 and sent == []  # a viewer is not an approver


def test_an_approver_on_google_cloud_signs_with_a_fresh_token(
    plane: PlaneConfig, sent: list[Command]
) -> None:
    d = board(plane, sent, Sessions({"ann@x.io": {"viewer", "approver"}}))
    cookie = {"Cookie": f"{SESSION_COOKIE}=ann@x.io"}
    wrong = call(
        d, "/releases/1.4.0/production/approve", "POST", headers=cookie, data={"password": "no"}
    )
    assert wrong.status_code == 403 and sent == []
    ok = call(
        d, "/releases/1.4.0/production/approve", "POST", headers=cookie, data={"password": RIGHT}
    )
    assert ok.status_code == 303
    assert [(c.approver, c.id_token) for c in sent] == [  # type: ignore[attr-defined]
        ("ann@x.io", "token-of-ann@x.io")
    ]


def test_every_page_renders(plane: PlaneConfig, sent: list[Command]) -> None:
    d = board(plane, sent)
    for path in ["/", "/releases/1.4.0", "/flags", "/migrations", "/dead-letters", "/metrics"]:
        assert call(d, path).status_code == 200, path
    assert call(d, "/release?version=1.4.0").status_code == 200  # the overview's form
    assert call(d, "/release?version=").status_code == 400
