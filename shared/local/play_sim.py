"""A loopback Google Play: the subset of the Play Developer API (androidpublisher v3) and the
Play Developer Reporting API (v1beta1) the control plane uses, at their real paths.

- `POST /token`: the OAuth 2.0 JWT-bearer grant a service account key makes (its `token_uri`);
  the assertion must be signed with the configured key (RS256) → a bearer token.
- `androidpublisher/v3/applications/{pkg}/edits` insert, get, delete, `:commit`;
  `…/edits/{id}/tracks` list, `…/tracks/{track}` get, update (PUT), patch: every one needs the
  bearer token; a track update is checked as Play checks it (known version codes, a
  `userFraction` in (0, 1) only with `inProgress`/`halted`, one staged release per track).
- `v1beta1/apps/{pkg}/crashRateMetricSet:query`: HOURLY/DAILY rows by `versionCode`, from the
  vitals the sample traffic posts to `POST /_sim/vitals`.
- `GET /_sim/state`: each app's committed tracks; `POST /_sim/faults`: injected failures.
"""

from __future__ import annotations

import copy
import secrets
from datetime import UTC, datetime
from typing import Any

import jwt

from shared.local.http_sim import HttpFail, Request, Simulator

V3 = "/androidpublisher/v3/applications/(?P<pkg>[^/]+)"
EDIT = V3 + "/edits/(?P<edit>[^/:]+)"
JWT_BEARER = "urn:ietf:params:oauth:grant-type:jwt-bearer"
# google-auth addresses every service account assertion to Google's token endpoint, whatever
# the key's `token_uri` (where it is sent): the audience Google checks, so we check it too.
GOOGLE_OAUTH_AUDIENCE = "https://oauth2.googleapis.com/token"
STATUSES = {"draft", "inProgress", "halted", "completed"}
DEFAULT_TRACKS = ("internal", "alpha", "beta", "production")


def _error(code: int, message: str, status: str) -> HttpFail:
    return HttpFail(code, {"error": {"code": code, "message": message, "status": status}})


