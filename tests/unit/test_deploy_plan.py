"""`./deploy.sh gcp`: the plan (golden dry run, structure, idempotence) from typed inputs."""

from __future__ import annotations

import os
from pathlib import Path, PurePosixPath

import pytest
from typer.testing import CliRunner

import functions.main as entrypoints
from shared.deploy.catalog import SPECS, Scope, flag_function, pubsub_functions
from shared.deploy.gcp import app
from shared.deploy.inputs import make_inputs
from shared.deploy.plan import build_plan
from shared.deploy.steps import Plan
from shared.topics import (
    ALL_TOPICS,
    DASHBOARD_TARGET,
    DEAD_LETTER_TARGET,
    FLAG_TRIGGER_TARGET,
    PUBSUB_TRIGGERS,
    dead_letter_topic,
)

REPO = Path(__file__).resolve().parents[2]
GOLDEN = REPO / "tests" / "golden" / "deploy_gcp_dry_run.txt"
SAMPLE_CONFIG = "tests/golden/deploy_environments.toml"
CONTROL = "acme-release-control"
ENVS = {"dev": "acme-avalo-dev", "staging": "acme-avalo-staging", "production": "acme-avalo-prod"}
SAMPLE_ARGS = [
    "--project", CONTROL,
    "--env-project", "dev=acme-avalo-dev,staging=acme-avalo-staging,production=acme-avalo-prod",
    "--config", SAMPLE_CONFIG, "--checks", "tests/golden/deploy_checks.toml", "--app-rules",
    "--dry-run",
]  # fmt: skip


def plan(**overrides: object) -> Plan:
    values: dict[str, object] = {"control_project": CONTROL, "env_projects": ENVS}
    return build_plan(make_inputs(**{**values, **overrides}))


def flat(p: Plan) -> list[str]:
    return [" ".join(argv) for step in p.steps for argv in step.commands()]


def test_dry_run_matches_the_golden_plan() -> None:
    result = CliRunner().invoke(app, SAMPLE_ARGS)
    assert result.exit_code == 0, result.output
    if os.environ.get("UPDATE_GOLDEN"):
        GOLDEN.write_text(result.stdout, encoding="utf-8")
    assert result.stdout == GOLDEN.read_text(encoding="utf-8")


def test_the_plan_is_stable() -> None:
    assert plan() == plan()


def test_every_trigger_of_shared_topics_is_deployed_with_its_trigger_and_retries() -> None:
    commands = flat(plan())
    deploys = [c for c in commands if c.startswith("gcloud functions deploy ")]
    for topic, target in PUBSUB_TRIGGERS.items():
        (line,) = [c for c in deploys if c.startswith(f"gcloud functions deploy {target} ")]
        assert f"--trigger-topic={topic}" in line
        assert f"--entry-point={target}" in line
        for flag in ("--gen2", "--runtime=python311", "--source=.", "--retry", "--memory="):
            assert flag in line
        assert f"--project={CONTROL}" in line
    flag_deploys = [c for c in deploys if f" {FLAG_TRIGGER_TARGET} " in c]
    assert len(flag_deploys) == len(ENVS)
    for project, line in zip(ENVS.values(), flag_deploys, strict=True):
        assert f"--project={project}" in line
        assert "--trigger-event-filters=type=google.cloud.firestore.document.v1.written" in line
        assert "--trigger-event-filters=database=(default)" in line
        assert "--trigger-event-filters-path-pattern=document=featureFlags/{flag}" in line
        assert "--trigger-location=europe-west1" in line
        assert "--retry" in line
    # each topic's dead letters are recorded by on_dead_letter, one function per topic
    for topic in PUBSUB_TRIGGERS:
        dlt = dead_letter_topic(topic)
        (line,) = [c for c in deploys if f" --trigger-topic={dlt} " in c]
        assert f"--entry-point={DEAD_LETTER_TARGET}" in line and "--retry" in line
    # the dashboard: HTTP, public (it signs people in itself), no retries
    (board,) = [c for c in deploys if c.startswith(f"gcloud functions deploy {DASHBOARD_TARGET} ")]
    assert "--trigger-http" in board and "--allow-unauthenticated" in board
    assert "--retry" not in board and "RELEASECTL_FIREBASE_API_KEY={" in board
    # exactly the targets of shared.topics: no function for a topic without a consumer
    rc_deploys = [c for c in deploys if " on_remote_config_updated " in c]
    assert len(rc_deploys) == len(ENVS)
    for project, line in zip(ENVS.values(), rc_deploys, strict=True):
        assert f"--project={project}" in line and "--retry" in line
        assert "--trigger-location=global" in line
        assert (
            "--trigger-event-filters=type=google.firebase.remoteconfig.remoteConfig.v1.updated"
            in line
        )
    assert len(deploys) == 2 * len(PUBSUB_TRIGGERS) + 5 * len(ENVS) + 1
    consumed = set(PUBSUB_TRIGGERS) | {dead_letter_topic(t) for t in PUBSUB_TRIGGERS}
    assert {
        c.split("--trigger-topic=")[1].split()[0] for c in deploys if "--trigger-topic" in c
    } == consumed


