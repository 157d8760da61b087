"""The `dependencies` step running the real pip-audit against a loopback server that speaks the
OSV API (`POST /v1/query`, what `--osv-url` points pip-audit at): pip-audit's own JSON report
becomes the summary, and a service that fails is `not_run`, never passed.

The advisory the server answers with is planted for the test (id `TEST-…`) against the jinja2
version installed here; every other package has none.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from importlib import metadata
from pathlib import Path

import pytest

from shared.security.steps import dependencies

JINJA = metadata.version("jinja2")
PLANTED = {
    "id": "TEST-2026-0001",
    "aliases": ["GHSA-test-0000-0001"],
    "summary": "Planted advisory for the test",
    "affected": [
        {
            "package": {"name": "jinja2", "ecosystem": "PyPI"},
            "ranges": [{"type": "ECOSYSTEM", "events": [{"introduced": "0"}, {"fixed": "99.0"}]}],
            "versions": [JINJA],
        }
    ],
}


class Osv(BaseHTTPRequestHandler):
    failing = False
    queries: list[dict[str, object]] = []

    def do_POST(self) -> None:
        query = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        Osv.queries.append(query)
        if self.path != "/v1/query" or Osv.failing:
            self.send_response(503)
            self.end_headers()
            return
        hit = query["package"]["name"] == "jinja2" and query["version"] == JINJA
        body = json.dumps({"vulns": [PLANTED]} if hit else {}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def osv_url() -> Iterator[str]:
    Osv.failing, Osv.queries = False, []
    server = ThreadingHTTPServer(("127.0.0.1", 0), Osv)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/v1/query"
    finally:
        server.shutdown()
        server.server_close()


def test_pip_audits_own_report_names_the_advisory(osv_url: str, tmp_path: Path) -> None:
    now = datetime.now(UTC)
    summary = dependencies(tmp_path, "low", [], now, service="osv", osv_url=osv_url)
    assert summary.status == "failed", summary.reason
    worst = summary.worst()
    assert worst is not None
    assert (worst.id, worst.where, worst.fix) == ("TEST-2026-0001", f"jinja2=={JINJA}", "99.0")
    assert summary.counts == {"unknown": 1}
    audited = {q["package"]["name"] for q in Osv.queries}  # type: ignore[index]
    assert "google-cloud-firestore" in audited and "pytest" not in audited
    assert summary.scanned == len(audited)


def test_a_failing_service_is_not_run_with_pip_audits_reason(osv_url: str, tmp_path: Path) -> None:
    stale = tmp_path / "reports" / "pip-audit.json"  # an earlier run's: it must not count
    stale.parent.mkdir()
    stale.write_text('{"dependencies": [], "fixes": []}')
    Osv.failing = True
    summary = dependencies(tmp_path, "low", [], datetime.now(UTC), service="osv", osv_url=osv_url)
    assert summary.status == "not_run"
    assert summary.reason.startswith("pip-audit could not audit")
