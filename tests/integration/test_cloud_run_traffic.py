"""The Cloud Run deploy target's canary splits through the official client's REST transport,
against a loopback server speaking the Admin API v2 (traffic with revision targets, etags,
long-running operations). Only the base URL differs from production."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import pytest
from google.api_core.client_options import ClientOptions
from google.auth.credentials import AnonymousCredentials
from google.cloud import run_v2
from tenacity import wait_none

from shared.adapters.gcp_deploy_target import GoogleCloudDeployTarget
from shared.config import EnvConfig
from shared.domain.model import Deployed
from tests.integration.cloud_run_v2 import CloudRunV2, serve

PROJECT = "demo-avalo-production"
API = f"projects/{PROJECT}/locations/europe-west1/services/api"
ENV = EnvConfig(name="production", project=PROJECT, approval_required=True, canary=(10, 50))
NOW = datetime(2026, 11, 28, 20, 0, tzinfo=UTC)


@pytest.fixture
def sim() -> Iterator[tuple[CloudRunV2, GoogleCloudDeployTarget]]:
    api = CloudRunV2()
    api.add_service(API, ["api-00001-old", "api-00002-new"], serving="api-00001-old")
    server = serve(api)
    host, port = server.server_address[:2]
    client = run_v2.ServicesClient(
        transport="rest",
        credentials=AnonymousCredentials(),  # type: ignore[no-untyped-call]
        client_options=ClientOptions(api_endpoint=f"http://{host!s}:{port}"),
    )
    target = GoogleCloudDeployTarget(run_client=client, retry_wait=wait_none(), attempts=2)
    yield api, target
    server.shutdown()
    server.server_close()


def artifacts(revision: str) -> dict[str, Any]:
    return {"run:europe-west1/api": revision}


STABLE = Deployed(release="1.0.0", artifacts=artifacts("api-00001-old"), since=NOW)


def test_each_step_sets_the_split_and_waits_for_the_operation(
    sim: tuple[CloudRunV2, GoogleCloudDeployTarget],
) -> None:
    api, target = sim
    for percent in (10, 50):
        report = target.split(artifacts("api-00002-new"), STABLE, percent, ENV)
        assert report.ok, report.summary
        assert api.split(API) == {"api-00001-old": 100 - percent, "api-00002-new": percent}
    report = target.split(artifacts("api-00002-new"), STABLE, 100, ENV)
    assert report.ok and api.split(API) == {"api-00002-new": 100}
    assert len(api.patches) == 3
    assert all(op["polled"] >= 1 for op in api.operations.values())  # each LRO was awaited


def test_a_repeated_step_changes_nothing(sim: tuple[CloudRunV2, GoogleCloudDeployTarget]) -> None:
    api, target = sim
    target.split(artifacts("api-00002-new"), STABLE, 10, ENV)
    report = target.split(artifacts("api-00002-new"), STABLE, 10, ENV)
    assert report.ok and report.checks[0].detail == "already 10 % to api-00002-new"
    assert len(api.patches) == 1


def test_abort_restores_all_traffic_to_the_stable_revision(
    sim: tuple[CloudRunV2, GoogleCloudDeployTarget],
) -> None:
    api, target = sim
    target.split(artifacts("api-00002-new"), STABLE, 50, ENV)
    report = target.restore(STABLE, ENV)
    assert report.ok, report.summary
    assert api.split(API) == {"api-00001-old": 100}


def test_a_refused_split_is_a_failed_check_naming_the_service(
    sim: tuple[CloudRunV2, GoogleCloudDeployTarget],
) -> None:
    api, target = sim
    report = target.split(artifacts("api-00009-gone"), STABLE, 10, ENV)
    assert not report.ok
    assert report.checks[0].name == "run:europe-west1/api"
    assert "api-00009-gone" in report.checks[0].detail
    assert api.split(API) == {"api-00001-old": 100}  # nothing half-applied


def test_no_recorded_revision_is_not_a_split(
    sim: tuple[CloudRunV2, GoogleCloudDeployTarget],
) -> None:
    _, target = sim
    report = target.split({"hosting:site": "sites/site/versions/v1"}, STABLE, 10, ENV)
    assert not report.ok and "no Cloud Run revision" in report.summary
