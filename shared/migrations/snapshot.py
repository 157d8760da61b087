"""Snapshots taken before a production run, so a bad migration can be undone from a backup.

Locally: the Firestore emulator's export endpoint into a directory. On Google Cloud: a managed
export of the database to a Cloud Storage bucket through the Firestore Admin API.
"""

from __future__ import annotations

import os
from datetime import datetime
from pathlib import Path
from typing import Any

import httpx
from tenacity import Retrying, retry_if_exception_type, stop_after_attempt, wait_exponential

from shared.local.state import local_dir_from_env
from shared.migrations.errors import MigrationFailed

EXPORT_TIMEOUT_S = 3600.0


def _stamp(at: datetime) -> str:
    return at.strftime("%Y%m%dT%H%M%SZ")


class EmulatorSnapshots:
    def __init__(self, host_port: str, directory: Path | None = None) -> None:
        self.host_port = host_port
        default = local_dir_from_env() / "snapshots"  # beside the local stack's other state
        self.directory = directory or Path(os.environ.get("RELEASECTL_SNAPSHOT_DIR", default))

    def take(self, project: str, env: str, at: datetime) -> str:
        target = (self.directory / env / _stamp(at)).resolve()
        target.mkdir(parents=True, exist_ok=True)  # the emulator wants it to exist
        url = f"http://{self.host_port}/emulator/v1/projects/{project}:export"
        body = {
            "database": f"projects/{project}/databases/(default)",
            "export_directory": str(target),
        }
        retrying = Retrying(
            retry=retry_if_exception_type(httpx.TransportError),
            stop=stop_after_attempt(3),
            wait=wait_exponential(0.2, max=2),
            reraise=True,
        )
        response = retrying(lambda: httpx.post(url, json=body, timeout=120.0))
        if response.status_code != 200:
            raise MigrationFailed(f"snapshot export failed: HTTP {response.status_code}")
        return str(target)


class ManagedExportSnapshots:
    """`FirestoreAdminClient.export_documents` into `gs://bucket/env/stamp` (waits for it)."""

    def __init__(self, bucket: str) -> None:
        self.bucket = bucket.rstrip("/")

    def take(self, project: str, env: str, at: datetime) -> str:
        from google.cloud import firestore_admin_v1

        uri = f"{self.bucket}/{env}/{_stamp(at)}"
        client = firestore_admin_v1.FirestoreAdminClient()
        operation: Any = client.export_documents(
            request={"name": f"projects/{project}/databases/(default)", "output_uri_prefix": uri}
        )
        result = operation.result(timeout=EXPORT_TIMEOUT_S)
        return str(getattr(result, "output_uri_prefix", "") or uri)