class PlaySimulator(Simulator):
    name = "play"

    def __init__(
        self,
        *,
        client_email: str,
        public_key_pem: str,
        apps: dict[str, list[int]],
        tracks: tuple[str, ...] = ("internal", "closed", "production"),
        host: str = "127.0.0.1",
        port: int = 0,
    ) -> None:
        super().__init__(host, port)
        self.client_email, self.public_key = client_email, public_key_pem
        self.uploads = {pkg: set(codes) for pkg, codes in apps.items()}
        names = tuple(dict.fromkeys((*DEFAULT_TRACKS, *tracks)))
        self.tracks: dict[str, dict[str, dict[str, Any]]] = {
            pkg: {t: {"track": t, "releases": []} for t in names} for pkg in apps
        }
        self.edits: dict[str, dict[str, Any]] = {}
        self.tokens: set[str] = set()
        self.vitals: dict[str, list[dict[str, Any]]] = {pkg: [] for pkg in apps}
        self.commits = 0
        self.route("POST", "/token", self._token)
        self.route("POST", V3 + "/edits", self._insert)
        self.route("GET", EDIT, self._get_edit)
        self.route("DELETE", EDIT, self._delete_edit)
        self.route("POST", EDIT + ":commit", self._commit)
        self.route("GET", EDIT + "/tracks", self._list_tracks)
        self.route("GET", EDIT + "/tracks/(?P<track>[^/]+)", self._get_track)
        self.route("PUT", EDIT + "/tracks/(?P<track>[^/]+)", self._update_track)
        self.route("PATCH", EDIT + "/tracks/(?P<track>[^/]+)", self._update_track)
        self.route("POST", "/v1beta1/apps/(?P<pkg>[^/]+)/crashRateMetricSet:query", self._crash)
        self.route("POST", "/_sim/vitals", self._add_vitals)

    def state(self) -> dict[str, Any]:
        return {
            "apps": copy.deepcopy(self.tracks),
            "openEdits": len(self.edits),
            "commits": self.commits,
        }

    # -- auth ------------------------------------------------------------------------------

    def _token(self, req: Request) -> tuple[int, Any]:
        form = req.form()
        if form.get("grant_type") != JWT_BEARER:
            raise HttpFail(400, {"error": "unsupported_grant_type"})
        try:
            claims = jwt.decode(
                form.get("assertion", ""),
                self.public_key,
                algorithms=["RS256"],
                audience=GOOGLE_OAUTH_AUDIENCE,
                issuer=self.client_email,
            )
        except jwt.PyJWTError as exc:
            raise HttpFail(400, {"error": "invalid_grant", "error_description": str(exc)}) from None
        scopes = str(claims.get("scope", ""))
        if "androidpublisher" not in scopes and "playdeveloperreporting" not in scopes:
            raise HttpFail(400, {"error": "invalid_scope"})
        token = secrets.token_urlsafe(24)
        self.tokens.add(token)
        return 200, {"access_token": token, "expires_in": 3600, "token_type": "Bearer"}  # nosec B105 -- a token type

    def _authorized(self, req: Request) -> None:
        scheme, _, token = req.headers.get("authorization", "").partition(" ")
        if scheme != "Bearer" or token not in self.tokens:
            raise _error(
                401, "Request is missing required authentication credential.", "UNAUTHENTICATED"
            )

    def _app(self, req: Request) -> str:
        self._authorized(req)
        pkg = req.params["pkg"]
        if pkg not in self.tracks:
            raise _error(404, f"Package not found: {pkg}.", "NOT_FOUND")
        return pkg

    def _edit(self, req: Request) -> dict[str, Any]:
        pkg = self._app(req)
        edit = self.edits.get(req.params["edit"])
        if edit is None or edit["pkg"] != pkg:
            raise _error(404, f"Edit {req.params['edit']} not found or expired.", "NOT_FOUND")
        return edit

    # -- edits -------------------------------------------------------------------------------

    def _insert(self, req: Request) -> tuple[int, Any]:
        pkg = self._app(req)
        edit_id = secrets.token_hex(8)
        self.edits[edit_id] = {"pkg": pkg, "tracks": copy.deepcopy(self.tracks[pkg])}
        return 200, {"id": edit_id, "expiryTimeSeconds": "3600"}

    def _get_edit(self, req: Request) -> tuple[int, Any]:
        self._edit(req)
        return 200, {"id": req.params["edit"], "expiryTimeSeconds": "3600"}

    def _delete_edit(self, req: Request) -> tuple[int, Any]:
        self._edit(req)
        del self.edits[req.params["edit"]]
        return 204, None

    def _commit(self, req: Request) -> tuple[int, Any]:
        edit = self._edit(req)
        self.tracks[edit["pkg"]] = edit["tracks"]
        del self.edits[req.params["edit"]]
        self.commits += 1
        return 200, {"id": req.params["edit"]}

    def _list_tracks(self, req: Request) -> tuple[int, Any]:
        edit = self._edit(req)
        return 200, {
            "kind": "androidpublisher#tracksListResponse",
            "tracks": list(edit["tracks"].values()),
        }

    def _get_track(self, req: Request) -> tuple[int, Any]:
        edit = self._edit(req)
        track = edit["tracks"].get(req.params["track"])
        if track is None:
            raise _error(404, f"Track {req.params['track']} not found.", "NOT_FOUND")
        return 200, track

    def _update_track(self, req: Request) -> tuple[int, Any]:
        edit = self._edit(req)
        name = req.params["track"]
        if name not in edit["tracks"]:
            raise _error(404, f"Track {name} not found.", "NOT_FOUND")
        body = req.json()
        releases = body.get("releases")
        if not isinstance(releases, list):
            raise _error(400, "Track.releases must be a list.", "INVALID_ARGUMENT")
        for release in releases:
            self._check_release(edit["pkg"], release)
        staged = [r for r in releases if r.get("status") in ("inProgress", "halted")]
        if len(staged) > 1:
            raise _error(
                400, "Only one release may be in progress or halted per track.", "INVALID_ARGUMENT"
            )
        edit["tracks"][name] = {"track": name, "releases": releases}
        return 200, edit["tracks"][name]

    def _check_release(self, pkg: str, release: dict[str, Any]) -> None:
        status = release.get("status")
        if status not in STATUSES:
            raise _error(400, f"Invalid release status: {status!r}.", "INVALID_ARGUMENT")
        for code in release.get("versionCodes", []):
            if not str(code).isdigit() or int(code) not in self.uploads[pkg]:
                raise _error(400, f"Version code {code} has not been uploaded.", "INVALID_ARGUMENT")
        fraction = release.get("userFraction")
        if fraction is not None and (
            status not in ("inProgress", "halted") or not 0 < fraction < 1
        ):
            raise _error(
                400,
                "userFraction must be in (0, 1) and only set for inProgress or halted releases.",
                "INVALID_ARGUMENT",
            )
        if status in ("inProgress", "halted") and fraction is None:
            raise _error(400, f"A {status} release needs a userFraction.", "INVALID_ARGUMENT")

    # -- vitals (Play Developer Reporting API) -----------------------------------------------

    def _add_vitals(self, req: Request) -> tuple[int, Any]:
        body = req.json()
        self.vitals.setdefault(body["app"], []).append(body)
        return 204, None

    def _crash(self, req: Request) -> tuple[int, Any]:
        pkg = self._app(req)
        body = req.json()
        spec = body.get("timelineSpec") or {}
        if spec.get("aggregationPeriod") not in ("HOURLY", "DAILY"):
            raise _error(
                400, "timelineSpec.aggregationPeriod must be HOURLY or DAILY.", "INVALID_ARGUMENT"
            )
        start, end = _instant(spec.get("startTime")), _instant(spec.get("endTime"))
        rows = []
        for v in self.vitals.get(pkg, []):
            at = datetime.fromisoformat(v["startTime"])
            if (start is None or at >= start) and (end is None or at < end):
                rows.append(_row(v, body.get("metrics") or ["crashRate"]))
        return 200, {"rows": rows}


def _instant(spec: Any) -> datetime | None:
    """A Reporting API `DateTime` ({year, month, day, hours, timeZone{id}}) as UTC."""
    if not spec:
        return None
    return datetime(spec["year"], spec["month"], spec["day"], spec.get("hours", 0), tzinfo=UTC)


def _row(v: dict[str, Any], metrics: list[str]) -> dict[str, Any]:
    at = datetime.fromisoformat(v["startTime"])
    values = {
        "crashRate": v["crashRate"],
        "userPerceivedCrashRate": v["crashRate"],
        "distinctUsers": v["distinctUsers"],
    }
    return {
        "aggregationPeriod": "HOURLY",
        "startTime": {
            "year": at.year,
            "month": at.month,
            "day": at.day,
            "hours": at.hour,
            "timeZone": {"id": "UTC"},
        },
        "dimensions": [{"dimension": "versionCode", "stringValue": str(v["versionCode"])}],
        "metrics": [
            {"metric": m, "decimalValue": {"value": str(values[m])}} for m in metrics if m in values
        ],
    }
