"""`releasectl deploy apply`: what the deploy build runs (cloudbuild/deploy.yaml).

It makes the release serve in the environment through the deploy target (Google Cloud, or the
local stack's sample app), then records what now serves, so a later rollback can restore it.
With canary steps the build runs twice (docs/CANARY.md): the `deploy` step with `--part split`
(what can split traffic), the `finish` step with `--part rest` (what cannot) once the canary
passed. Each step's record is its own, read when that build succeeds.
"""

from __future__ import annotations

import json
from enum import StrEnum
from typing import Annotated

import typer

from shared.cli import context
from shared.cli.output import console
from shared.domain.model import DeployPart

app = typer.Typer(help="Deploy a release (run by the deploy build).", no_args_is_help=True)


class Part(StrEnum):
    """`shared.domain.model.DeployPart`."""

    ALL = "all"
    SPLIT = "split"
    REST = "rest"


_PARTS: dict[Part, DeployPart] = {Part.ALL: "all", Part.SPLIT: "split", Part.REST: "rest"}


class Step(StrEnum):
    """The rollout step whose build this is (the build's `_STEP`)."""

    DEPLOY = "deploy"
    FINISH = "finish"


@app.command()
def apply(
    release: Annotated[str, typer.Option("--release", envvar="_RELEASE", help="Release id.")],
    env: Annotated[str, typer.Option("--env", envvar="_ENV", help="Environment.")],
    attempt: Annotated[int, typer.Option("--attempt", min=1, help="Rollout attempt.")] = 1,
    step: Annotated[
        Step, typer.Option("--step", envvar="_STEP", help="The rollout step this build runs.")
    ] = Step.DEPLOY,
    part: Annotated[
        Part,
        typer.Option(
            "--part",
            envvar="_PART",
            help="What to deploy: all; split (only what can split traffic: functions); rest "
            "(what cannot: Hosting, Firestore rules and indexes).",
        ),
    ] = Part.ALL,
    build_id: Annotated[
        str, typer.Option("--build-id", envvar="BUILD_ID", help="The deploy build's id.")
    ] = "manual",
) -> None:
    """Deploy RELEASE to ENV and record the deployed artifact references."""
    from shared.adapters.firestore_store import FirestoreUnitOfWork
    from shared.bootstrap import deploy_target

    cfg = context.plane().env(env)
    target = deploy_target(context.settings(), context.db())
    artifacts = target.deploy(release, cfg, _PARTS[part])
    FirestoreUnitOfWork(context.db()).record_deployment(
        release, env, attempt, artifacts, build_id, step=step.value
    )
    console.print_json(
        json.dumps({"release": release, "env": env, "part": part.value, "artifacts": artifacts})
    )
