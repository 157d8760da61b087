"""App Store Connect through httpx with ES256 JWTs (PyJWT): the `AppStore` port for one app.

Each request carries a token signed with the API key (`.p8`, from Secret Manager): header
`kid` = key id, `iss` = issuer id, `aud` = `appstoreconnect-v1`, expiry 15 minutes (Apple
allows 20), reused until a minute before it ends. 4xx → `StoreRejected` with the API's own
`errors[].title/detail`; 5xx, 429 and timeouts are retried (tenacity), then `StoreUnavailable`.
"""

from __future__ import annotations

import time
from typing import Any

import httpx
import jwt
from tenacity import (
    RetryError,
    Retrying,
    retry_if_exception,
    stop_after_attempt,
    wait_random_exponential,
)

from shared.mobile.model import StoreView, phased_fraction
from shared.mobile.ports import StoreRejected, StoreUnavailable

AUDIENCE = "appstoreconnect-v1"
LIFETIME_S = 15 * 60
ATTEMPTS = 4
STORE = "App Store Connect"
# Version states from which submitting again changes nothing (already with or past review).
_SUBMITTED = {
    "WAITING_FOR_REVIEW",
    "IN_REVIEW",
    "PENDING_DEVELOPER_RELEASE",
    "PENDING_APPLE_RELEASE",
    "READY_FOR_SALE",
    "PROCESSING_FOR_APP_STORE",
}


class _Transient(Exception):
    def __init__(self, why: str) -> None:
        super().__init__(why)
        self.why = why