def test_function_targets_exist_and_have_a_spec() -> None:
    targets = [
        *PUBSUB_TRIGGERS.values(),
        FLAG_TRIGGER_TARGET,
        DEAD_LETTER_TARGET,
        DASHBOARD_TARGET,
    ]
    assert set(targets) <= set(SPECS)  # the catalog may know a target before it is wired
    for target in targets:
        assert callable(getattr(entrypoints, target))


def test_functions_get_their_config_and_project() -> None:
    line = next(c for c in flat(plan()) if c.startswith("gcloud functions deploy on_build_event"))
    assert "RELEASECTL_CONFIG_FILE=/workspace/config/environments.toml" in line
    assert f"GOOGLE_CLOUD_PROJECT={CONTROL}" in line
    assert "--set-build-env-vars=GOOGLE_FUNCTION_SOURCE=functions/main.py" in line
    other = plan(config_file=PurePosixPath("config/prod.toml"))
    assert any("RELEASECTL_CONFIG_FILE=/workspace/config/prod.toml" in c for c in flat(other))


def test_creations_are_guarded_so_a_rerun_updates_in_place() -> None:
    for step in plan().steps:
        verb = step.run[2:4] if step.run[0] == "gcloud" else ()
        if "create" in step.run:
            assert step.check is not None and "describe" in step.check, step.description
        assert verb != ("topics", "delete")
    (scheduler,) = [s for s in plan().steps if "scheduler" in s.run]
    assert scheduler.check is not None and scheduler.update is not None
    assert "update" in scheduler.update and "create" in scheduler.run
    assert "--message-body={}" in scheduler.run and "--schedule=* * * * *" in scheduler.run
    assert "--topic=monitoring-ticks" in scheduler.run


def test_all_topics_and_their_dead_letters_are_created() -> None:
    created = [
        s.run[4] for s in plan().steps if s.run[:4] == ("gcloud", "pubsub", "topics", "create")
    ]
    dead = [dead_letter_topic(t) for t, _ in pubsub_functions()]
    assert created == [*ALL_TOPICS, *dead] or sorted(created) == sorted([*ALL_TOPICS, *dead])
    for topic, spec in pubsub_functions():
        (wire,) = [
            s for s in plan().steps
            if s.run[:4] == ("gcloud", "pubsub", "subscriptions", "update")
            and spec.target in s.description
        ]  # fmt: skip
        assert (
            f"--dead-letter-topic=projects/{CONTROL}/topics/{dead_letter_topic(topic)}" in wire.run
        )
        assert [c.name for c in wire.captures] == [
            f"{spec.target.upper()}_TRIGGER",
            f"{spec.target.upper()}_SUBSCRIPTION",
        ]


