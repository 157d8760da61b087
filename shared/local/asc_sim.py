"""A loopback App Store Connect API: the subset the control plane uses, at its real paths.

Every `/v1` request needs `Authorization: Bearer <JWT>` signed ES256 with the configured key
(header `kid`), `iss` = the issuer, `aud` = `appstoreconnect-v1`, an `exp` in the future and at
most 20 minutes after `iat`; an unsigned, expired, wrongly addressed or foreign-key token is a
401 in the API's error shape (`{"errors": [{status, code, title, detail}]}`).

Builds (`GET /v1/builds?filter[app]&filter[version]`, `GET /v1/builds/{id}/appStoreVersion`),
TestFlight (`POST /v1/betaGroups/{id}/relationships/builds`, `GET /v1/betaGroups?filter[…]`),
versions (`POST /v1/appStoreVersions`, `GET /v1/appStoreVersions/{id}`), review
(`POST /v1/appStoreVersionSubmissions`), release (`POST /v1/appStoreVersionReleaseRequests`) and
phased releases (`POST /v1/appStoreVersionPhasedReleases`, `PATCH …/{id}`,
`GET /v1/appStoreVersions/{id}/appStoreVersionPhasedRelease`). A phased release moves along
on the simulator's own clock as Apple's does (`shared.local.phased_release`): day 1 → 7, one day
per `day_s` seconds (real days unless started shorter), pauses keep the day. App Review is
played by `POST /_sim/review` (`{"build": N, "state": "PENDING_DEVELOPER_RELEASE"}`);
`GET /_sim/state` shows everything; `POST /_sim/faults` injects failures.
"""

from __future__ import annotations

import copy
import itertools
import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import jwt

from shared.local import phased_release as phases
from shared.local.http_sim import HttpFail, Request, Simulator

AUDIENCE = "appstoreconnect-v1"
MAX_LIFETIME_S = 20 * 60
RELEASABLE = "PENDING_DEVELOPER_RELEASE"


def _error(status: int, code: str, title: str, detail: str) -> HttpFail:
    return HttpFail(
        status,
        {"errors": [{"status": str(status), "code": code, "title": title, "detail": detail}]},
    )


def _missing(kind: str, ident: str) -> HttpFail:
    detail = f"There is no resource of type '{kind}' with id '{ident}'"
    return _error(404, "NOT_FOUND", "The specified resource does not exist", detail)


def _conflict(detail: str) -> HttpFail:
    return _error(
        409, "STATE_ERROR", "The request cannot be fulfilled in the current state.", detail
    )


