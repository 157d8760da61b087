"""The one model of the Cloud Build `Build` resource: step lookup, outputs and uploads."""

from __future__ import annotations

import base64
from datetime import UTC, datetime

from shared.domain.builds import ArtifactsSpec, Build


def build(*steps: dict[str, str], outputs: tuple[str, ...] = ()) -> Build:
    return Build.model_validate(
        {
            "id": "b-1",
            "status": "SUCCESS",
            "projectId": "demo-ci",
            "substitutions": {"COMMIT_SHA": "c" * 40, "_OUT": "gs://$PROJECT_ID-reports"},
            "steps": list(steps),
            "results": {"buildStepOutputs": list(outputs)},
            "artifacts": {"objects": {"location": "${_OUT}/$BUILD_ID/", "paths": ["r/a.json"]}},
        }
    )


def encoded(text: str) -> str:
    return base64.b64encode(text.encode()).decode()


def test_a_step_is_found_by_id_or_else_by_name_and_the_first_one_wins() -> None:
    b = build(
        {"name": "python:3.11", "status": "SUCCESS"},
        {"id": "sast", "name": "python:3.11", "status": "FAILURE"},
        {"id": "sast", "status": "SUCCESS"},
        outputs=(encoded("first"), encoded("second"), encoded("third")),
    )
    assert b.step("python:3.11") is b.steps[0]
    assert b.step("sast") is b.steps[1]
    assert b.step("sbom") is None
    assert b.step_output("sast") == b"second"  # the same step the lookup names
    assert not b.step_succeeded("sast") and b.step_succeeded("python:3.11")
    assert not b.step_succeeded("sbom")


def test_a_step_without_output_has_none() -> None:
    b = build({"id": "unit-tests"}, {"id": "sast"}, outputs=("",))
    assert b.step_output("unit-tests") is None and b.step_output("sast") is None
    assert b.step("unit-tests") is not None and b.steps[0].status == "STATUS_UNKNOWN"


def test_an_upload_is_where_the_substituted_location_puts_the_file() -> None:
    b = build()
    assert b.uploaded("reports/sbom.cdx.json") == "gs://demo-ci-reports/b-1/sbom.cdx.json"
    assert b.model_copy(update={"artifacts": ArtifactsSpec()}).uploaded("x") is None


def test_the_commit_and_creation_time_default_when_the_build_does_not_say() -> None:
    b = build()
    assert b.commit == "c" * 40 and b.created() == datetime.min.replace(tzinfo=UTC)
    later = Build.model_validate(
        {"id": "b", "status": "SUCCESS", "createTime": "2026-01-02T03:04:05Z"}
    )
    assert later.commit == "" and later.created() == datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)


def test_a_status_cloud_build_added_later_is_read_as_it_is() -> None:
    b = Build.model_validate({"id": "b", "status": "PAUSED"})
    assert b.status == "PAUSED" and not b.final and not b.succeeded