def test_every_variable_is_captured_before_use() -> None:
    assert plan().undefined() == []


def test_one_service_account_per_function_with_only_its_roles() -> None:
    steps = plan().steps
    accounts = [
        s.run[4] for s in steps if s.run[:4] == ("gcloud", "iam", "service-accounts", "create")
    ]
    per_function = [spec.account_id for _, spec in pubsub_functions()]
    assert len(set(per_function)) == len(per_function)
    assert set(per_function) <= set(accounts)
    assert accounts.count(flag_function().account_id) == len(ENVS)
    bindings = [" ".join(s.run) for s in steps if "add-iam-policy-binding" in s.run]
    for role in ("roles/owner", "roles/editor", "roles/datastore.owner", "roles/pubsub.admin"):
        assert not [b for b in bindings if f"--role={role} " in b + " "]
    # the notifier may not start builds; the flag guard may not touch release state
    notifier = "rc-on-release-event@"
    assert not [b for b in bindings if notifier in b and "cloudbuild" in b]
    guard = f"{flag_function().account_id}@"
    assert not [
        b for b in bindings if guard in b and f"projects add-iam-policy-binding {CONTROL}" in b
    ]
    # publishing is granted on the one topic, never project-wide
    assert not [
        b
        for b in bindings
        if "projects add-iam-policy-binding" in b
        and "pubsub.publisher" in b
        and "gcp-sa-pubsub" not in b
    ]


def test_every_grant_says_why() -> None:
    for spec in SPECS.values():
        for grant in spec.grants:
            assert len(grant.why) > 20 and isinstance(grant.scope, Scope)


def test_app_rules_are_opt_in() -> None:
    without = [s for s in plan().steps if "config/firebase.app.json" in " ".join(s.run)]
    with_rules = [
        s for s in plan(app_rules=True).steps if "--config=config/firebase.app.json" in s.run
    ]
    assert without == []
    assert [s.run[s.run.index("--only") + 2] for s in with_rules] == [
        f"--project={p}" for p in ENVS.values()
    ]


def test_control_rules_and_indexes_are_deployed_last() -> None:
    last = plan().steps[-1]
    assert last.run[:2] == ("firebase", "deploy")
    assert "firestore:rules,firestore:indexes" in last.run
    assert f"--project={CONTROL}" in last.run


@pytest.mark.parametrize("region", ["us-central1", "asia-northeast1"])
def test_region_and_firestore_location(region: str) -> None:
    p = plan(region=region, firestore_location="nam5")
    text = "\n".join(flat(p))
    assert f"--region={region}" in text and "--region=europe-west1" not in text
    assert "--trigger-location=nam5" in text and "--location=nam5" in text


def test_docs_explain_every_account_and_role() -> None:
    from shared.deploy.catalog import RELEASE_STEPS, STEPS_GRANTS, account_id

    doc = (REPO / "docs" / "DEPLOY.md").read_text(encoding="utf-8")
    for target in [*PUBSUB_TRIGGERS.values(), FLAG_TRIGGER_TARGET, DEAD_LETTER_TARGET]:
        assert f"`{SPECS[target].account_id}" in doc or SPECS[target].account_id in doc, target
        for grant in SPECS[target].grants:
            assert f"`{grant.role}`" in doc, (target, grant.role)
    assert account_id(RELEASE_STEPS) in doc
    for grant in STEPS_GRANTS:
        assert f"`{grant.role}`" in doc


def test_no_reserved_environment_variable_is_set() -> None:
    for command in flat(plan()):
        if "--set-env-vars=" not in command:
            continue
        values = command.split("--set-env-vars=")[1].split()[0]
        for key in (kv.split("=")[0] for kv in values.split(",")):
            assert key not in {"PORT", "K_SERVICE", "K_REVISION", "K_CONFIGURATION"}
            assert not key.startswith(("X_GOOGLE_", "FUNCTION_"))