class AppStoreConnectSimulator(Simulator):
    name = "app-store-connect"

    def __init__(
        self,
        *,
        issuer_id: str,
        key_id: str,
        public_key_pem: str,
        app_id: str,
        builds: list[int],
        groups: list[str],
        host: str = "127.0.0.1",
        port: int = 0,
        day_s: float = phases.DAY_S,
        clock: Callable[[], float] = time.time,
    ) -> None:
        super().__init__(host, port)
        if day_s <= 0:
            raise ValueError(f"a phased release day must last some time, not {day_s} s")
        self.day_s, self.clock = day_s, clock
        self.issuer_id, self.key_id, self.public_key, self.app_id = (
            issuer_id,
            key_id,
            public_key_pem,
            app_id,
        )
        self._ids = itertools.count(1)
        self.builds: dict[str, dict[str, Any]] = {}
        for number in builds:
            self._add_build(number)
        self.groups: dict[str, set[str]] = {g: set() for g in groups}
        self.versions: dict[str, dict[str, Any]] = {}
        # phased release id -> its version's id and its phase
        self.phased: dict[str, tuple[str, phases.Phase]] = {}
        r = self.route
        r("GET", "/v1/builds", self._find_builds)
        r("GET", "/v1/builds/(?P<id>[^/]+)/appStoreVersion", self._build_version)
        r("POST", "/v1/betaGroups/(?P<id>[^/]+)/relationships/builds", self._add_to_group)
        r("GET", "/v1/betaGroups", self._find_groups)
        r("POST", "/v1/appStoreVersions", self._create_version)
        r("GET", "/v1/appStoreVersions/(?P<id>[^/]+)", self._get_version)
        r("GET", "/v1/appStoreVersions/(?P<id>[^/]+)/appStoreVersionPhasedRelease", self._phase_of)
        r("POST", "/v1/appStoreVersionSubmissions", self._submit)
        r("POST", "/v1/appStoreVersionReleaseRequests", self._release)
        r("POST", "/v1/appStoreVersionPhasedReleases", self._create_phased)
        r("PATCH", "/v1/appStoreVersionPhasedReleases/(?P<id>[^/]+)", self._patch_phased)
        r("POST", "/_sim/review", self._review)
        r("POST", "/_sim/builds", self._new_build)

    def _add_build(self, number: int) -> dict[str, Any]:
        bid = f"build-{number}"
        self.builds[bid] = {"id": bid, "version": str(number), "version_id": None}
        return self.builds[bid]

    def state(self) -> dict[str, Any]:
        return {
            "builds": copy.deepcopy(self.builds),
            "betaGroups": {g: sorted(b) for g, b in self.groups.items()},
            "appStoreVersions": copy.deepcopy(self.versions),
            "phasedReleases": {
                pid: {"version": vid, **self._phased_doc(pid)["attributes"]}
                for pid, (vid, _) in self.phased.items()
            },
            "daySeconds": self.day_s,
        }

    def not_found(self, line: str) -> dict[str, Any]:
        detail = f"The path {line} could not be found."
        return _error(404, "NOT_FOUND", "The specified resource does not exist", detail).body

    # -- auth --------------------------------------------------------------------------------

    def _authorized(self, req: Request) -> None:
        scheme, _, token = req.headers.get("authorization", "").partition(" ")
        try:
            if scheme != "Bearer" or not token:
                raise jwt.InvalidTokenError("no bearer token")
            header = jwt.get_unverified_header(token)
            if header.get("alg") != "ES256" or header.get("kid") != self.key_id:
                raise jwt.InvalidTokenError("alg must be ES256 and kid the API key's id")
            claims = jwt.decode(
                token,
                self.public_key,
                algorithms=["ES256"],
                audience=AUDIENCE,
                issuer=self.issuer_id,
                options={"require": ["exp", "iat", "iss", "aud"]},
            )
            if claims["exp"] - claims["iat"] > MAX_LIFETIME_S:
                raise jwt.InvalidTokenError("a token may live 20 minutes at most")
        except jwt.PyJWTError as exc:
            raise _error(
                401,
                "NOT_AUTHORIZED",
                "Authentication credentials are missing or invalid.",
                str(exc),
            ) from None

    def _build(self, req: Request, build_id: str) -> dict[str, Any]:
        self._authorized(req)
        build = self.builds.get(build_id)
        if build is None:
            raise _missing("builds", build_id)
        return build

    # -- builds and TestFlight ---------------------------------------------------------------

    def _find_builds(self, req: Request) -> tuple[int, Any]:
        self._authorized(req)
        app, version = req.query.get("filter[app]"), req.query.get("filter[version]")
        found = [
            b
            for b in self.builds.values()
            if (app is None or app == self.app_id) and (version is None or b["version"] == version)
        ]
        return 200, {"data": [_build_doc(b) for b in found], "links": {"self": req.path}}

    def _build_version(self, req: Request) -> tuple[int, Any]:
        build = self._build(req, req.params["id"])
        vid = build["version_id"]
        return 200, {"data": self._version_doc(vid) if vid else None}

    def _add_to_group(self, req: Request) -> tuple[int, Any]:
        self._authorized(req)
        group = self.groups.get(req.params["id"])
        if group is None:
            raise _missing("betaGroups", req.params["id"])
        for item in req.json().get("data", []):
            self._build(req, item.get("id", ""))
            group.add(item["id"])
        return 204, None

    def _find_groups(self, req: Request) -> tuple[int, Any]:
        self._authorized(req)
        wanted = req.query.get("filter[builds]")
        data = [
            {"type": "betaGroups", "id": g, "attributes": {"name": g, "isInternalGroup": True}}
            for g, builds in self.groups.items()
            if wanted is None or wanted in builds
        ]
        return 200, {"data": data}

    # -- versions, review, release -----------------------------------------------------------

    def _version_doc(self, vid: str) -> dict[str, Any]:
        v = self.versions[vid]
        return {
            "type": "appStoreVersions",
            "id": vid,
            "attributes": {
                "platform": "IOS",
                "versionString": v["versionString"],
                "appStoreState": v["state"],
            },
        }

    def _version(self, req: Request, body: dict[str, Any], rel: str = "appStoreVersion") -> str:
        try:
            vid = body["data"]["relationships"][rel]["data"]["id"]
        except (KeyError, TypeError):
            raise _error(
                400,
                "PARAMETER_ERROR.INVALID",
                "A parameter has an invalid value",
                f"relationships.{rel} is required",
            ) from None
        if vid not in self.versions:
            raise _missing("appStoreVersions", str(vid))
        return str(vid)

    def _create_version(self, req: Request) -> tuple[int, Any]:
        self._authorized(req)
        data = req.json().get("data") or {}
        try:
            build_id = data["relationships"]["build"]["data"]["id"]
            version_string = data["attributes"]["versionString"]
        except (KeyError, TypeError):
            raise _error(
                400,
                "ENTITY_ERROR.ATTRIBUTE.REQUIRED",
                "An attribute is required",
                "versionString and relationships.build are required",
            ) from None
        build = self._build(req, build_id)
        if build["version_id"]:
            raise _conflict(f"build {build['version']} is already attached to a version")
        vid = f"version-{next(self._ids)}"
        self.versions[vid] = {
            "versionString": version_string,
            "state": "PREPARE_FOR_SUBMISSION",
            "build": build_id,
        }
        build["version_id"] = vid
        return 201, {"data": self._version_doc(vid)}

    def _get_version(self, req: Request) -> tuple[int, Any]:
        self._authorized(req)
        if req.params["id"] not in self.versions:
            raise _error(404, "NOT_FOUND", "The specified resource does not exist", req.path)
        return 200, {"data": self._version_doc(req.params["id"])}

    def _submit(self, req: Request) -> tuple[int, Any]:
        self._authorized(req)
        vid = self._version(req, req.json())
        version = self.versions[vid]
        if version["state"] != "PREPARE_FOR_SUBMISSION":
            raise _conflict(f"the version is {version['state']}, not ready for submission")
        version["state"] = "WAITING_FOR_REVIEW"
        sid = f"submission-{next(self._ids)}"
        return 201, {"data": {"type": "appStoreVersionSubmissions", "id": sid}}

    def _release(self, req: Request) -> tuple[int, Any]:
        self._authorized(req)
        vid = self._version(req, req.json())
        version = self.versions[vid]
        if version["state"] != RELEASABLE:
            raise _conflict(f"the version is {version['state']}; App Review has not approved it")
        version["state"] = "READY_FOR_SALE"
        for pid, (of, phase) in self.phased.items():
            if of == vid:  # on sale: an ACTIVE phased release starts its day 1
                self.phased[pid] = (of, phases.start(phase, self.clock()))
        rid = f"release-request-{next(self._ids)}"
        return 201, {"data": {"type": "appStoreVersionReleaseRequests", "id": rid}}

    # -- phased releases ---------------------------------------------------------------------

    def _phased_doc(self, pid: str) -> dict[str, Any]:
        now = self.clock()
        _, phase = self.phased[pid]
        phase = phases.at(phase, now, self.day_s)
        started = phase.started
        attributes = {
            "phasedReleaseState": phase.state,
            "currentDayNumber": phases.day(phase, now, self.day_s) or None,
            "startDate": datetime.fromtimestamp(started, UTC).isoformat() if started else None,
            "totalPauseDuration": phases.pause_days(phase, now, self.day_s),
        }
        return {"type": "appStoreVersionPhasedReleases", "id": pid, "attributes": attributes}

    def _phase_of(self, req: Request) -> tuple[int, Any]:
        self._authorized(req)
        found = [pid for pid, (vid, _) in self.phased.items() if vid == req.params["id"]]
        return 200, {"data": self._phased_doc(found[0]) if found else None}

    def _create_phased(self, req: Request) -> tuple[int, Any]:
        self._authorized(req)
        body = req.json()
        vid = self._version(req, body)
        if any(of == vid for of, _ in self.phased.values()):
            raise _conflict("the version already has a phased release")
        if self.versions[vid]["state"] != RELEASABLE:
            state = self.versions[vid]["state"]
            raise _conflict(f"the version is {state}; App Review has not approved it")
        state = (body["data"].get("attributes") or {}).get("phasedReleaseState", phases.INACTIVE)
        if state not in (phases.INACTIVE, phases.ACTIVE):
            raise _error(
                409,
                "ENTITY_ERROR.ATTRIBUTE.INVALID",
                "An attribute value is invalid",
                f"a new phased release is INACTIVE or ACTIVE, not {state!r}",
            )
        pid = f"phased-{next(self._ids)}"
        self.phased[pid] = (vid, phases.Phase(state=state))
        return 201, {"data": self._phased_doc(pid)}

    def _patch_phased(self, req: Request) -> tuple[int, Any]:
        self._authorized(req)
        pid = req.params["id"]
        if pid not in self.phased:
            raise _error(404, "NOT_FOUND", "The specified resource does not exist", req.path)
        wanted = ((req.json().get("data") or {}).get("attributes") or {}).get("phasedReleaseState")
        if wanted not in (phases.ACTIVE, phases.PAUSED, phases.COMPLETE):
            raise _error(
                409,
                "ENTITY_ERROR.ATTRIBUTE.INVALID",
                "An attribute value is invalid",
                f"phasedReleaseState {wanted!r} is not ACTIVE, PAUSED or COMPLETE",
            )
        vid, phase = self.phased[pid]
        now = self.clock()
        try:
            phase = phases.change(phase, wanted, now, self.day_s)
        except phases.PhaseRefused as exc:
            raise _conflict(str(exc)) from None
        if self.versions[vid]["state"] == "READY_FOR_SALE":
            phase = phases.start(phase, now)  # made ACTIVE while on sale: day 1 begins now
        self.phased[pid] = (vid, phase)
        return 200, {"data": self._phased_doc(pid)}

    # -- App Review, played by tests and the demo --------------------------------------------

    def _review(self, req: Request) -> tuple[int, Any]:
        body = req.json()
        build = self.builds.get(f"build-{body['build']}")
        if build is None or not build["version_id"]:
            raise _error(404, "NOT_FOUND", "no version for that build", str(body))
        self.versions[build["version_id"]]["state"] = body.get("state", RELEASABLE)
        return 204, None

    def _new_build(self, req: Request) -> tuple[int, Any]:
        return 201, _build_doc(self._add_build(int(req.json()["version"])))


def _build_doc(b: dict[str, Any]) -> dict[str, Any]:
    return {
        "type": "builds",
        "id": b["id"],
        "attributes": {"version": b["version"], "processingState": "VALID"},
    }
