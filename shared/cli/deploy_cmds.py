"""`releasectl deploy apply`: what the deploy build runs (cloudbuild/deploy.yaml).

It makes the release serve in the environment through the deploy target (Google Cloud, or the
local stack's sample app), then records what now serves, so a later rollback can restore it.
"""

from __future__ import annotations

import json
from typing import Annotated

import typer

from shared.cli import context
from shared.cli.output import console

app = typer.Typer(help="Deploy a release (run by the deploy build).", no_args_is_help=True)


@app.command()
def apply(
    release: Annotated[str, typer.Option("--release", envvar="_RELEASE", help="Release id.")],
    env: Annotated[str, typer.Option("--env", envvar="_ENV", help="Environment.")],
    attempt: Annotated[int, typer.Option("--attempt", min=1, help="Rollout attempt.")] = 1,
    build_id: Annotated[
        str, typer.Option("--build-id", envvar="BUILD_ID", help="The deploy build's id.")
    ] = "manual",
) -> None:
    """Deploy RELEASE to ENV and record the deployed artifact references."""
    from shared.adapters.firestore_store import FirestoreUnitOfWork
    from shared.bootstrap import deploy_target

    cfg = context.plane().env(env)
    artifacts = deploy_target(context.settings(), context.db()).deploy(release, cfg)
    FirestoreUnitOfWork(context.db()).record_deployment(release, env, attempt, artifacts, build_id)
    console.print_json(json.dumps({"release": release, "env": env, "artifacts": artifacts}))
