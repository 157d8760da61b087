"""Authenticated REST calls to Google APIs, and the one retry policy for every Google call.

Firebase Hosting, Firebase Rules and the Firestore index API have no Python client worth its
import time in a function, so they are called over REST with google-auth's `AuthorizedSession`
(a `requests.Session` that adds and refreshes the OAuth token). Responses we rely on are parsed
with pydantic; anything else about them is ignored.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Protocol, TypeVar, cast

from pydantic import BaseModel, ConfigDict, ValidationError
from pydantic.alias_generators import to_camel
from tenacity import Retrying, retry_if_exception, stop_after_attempt, wait_exponential_jitter
from tenacity.wait import wait_base

from shared.errors import ControlPlaneError

CLOUD_PLATFORM_SCOPE = "https://www.googleapis.com/auth/cloud-platform"
REQUEST_TIMEOUT_S = 60.0
# Statuses Google's APIs document as "retry with backoff": throttling and server-side failures.
# Everything else (400, 403, 404, 409, ...) will answer the same way the next time.
TRANSIENT_STATUSES = frozenset({408, 429, 500, 502, 503, 504})

M = TypeVar("M", bound=BaseModel)
T = TypeVar("T")


class HttpResponse(Protocol):
    @property
    def status_code(self) -> int: ...
    @property
    def text(self) -> str: ...
    def json(self) -> Any: ...


class HttpSession(Protocol):
    """What we use of `requests.Session` (and so of `AuthorizedSession`)."""

    def request(self, method: str, url: str, **kwargs: Any) -> HttpResponse: ...


class GoogleApiError(ControlPlaneError):
    """A Google REST API answered with an error status."""

    def __init__(self, method: str, url: str, status: int, body: str) -> None:
        super().__init__(f"{method} {url} answered {status}: {body[:300]}")
        self.method, self.url, self.status, self.body = method, url, status, body


class UnexpectedResponse(ControlPlaneError):
    """A Google API answered 2xx with a body that is not what its reference describes."""


class ApiModel(BaseModel):
    """A response resource: camelCase on the wire, unknown fields ignored."""

    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True, extra="ignore")


def authorized_session() -> HttpSession:
    """A session with Application Default Credentials (the function's service account)."""
    import google.auth
    from google.auth.transport.requests import AuthorizedSession

    credentials, _ = google.auth.default(scopes=[CLOUD_PLATFORM_SCOPE])
    session = AuthorizedSession(credentials)  # type: ignore[no-untyped-call]  # untyped upstream
    return cast(HttpSession, session)


def call(
    session: HttpSession,
    method: str,
    url: str,
    *,
    params: dict[str, str] | None = None,
    body: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """One request; an error status becomes `GoogleApiError`, an empty body `{}`."""
    response = session.request(method, url, params=params, json=body, timeout=REQUEST_TIMEOUT_S)
    if response.status_code >= 400:
        raise GoogleApiError(method, url, response.status_code, response.text)
    if not response.text:
        return {}
    data = response.json()
    if not isinstance(data, dict):
        raise UnexpectedResponse(f"{method} {url}: expected a JSON object, found {data!r:.200}")
    return data


def parse(model: type[M], data: dict[str, Any], where: str) -> M:
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        raise UnexpectedResponse(f"{where}: expected a {model.__name__}, found {exc}") from None


def _transient_grpc(exc: BaseException) -> bool:
    # google-api-core maps gRPC codes onto these (UNAVAILABLE -> ServiceUnavailable,
    # RESOURCE_EXHAUSTED -> TooManyRequests, DEADLINE_EXCEEDED -> GatewayTimeout, ...).
    # ABORTED is a concurrency conflict (e.g. a stale etag): a retry reads the service again.
    from google.api_core import exceptions as gexc

    transient = (
        gexc.TooManyRequests,
        gexc.InternalServerError,
        gexc.BadGateway,
        gexc.ServiceUnavailable,
        gexc.GatewayTimeout,
        gexc.Aborted,
    )
    return isinstance(exc, transient)


def is_transient(exc: BaseException) -> bool:
    """True for 429/5xx answers, dropped connections and transient gRPC errors; never for
    permission, not-found or validation errors."""
    import requests

    if isinstance(exc, GoogleApiError):
        return exc.status in TRANSIENT_STATUSES
    if isinstance(exc, requests.ConnectionError | requests.Timeout):
        return True
    return _transient_grpc(exc)


def default_wait() -> wait_base:
    return wait_exponential_jitter(initial=1, max=20)


def retried(work: Callable[[], T], *, wait: wait_base, attempts: int) -> T:
    """Run `work`, again after a transient failure, at most `attempts` times in all."""
    retrying = Retrying(
        retry=retry_if_exception(is_transient),
        wait=wait,
        stop=stop_after_attempt(attempts),
        reraise=True,
    )
    return retrying(work)
