"""The Remote Config REST adapter (`firebaseremoteconfig.googleapis.com/v1`), over httpx.

The same class talks to Google (an OAuth token from google-auth) and to the local simulator
(`shared.local.remote_config_sim`, a `local:<email>` token): only `base_url` differs. The Admin
SDK for Python has no template publishing, so this is the REST API itself:

- `GET  v1/projects/{p}/namespaces/{ns}/remoteConfig[?versionNumber=N]` → template + `ETag`
- `PUT  …/remoteConfig[?validateOnly=true]` with `If-Match` → the new template + `ETag`
- `GET  …/remoteConfig:listVersions?pageSize=N`, `POST …/remoteConfig:rollback {versionNumber}`

429 and 5xx are retried with exponential backoff; 412 is `EtagMismatch`, 400 `TemplateRejected`.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import httpx
from tenacity import Retrying, retry_if_exception_type, stop_after_attempt, wait_exponential

from shared.flags.versions import (
    EtagMismatch,
    Fetched,
    RemoteConfigUnavailable,
    TemplateRejected,
    Version,
)

GOOGLE = "https://firebaseremoteconfig.googleapis.com"
SCOPE = "https://www.googleapis.com/auth/firebase.remoteconfig"
Token = Callable[[], str]


class _Transient(Exception):
    pass


def google_token() -> Token:
    """Application default credentials (the function's service account on Google Cloud)."""
    import google.auth
    from google.auth.transport.requests import Request

    credentials, _ = google.auth.default(scopes=[SCOPE])

    def token() -> str:
        if not credentials.valid:
            credentials.refresh(Request())  # type: ignore[no-untyped-call]
        return str(credentials.token)

    return token


def local_token(identity: str) -> Token:
    """For the simulator: it records `identity` as the publishing user."""
    return lambda: f"local:{identity}"


class RemoteConfigRest:
    def __init__(
        self,
        base_url: str,
        token: Token,
        client: httpx.Client | None = None,
        attempts: int = 5,
        backoff_s: float = 0.5,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self.token = token
        self.client = client or httpx.Client(timeout=30.0)
        self.attempts, self.backoff_s = attempts, backoff_s

    def _url(self, project: str, namespace: str, verb: str = "") -> str:
        return f"{self.base_url}/v1/projects/{project}/namespaces/{namespace}/remoteConfig{verb}"

    def _send(self, method: str, url: str, **kwargs: Any) -> httpx.Response:
        retrying = Retrying(
            retry=retry_if_exception_type((_Transient, httpx.TransportError)),
            stop=stop_after_attempt(self.attempts),
            wait=wait_exponential(multiplier=self.backoff_s, max=20),
            reraise=True,
        )
        try:
            for attempt in retrying:
                with attempt:
                    return self._once(method, url, **kwargs)
        except (_Transient, httpx.TransportError) as exc:
            raise RemoteConfigUnavailable(f"Remote Config {method} {url}: {exc}") from None
        raise AssertionError("unreachable")

    def _once(self, method: str, url: str, **kwargs: Any) -> httpx.Response:
        headers = {"Authorization": f"Bearer {self.token()}", **kwargs.pop("headers", {})}
        response = self.client.request(method, url, headers=headers, **kwargs)
        if response.status_code == 429 or response.status_code >= 500:
            raise _Transient(f"{response.status_code} {_message(response)}")
        if response.status_code == 412:
            raise EtagMismatch(f"the template changed since it was read: {_message(response)}")
        if response.status_code == 400:
            raise TemplateRejected(f"Remote Config refused the template: {_message(response)}")
        if response.status_code >= 300:
            raise RemoteConfigUnavailable(
                f"{method} {url}: {response.status_code} {_message(response)}"
            )
        return response

    def get(self, project: str, namespace: str, version: int | None = None) -> Fetched:
        params = {"versionNumber": str(version)} if version is not None else {}
        response = self._send("GET", self._url(project, namespace), params=params)
        return _fetched(response)

    def publish(
        self,
        project: str,
        namespace: str,
        template: dict[str, Any],
        etag: str,
        *,
        description: str,
        validate_only: bool = False,
    ) -> Fetched:
        body = {k: v for k, v in template.items() if k not in ("version", "etag")}
        body["version"] = {"description": description}
        response = self._send(
            "PUT",
            self._url(project, namespace),
            params={"validateOnly": "true"} if validate_only else {},
            headers={"If-Match": etag, "Content-Type": "application/json; UTF-8"},
            content=json.dumps(body).encode(),
        )
        return _fetched(response)

    def list_versions(self, project: str, namespace: str, page_size: int = 20) -> list[Version]:
        url = self._url(project, namespace, ":listVersions")
        response = self._send("GET", url, params={"pageSize": str(page_size)})
        return [Version.model_validate(v) for v in response.json().get("versions") or []]

    def rollback(self, project: str, namespace: str, version: int) -> Fetched:
        url = self._url(project, namespace, ":rollback")
        response = self._send("POST", url, json={"versionNumber": str(version)})
        return _fetched(response)


def _fetched(response: httpx.Response) -> Fetched:
    return Fetched(template=response.json(), etag=response.headers.get("etag", "*"))


def _message(response: httpx.Response) -> str:
    try:
        return str(response.json()["error"]["message"])
    except (ValueError, KeyError, TypeError):
        return response.text[:200]
