"""Adapters for gate evidence: the env project's Firestore and HTTP (httpx, with timeouts)."""

from __future__ import annotations

import time
from collections.abc import Mapping
from functools import cache
from typing import Any

import httpx

from shared.config import EnvConfig
from shared.gates.evidence import Probe
from shared.gates.settings import EndpointCheck

COMPLIANCE = "compliance"


@cache
def _client(project: str) -> Any:
    from google.cloud import firestore

    return firestore.Client(project=project)


class FirestoreCompliance:
    """Reads `compliance/{item}` (migration 001) from each environment's own project.

    With `FIRESTORE_EMULATOR_HOST` set the client talks to the emulator: same code both ways.
    """

    def __init__(self, client_for: Any = _client) -> None:
        self._client_for = client_for

    def read(self, env: EnvConfig, items: tuple[str, ...]) -> dict[str, Mapping[str, Any] | None]:
        db = self._client_for(env.project)
        refs = [db.collection(COMPLIANCE).document(item) for item in items]
        found: dict[str, Mapping[str, Any] | None] = dict.fromkeys(items)
        for snap in db.get_all(refs):
            if snap.exists:
                found[snap.id] = snap.to_dict() or {}
        return found


class HttpProber:
    """One request per endpoint; a timeout or connection error is an answer too (`error`)."""

    def __init__(self, transport: httpx.BaseTransport | None = None) -> None:
        self._transport = transport

    def probe(self, base_url: str, endpoint: EndpointCheck, timeout: float) -> Probe:
        url = base_url.rstrip("/") + endpoint.path
        started = time.perf_counter()
        try:
            with httpx.Client(
                timeout=timeout, transport=self._transport, follow_redirects=False
            ) as client:
                response = client.request(endpoint.method, url)
        except httpx.TimeoutException:
            return Probe(url, endpoint.method, error=f"no answer within {timeout:g}s")
        except httpx.HTTPError as exc:
            return Probe(url, endpoint.method, error=f"{type(exc).__name__}: {exc}"[:200])
        elapsed = (time.perf_counter() - started) * 1000
        return Probe(url, endpoint.method, status=response.status_code, latency_ms=elapsed)