class AppStoreConnectApi:
    def __init__(
        self,
        *,
        base_url: str,
        app_id: str,
        issuer_id: str,
        key_id: str,
        private_key_pem: str,
        timeout_s: float = 20.0,
        clock: Any = time.time,
    ) -> None:
        self.app_id, self.issuer_id, self.key_id = app_id, issuer_id, key_id
        self._key, self._clock = private_key_pem, clock
        self._token: tuple[str, float] | None = None
        self.http = httpx.Client(base_url=base_url, timeout=timeout_s)

    # -- transport ---------------------------------------------------------------------------

    def token(self) -> str:
        now = self._clock()
        if self._token is None or self._token[1] - 60 < now:
            claims = {
                "iss": self.issuer_id,
                "iat": int(now),
                "exp": int(now) + LIFETIME_S,
                "aud": AUDIENCE,
            }
            signed = jwt.encode(claims, self._key, algorithm="ES256", headers={"kid": self.key_id})
            self._token = (signed, now + LIFETIME_S)
        return self._token[0]

    def request(self, method: str, path: str, **kwargs: Any) -> Any:
        retrying = Retrying(
            retry=retry_if_exception(lambda e: isinstance(e, _Transient)),
            stop=stop_after_attempt(ATTEMPTS),
            wait=wait_random_exponential(multiplier=0.2, max=2),
        )
        try:
            return retrying(lambda: self._once(method, path, **kwargs))
        except RetryError as exc:
            last = exc.last_attempt.exception()
            why = last.why if isinstance(last, _Transient) else repr(last)
            raise StoreUnavailable(
                f"{STORE} unavailable after {ATTEMPTS} attempts: {why}"
            ) from None

    def _once(self, method: str, path: str, **kwargs: Any) -> Any:
        headers = {"Authorization": f"Bearer {self.token()}"}
        try:
            resp = self.http.request(method, path, headers=headers, **kwargs)
        except httpx.TransportError as exc:  # timeouts, refused and reset connections
            raise _Transient(f"{method} {path}: {type(exc).__name__}") from None
        if resp.status_code >= 500 or resp.status_code == 429:
            raise _Transient(f"{method} {path} answered {resp.status_code}")
        if resp.status_code >= 400:
            raise StoreRejected(f"{STORE} answered {resp.status_code}: {_message(resp)}")
        return resp.json() if resp.content else None

    # -- look-ups ----------------------------------------------------------------------------

    def build_id(self, build: int) -> str:
        params = {"filter[app]": self.app_id, "filter[version]": str(build), "limit": "1"}
        found = self.request("GET", "/v1/builds", params=params)["data"]
        if not found:
            raise StoreRejected(f"{STORE} has no build {build} of app {self.app_id}")
        return str(found[0]["id"])

    def version_of(self, build_id: str) -> dict[str, Any] | None:
        data: dict[str, Any] | None = self.request("GET", f"/v1/builds/{build_id}/appStoreVersion")[
            "data"
        ]
        return data

    def phased_of(self, version_id: str) -> dict[str, Any] | None:
        path = f"/v1/appStoreVersions/{version_id}/appStoreVersionPhasedRelease"
        data: dict[str, Any] | None = self.request("GET", path)["data"]
        return data

    def _released_version(self, build: int) -> tuple[str, dict[str, Any]]:
        version = self.version_of(self.build_id(build))
        if version is None:
            raise StoreRejected(
                f"{STORE}: build {build} was never submitted (no App Store version)"
            )
        return str(version["id"]), version

    # -- the port ----------------------------------------------------------------------------

    def add_to_group(self, build: int, group: str) -> StoreView:
        bid = self.build_id(build)
        body = {"data": [{"type": "builds", "id": bid}]}
        self.request("POST", f"/v1/betaGroups/{group}/relationships/builds", json=body)
        return StoreView(
            track="testflight", status="TESTFLIGHT", ids={"build": bid}, detail={"groups": [group]}
        )

    def submit(self, build: int, version: str) -> StoreView:
        bid = self.build_id(build)
        current = self.version_of(bid) or self._create_version(bid, version)
        vid, state = str(current["id"]), current["attributes"]["appStoreState"]
        if state not in _SUBMITTED:
            body = {
                "data": {
                    "type": "appStoreVersionSubmissions",
                    "relationships": {"appStoreVersion": _ref("appStoreVersions", vid)},
                }
            }
            self.request("POST", "/v1/appStoreVersionSubmissions", json=body)
            state = "WAITING_FOR_REVIEW"
        return StoreView(track="review", status=state, ids={"build": bid, "version": vid})

    def _create_version(self, bid: str, version: str) -> dict[str, Any]:
        # App Store versions are "major.minor.patch": a semver pre-release/build suffix is not
        short = version.split("-")[0].split("+")[0]
        body = {
            "data": {
                "type": "appStoreVersions",
                "attributes": {"platform": "IOS", "versionString": short},
                "relationships": {"app": _ref("apps", self.app_id), "build": _ref("builds", bid)},
            }
        }
        created: dict[str, Any] = self.request("POST", "/v1/appStoreVersions", json=body)["data"]
        return created

    def release(self, build: int) -> StoreView:
        vid, version = self._released_version(build)
        phased = self.phased_of(vid)
        if phased is None:
            body = {
                "data": {
                    "type": "appStoreVersionPhasedReleases",
                    "attributes": {"phasedReleaseState": "ACTIVE"},
                    "relationships": {"appStoreVersion": _ref("appStoreVersions", vid)},
                }
            }
            phased = self.request("POST", "/v1/appStoreVersionPhasedReleases", json=body)["data"]
        if version["attributes"]["appStoreState"] != "READY_FOR_SALE":
            body = {
                "data": {
                    "type": "appStoreVersionReleaseRequests",
                    "relationships": {"appStoreVersion": _ref("appStoreVersions", vid)},
                }
            }
            self.request("POST", "/v1/appStoreVersionReleaseRequests", json=body)
            phased = self.phased_of(vid) or phased
        return _phased_view(vid, phased)

    def phased_release(self, version_id: str) -> StoreView | None:
        """The version's phased release now (its day moves on without us): one request."""
        phased = self.phased_of(version_id)
        return _phased_view(version_id, phased) if phased else None

    def set_phase(self, build: int, state: str) -> StoreView:
        vid, _ = self._released_version(build)
        phased = self.phased_of(vid)
        if phased is None:
            raise StoreRejected(f"{STORE}: build {build}'s version has no phased release")
        body = {
            "data": {
                "type": "appStoreVersionPhasedReleases",
                "id": phased["id"],
                "attributes": {"phasedReleaseState": state},
            }
        }
        path = f"/v1/appStoreVersionPhasedReleases/{phased['id']}"
        return _phased_view(vid, self.request("PATCH", path, json=body)["data"])

    def status(self, build: int) -> StoreView:
        bid = self.build_id(build)
        params = {"filter[app]": self.app_id, "filter[builds]": bid}
        groups = [g["id"] for g in self.request("GET", "/v1/betaGroups", params=params)["data"]]
        version = self.version_of(bid)
        if version is None:
            return StoreView(
                track="testflight" if groups else None,
                ids={"build": bid},
                detail={"groups": groups},
            )
        vid = str(version["id"])
        phased = self.phased_of(vid)
        view = (
            _phased_view(vid, phased) if phased else StoreView(track="review", ids={"version": vid})
        )
        detail = {"groups": groups, "appStoreState": version["attributes"]["appStoreState"]}
        return view.model_copy(update={"detail": {**view.detail, **detail}})


def _ref(kind: str, ident: str) -> dict[str, Any]:
    return {"data": {"type": kind, "id": ident}}


def _phased_view(vid: str, phased: dict[str, Any]) -> StoreView:
    attributes = phased["attributes"]
    state, day = attributes["phasedReleaseState"], attributes.get("currentDayNumber")
    return StoreView(
        track="appstore",
        status=state,
        day=day,
        fraction=phased_fraction(state, day),
        ids={"version": vid, "phasedRelease": str(phased["id"])},
        detail={"totalPauseDuration": attributes.get("totalPauseDuration")},
    )


def _message(resp: httpx.Response) -> str:
    """The API's own words: `errors[].title` and `detail`."""
    try:
        errors = resp.json()["errors"]
        return "; ".join(f"{e.get('title', '')}: {e.get('detail', '')}".strip(": ") for e in errors)
    except (ValueError, KeyError, TypeError):
        return resp.text[:300] or resp.reason_phrase
