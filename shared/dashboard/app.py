"""The dashboard's HTTP side: route a request to a page, render it (jinja2, autoescaped), and
turn approve / reject forms into the same commands `releasectl` publishes.

Every page reads only what it shows (`shared.dashboard.reader`). It updates itself in place
(`static/refresh.js`, no meta refresh) while a rollout or a store call is in flight. Unknown
releases, environments and paths are 404 pages that say what was not found; no session on
Google Cloud is the sign-in page, a user without the role a 403.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlsplit

from flask import Request, Response
from jinja2 import Environment, FileSystemLoader, select_autoescape

from shared.clock import Clock
from shared.config import PlaneConfig
from shared.dashboard import charts, mobile
from shared.dashboard.auth import SESSION_COOKIE, SESSION_DAYS
from shared.dashboard.ports import Access, Forbidden, ReleaseReader, SignInNeeded, Viewer
from shared.domain.commands import Command, parse_command
from shared.domain.model import Rollout
from shared.domain.states import IN_FLIGHT
from shared.domain.workflow import paused_bake
from shared.dora.model import parse_since
from shared.errors import Refused
from shared.mobile.model import mobile_builds
from shared.views import steps
from shared.views.reasons import summarise

TEMPLATES = Path(__file__).parent / "templates"
REFRESH_S = 5
_RELEASE = re.compile(r"^/releases/([^/]+)$")
_DECIDE = re.compile(r"^/releases/([^/]+)/([^/]+)/(approve|reject)$")
_TRAINS = re.compile(r"^/releases/([^/]+)/trains$")


class NotFound(Exception):
    """What the page asked for does not exist; the message names it."""


class BadRequest(Exception):
    """The form or query cannot be valid; the message says why."""


@dataclass(frozen=True)
class Page:
    template: str
    context: dict[str, Any]
    status: int = 200


def environment() -> Environment:
    env = Environment(
        loader=FileSystemLoader(TEMPLATES),
        autoescape=select_autoescape(["html"]),
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters["when"] = lambda d: d.strftime("%Y-%m-%d %H:%M:%S") if d else "-"
    env.filters["took"] = steps.duration
    env.filters["short"] = summarise
    return env


class Dashboard:
    def __init__(
        self,
        reader: ReleaseReader,
        access: Access,
        plane: PlaneConfig,
        publish: Callable[[Command], str],
        clock: Clock,
        inbox: Callable[[], list[dict[str, Any]]] | None = None,
    ) -> None:
        self.reader, self.access, self.plane = reader, access, plane
        self.publish, self.clock, self.inbox = publish, clock, inbox
        self.templates = environment()
        self.nav = [*NAV[:2], *([MOBILE_NAV] if plane.mobile else []), *NAV[2:]]

    # --- HTTP ------------------------------------------------------------------------------

    def respond(self, request: Request) -> Response:
        path = request.path.rstrip("/") or "/"
        if path.startswith("/assets/"):  # not /static/: functions-framework's Flask owns it
            return _static(path.removeprefix("/assets/"))
        if path == "/session" and request.method == "POST":
            return self._sign_in(request)
        try:
            viewer = self.access.viewer(request.cookies.get(SESSION_COOKIE))
        except SignInNeeded:
            return self._render(Page("signin.html", {"project": self.plane.control.project}, 401))
        except Forbidden as exc:
            return self._render(
                Page("error.html", {"title": "Forbidden", "message": str(exc)}, 403)
            )
        try:
            if request.method == "POST":
                return self._post(request, path, viewer)
            if request.method not in ("GET", "HEAD"):
                raise BadRequest(f"{request.method} is not supported here")
            page = self._page(path, request.args, viewer)
        except NotFound as exc:
            page = Page("error.html", {"title": "Not found", "message": str(exc)}, 404)
        except BadRequest as exc:
            page = Page("error.html", {"title": "Bad request", "message": str(exc)}, 400)
        except Forbidden as exc:
            page = Page("error.html", {"title": "Forbidden", "message": str(exc)}, 403)
        page.context.setdefault("viewer", viewer)
        return self._render(page)

    def _render(self, page: Page) -> Response:
        html = self.templates.get_template(page.template).render(
            now=self.clock(), nav=self.nav, **page.context
        )
        response = Response(html, status=page.status, mimetype="text/html")
        response.headers["Content-Security-Policy"] = CSP
        response.headers["X-Content-Type-Options"] = "nosniff"
        response.headers["Referrer-Policy"] = "same-origin"
        return response

    def _page(self, path: str, args: Any, viewer: Viewer) -> Page:
        simple = {
            "/": self.overview,
            "/flags": self.flags,
            "/migrations": self.migrations,
            "/dead-letters": self.dead_letters,
            "/inbox": self.notices,
            "/mobile": self.mobile,
        }
        if path in simple:
            return simple[path]()
        if path == "/release":  # the overview's "go to release" form
            version = str(args.get("version", "")).strip()
            if not version:
                raise BadRequest("name a release")
            return self.release(version)
        if path == "/metrics":
            return self.metrics(args.get("env", "production"), args.get("since", "30d"))
        found = _RELEASE.match(path)
        if found:
            return self.release(found[1], args.get("sent"))
        found = _TRAINS.match(path)
        if found:
            return self.release_trains(found[1])
        raise NotFound(f"no page at {path}")

    # --- pages -----------------------------------------------------------------------------

    def overview(self) -> Page:
        now = self.clock()
        envs = self.reader.environments()
        rows = [
            {
                "status": e,
                "timeline": steps.timeline(e.in_flight, now) if e.in_flight else [],
                "step": steps.step_label(e.in_flight) if e.in_flight else None,
                "waiting": steps.waiting(e.in_flight),
                "breach": _breach(e.live),
            }
            for e in envs
        ]
        apps = mobile.apps(self.reader.apps(mobile.OVERVIEW_TRAINS, current=True))
        trains = [r for a in apps for r in a["rows"]]
        moving = any(e.in_flight is not None and e.in_flight.state in IN_FLIGHT for e in envs)
        moving = moving or mobile.moving(trains)
        context = {"rows": rows, "apps": apps, "refresh": REFRESH_S if moving else None}
        return Page("overview.html", context)

    def release(self, version: str, sent: str | None = None) -> Page:
        view = self.reader.release(version)
        if view is None:
            raise NotFound(f"unknown release {version!r}")
        now = self.clock()
        rollouts = [
            {
                "rollout": r,
                "step": steps.step_label(r),
                "timeline": steps.timeline(r, now),
                "waiting": steps.waiting(r),
                "decisions": _decisions(r),
                "charts": self._charts(r.env, r.steps),
                "gates": _checks(r.steps.get("gates")),
                "smoke": _checks(r.steps.get("smoke")),
            }
            for r in sorted(
                view.rollouts,
                key=lambda r: (
                    list(self.plane.environments).index(r.env)
                    if r.env in self.plane.environments
                    else 99
                ),
            )
        ]
        # a release carrying mobile builds: its trains, by id (no history here)
        builds = mobile_builds(view.release.artifacts) if self.plane.mobile else {}
        trains = mobile.release_trains(self.reader.trains(version, False)) if builds else []
        moving = any(r.state in IN_FLIGHT for r in view.rollouts) or mobile.moving(trains)
        context = {
            "view": view,
            "builds": builds,
            "trains": trains,
            "rollouts": rollouts,
            "sent": sent if sent in ("approve", "reject", "decided") else None,
            "refresh": REFRESH_S if moving else None,
        }
        return Page("release.html", context)

    def _charts(self, env: str, recorded: Any) -> list[charts.Chart]:
        t = self.plane.environments[env].thresholds if env in self.plane.environments else None
        out = []
        for name in ("bake", "watch"):
            step = recorded.get(name)
            for check in (step.detail.get("checks") or []) if step and t else []:
                if isinstance(check, dict) and (check.get("evidence") or {}).get("windows"):
                    out.append(charts.metric_chart(check, t))  # type: ignore[arg-type]
        return out

    def mobile(self) -> Page:
        if self.plane.mobile is None:
            raise NotFound("no mobile apps are configured ([mobile] in environments.toml)")
        apps = mobile.apps(self.reader.apps(mobile.APP_TRAINS))
        moving = mobile.moving([r for a in apps for r in a["rows"]])
        return Page("mobile.html", {"apps": apps, "refresh": REFRESH_S if moving else None})

    def release_trains(self, version: str) -> Page:
        view = self.reader.release(version)
        if view is None:
            raise NotFound(f"unknown release {version!r}")
        builds = mobile_builds(view.release.artifacts)
        found = self.reader.trains(version, True) if builds else []
        trains = mobile.release_trains(found, self.reader.holders() if found else None)
        context = {
            "release": view.release,
            "builds": builds,
            "trains": trains,
            "refresh": REFRESH_S if mobile.moving(trains) else None,
        }
        return Page("trains.html", context)

    def flags(self) -> Page:
        return Page("flags.html", {"envs": self.reader.flags()})

    def migrations(self) -> Page:
        return Page("migrations.html", {"envs": self.reader.migrations()})

    def dead_letters(self) -> Page:
        return Page("dead_letters.html", {"letters": self.reader.dead_letters(50)})

    def notices(self) -> Page:
        if self.inbox is None:
            raise NotFound("the notification inbox exists on the local stack only")
        return Page("inbox.html", {"notices": self.inbox()})

    def metrics(self, env: str, since: str) -> Page:
        if env not in self.plane.environments:
            raise NotFound(f"unknown environment {env!r}")
        now = self.clock()
        try:
            start = parse_since(since, now)
        except ValueError as exc:
            raise BadRequest(str(exc)) from None
        found = self.reader.dora(env, start, now)
        context = {"report": found, "env": env, "since": since, "charts": dora_charts(found)}
        return Page("metrics.html", {**context, "envs": list(self.plane.environments)})

    # --- forms -----------------------------------------------------------------------------

    def _post(self, request: Request, path: str, viewer: Viewer) -> Response:
        _same_origin(request)
        if path == "/signout":
            response = _redirect("/")
            response.delete_cookie(SESSION_COOKIE)
            return response
        found = _DECIDE.match(path)
        if not found:
            raise NotFound(f"no form at {path}")
        version, env, decision = found[1], found[2], found[3]
        return self.decide(version, env, decision, request.form, viewer)

    def decide(self, version: str, env: str, decision: str, form: Any, viewer: Viewer) -> Response:
        """Approve or reject: the same command as `releasectl release approve|reject`. A
        rollout no longer awaiting approval is not asked again (a double post is one approval;
        the bus refuses a race)."""
        if env not in self.plane.environments:
            raise NotFound(f"unknown environment {env!r}")
        if not viewer.may("approver"):
            raise Forbidden(f"{viewer.name} does not have the approver role")
        view = self.reader.release(version)
        rollout = next((r for r in view.rollouts if r.env == env), None) if view else None
        if rollout is None:
            raise NotFound(f"release {version!r} has no rollout in {env!r}")
        target = f"/releases/{quote(version)}"
        if decision not in _decisions(rollout):
            return _redirect(f"{target}?sent=decided#{quote(env)}")
        reason = str(form.get("reason", ""))[:500]
        if decision == "reject" and not reason.strip():
            raise BadRequest("a rejection needs a reason")
        try:
            token = self.access.id_token(viewer, str(form.get("password", "")))
        except SignInNeeded as exc:
            raise Forbidden(f"could not sign the {decision}: {exc}") from None
        payload = {
            "type": f"release.{decision}",
            "release": version,
            "env": env,
            "approver": viewer.name,
            "reason": reason,
            "id_token": token or None,
        }
        clean = {k: v for k, v in payload.items() if v is not None}
        try:
            command = parse_command(json.dumps(clean).encode())
        except Refused as exc:
            raise BadRequest(exc.reason) from None
        self.publish(command)
        return _redirect(f"{target}?sent={decision}#{quote(env)}")

    def _sign_in(self, request: Request) -> Response:
        _same_origin(request)
        try:
            form = request.form
            cookie = self.access.session(str(form.get("email", "")), str(form.get("password", "")))
        except (SignInNeeded, Forbidden) as exc:
            page = Page("error.html", {"title": "Sign-in failed", "message": str(exc)}, 401)
            return self._render(page)
        response = _redirect("/")
        response.set_cookie(
            SESSION_COOKIE,
            cookie,
            max_age=SESSION_DAYS * 86400,
            httponly=True,
            secure=True,
            samesite="Strict",
        )
        return response


MOBILE_NAV = ("/mobile", "Mobile trains")
NAV = [
    ("/", "Overview"),
    ("/metrics", "Delivery metrics"),
    ("/flags", "Flags"),
    ("/migrations", "Migrations"),
    ("/dead-letters", "Dead letters"),
    ("/inbox", "Inbox"),
]
# One script of our own (refresh.js); inline styles only.
CSP = (
    "default-src 'none'; style-src 'unsafe-inline'; img-src 'self' data:; script-src 'self'; "
    "connect-src 'self'; frame-ancestors 'none'; form-action 'self'; base-uri 'none'"
)
STATIC = Path(__file__).parent / "static"
_STATIC_TYPES = {".js": "text/javascript"}


def _static(name: str) -> Response:
    """The page's own assets: a fixed set of files, no path from the request reaches the disk."""
    files = {p.name: p for p in STATIC.iterdir() if p.suffix in _STATIC_TYPES}
    found = files.get(name)
    if found is None:
        return Response("not found", status=404, mimetype="text/plain")
    response = Response(found.read_bytes(), mimetype=_STATIC_TYPES[found.suffix])
    response.headers["Cache-Control"] = "max-age=300"
    response.headers["X-Content-Type-Options"] = "nosniff"
    return response


