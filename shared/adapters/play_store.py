"""Google Play through google-api-python-client's `androidpublisher` v3 (`PlayStore` port).

The client is built from the discovery document bundled with the library, so building it needs
no network; only its base URL differs between Google and the local simulator. Credentials are a
service account key (JSON) from Secret Manager, exchanged for an access token at the key's own
`token_uri`. Every change goes through one edit that is committed: nothing is reported done that
Play did not commit. 4xx → `StoreRejected` with Play's message; 5xx, 429, timeouts → retried.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import UTC, datetime
from importlib import resources
from typing import Any, TypeVar

from tenacity import (
    RetryError,
    Retrying,
    retry_if_exception,
    stop_after_attempt,
    wait_random_exponential,
)

from shared.mobile.breach import CrashWindow
from shared.mobile.model import StoreView
from shared.mobile.ports import StoreRejected, StoreUnavailable

T = TypeVar("T")
SCOPE = "https://www.googleapis.com/auth/androidpublisher"
ATTEMPTS = 4
# Play keeps the release users already have (`completed`) next to a staged one.
_STAGED = {"inProgress", "halted"}


def discovery_document(name: str = "androidpublisher.v3.json") -> dict[str, Any]:
    docs = resources.files("googleapiclient") / "discovery_cache" / "documents" / name
    loaded: dict[str, Any] = json.loads(docs.read_text(encoding="utf-8"))
    return loaded


def google_service(
    doc: str, credentials_info: dict[str, Any], base_url: str, timeout_s: float, scope: str
) -> Any:
    """A discovery client on `base_url`, authorized by the service account key."""
    import google_auth_httplib2
    import httplib2
    from google.oauth2 import service_account
    from googleapiclient.discovery import build_from_document

    creds = service_account.Credentials.from_service_account_info(  # type: ignore[no-untyped-call]
        credentials_info, scopes=[scope]
    )
    http = google_auth_httplib2.AuthorizedHttp(creds, http=httplib2.Http(timeout=timeout_s))
    return build_from_document(
        discovery_document(doc), http=http, client_options={"api_endpoint": base_url}
    )


def _transient(exc: BaseException) -> bool:
    from googleapiclient.errors import HttpError

    if isinstance(exc, HttpError):
        status: int = exc.status_code
        return status >= 500 or status == 429
    return isinstance(exc, OSError)  # timeouts, refused or reset connections


def store_message(exc: Any, store: str) -> str:
    """The store's own error message from an `HttpError`'s body."""
    try:
        body = json.loads(exc.content)
        message = body["error"]["message"]
    except (ValueError, KeyError, TypeError):
        message = exc.reason or "no message"
    return f"{store} answered {exc.status_code}: {message}"


def call_google(work: Callable[[], T], store: str) -> T:
    """Run `work` (all its requests) with retries for 5xx, 429 and timeouts."""
    from google.auth.exceptions import RefreshError
    from googleapiclient.errors import HttpError

    retrying = Retrying(
        retry=retry_if_exception(_transient),
        stop=stop_after_attempt(ATTEMPTS),
        wait=wait_random_exponential(multiplier=0.2, max=2),
    )
    try:
        return retrying(work)
    except HttpError as exc:
        raise StoreRejected(store_message(exc, store)) from None
    except RefreshError as exc:  # the key itself was refused: no retry fixes that
        raise StoreRejected(f"{store} refused the service account key: {exc}") from None
    except RetryError as exc:
        last = exc.last_attempt.exception()
        why = store_message(last, store) if isinstance(last, HttpError) else repr(last)
        raise StoreUnavailable(f"{store} unavailable after {ATTEMPTS} attempts: {why}") from None


class PlayDeveloperApi:
    """One Android app (package) on Google Play."""

    def __init__(self, service: Any, package: str) -> None:
        self.edits, self.package = service.edits(), package

    @classmethod
    def connect(
        cls, package: str, credentials_info: dict[str, Any], base_url: str, timeout_s: float
    ) -> PlayDeveloperApi:
        service = google_service(
            "androidpublisher.v3.json", credentials_info, base_url, timeout_s, SCOPE
        )
        return cls(service, package)

    def set_release(
        self, track: str, version_code: int, status: str, fraction: float | None, name: str
    ) -> StoreView:
        return call_google(
            lambda: self._set_release(track, version_code, status, fraction, name), "Google Play"
        )

    def _set_release(
        self, track: str, version_code: int, status: str, fraction: float | None, name: str
    ) -> StoreView:
        edit = self.edits.insert(packageName=self.package, body={}).execute()["id"]
        ids = {"packageName": self.package, "editId": edit}
        current = self.edits.tracks().get(**ids, track=track).execute()
        ours: dict[str, Any] = {"name": name, "versionCodes": [str(version_code)], "status": status}
        if fraction is not None:
            ours["userFraction"] = fraction
        releases = [ours]
        if status in _STAGED:
            releases += [
                r
                for r in current.get("releases", [])
                if r.get("status") == "completed" and r.get("versionCodes") != ours["versionCodes"]
            ]
        body = {"track": track, "releases": releases}
        self.edits.tracks().update(**ids, track=track, body=body).execute()
        self.edits.commit(**ids).execute()
        return StoreView(track=track, status=status, fraction=fraction, ids={"edit": edit})

    def tracks(self) -> dict[str, list[dict[str, object]]]:
        return call_google(self._tracks, "Google Play")

    def _tracks(self) -> dict[str, list[dict[str, object]]]:
        edit = self.edits.insert(packageName=self.package, body={}).execute()["id"]
        ids = {"packageName": self.package, "editId": edit}
        try:
            listed = self.edits.tracks().list(**ids).execute()
        finally:
            self.edits.delete(**ids).execute()  # a read-only edit: never committed
        return {t["track"]: list(t.get("releases", [])) for t in listed.get("tracks", [])}


REPORTING_SCOPE = "https://www.googleapis.com/auth/playdeveloperreporting"


class PlayVitals:
    """Play Developer Reporting API v1beta1: `vitals.crashrate` `query`, HOURLY, by
    `versionCode` (the `VitalsSource` port). crashRate is the share of distinct users with at
    least one crash; distinctUsers the denominator."""

    def __init__(self, service: Any, package: str) -> None:
        self.crashrate, self.package = service.vitals().crashrate(), package

    @classmethod
    def connect(
        cls, package: str, credentials_info: dict[str, Any], base_url: str, timeout_s: float
    ) -> PlayVitals:
        doc = "playdeveloperreporting.v1beta1.json"
        return cls(
            google_service(doc, credentials_info, base_url, timeout_s, REPORTING_SCOPE), package
        )

    def crash_windows(self, version_code: int, start: datetime, end: datetime) -> list[CrashWindow]:
        body = {
            "timelineSpec": {
                "aggregationPeriod": "HOURLY",
                "startTime": _datetime(start),
                "endTime": _datetime(end),
            },
            "dimensions": ["versionCode"],
            "metrics": ["crashRate", "distinctUsers"],
            "filter": f"versionCode = {version_code}",
        }
        name = f"apps/{self.package}/crashRateMetricSet"
        rows = call_google(
            lambda: self.crashrate.query(name=name, body=body).execute().get("rows", []),
            "Play Developer Reporting",
        )
        return [w for w in (_window(r, version_code) for r in rows) if w is not None]


def _datetime(at: datetime) -> dict[str, Any]:
    """A Reporting API `DateTime` (hourly data: whole hours, UTC)."""
    return {
        "year": at.year,
        "month": at.month,
        "day": at.day,
        "hours": at.hour,
        "timeZone": {"id": "UTC"},
    }


def _window(row: dict[str, Any], version_code: int) -> CrashWindow | None:
    dims = {d.get("dimension"): d.get("stringValue") for d in row.get("dimensions", [])}
    if dims.get("versionCode") != str(version_code):
        return None
    values = {
        m["metric"]: float(m["decimalValue"]["value"])
        for m in row.get("metrics", [])
        if "decimalValue" in m
    }
    if "crashRate" not in values or "distinctUsers" not in values:
        return None
    t = row["startTime"]
    start = datetime(t["year"], t["month"], t["day"], t.get("hours", 0), tzinfo=UTC)
    users = int(values["distinctUsers"])
    crashed = round(values["crashRate"] * users)
    # users stand in for sessions: `min_sessions` then asks for that many users in the hour
    return CrashWindow(start, users, crashed, users, crashed)