def _redirect(location: str) -> Response:
    return Response("", status=303, headers={"Location": location})


def _same_origin(request: Request) -> None:
    """Forms are posted from our own pages only (with SameSite=Strict cookies, a second line)."""
    origin = request.headers.get("Origin")
    if origin and urlsplit(origin).netloc != request.host:
        raise Forbidden(f"form posted from another site ({origin})")


def _breach(live: Any) -> dict[str, Any] | None:
    watch = live.steps.get("watch") if live is not None and live.state == "live" else None
    if watch is None or watch.status != "breach":
        return None
    return {"release": live.release, "reason": watch.reason, "detail": watch.detail}


def _checks(step: Any) -> list[dict[str, Any]]:
    if step is None:
        return []
    return [c for c in step.detail.get("checks") or [] if isinstance(c, dict)]


def dora_charts(found: Any) -> list[charts.Chart]:
    def label(p: Any) -> str:
        return f"{p.start:%m-%d %H:%M}"

    series = found.series
    return [
        charts.bars("deployments", [(label(p), float(p.deployments), "plain") for p in series]),
        charts.bars(
            "lead time (h)", [(label(p), p.lead_time.value, "plain") for p in series], fmt="{:.2f}"
        ),
        charts.bars(
            "change fail rate (%)",
            [(label(p), p.change_fail_rate.value, "breach") for p in series],
            fmt="{:.0f}",
        ),
        charts.bars(
            "recovery time (h)",
            [(label(p), p.recovery_time.value, "plain") for p in series],
            fmt="{:.2f}",
        ),
    ]


def _decisions(rollout: Rollout) -> tuple[str, ...]:
    """What an approver may decide about a rollout now: an approval (approve or reject), or a
    bake paused for a person (approve takes it live; it is rolled back, not rejected)."""
    if rollout.state.value == "awaiting_approval":
        return ("approve", "reject")
    return ("approve",) if paused_bake(rollout) else ()
