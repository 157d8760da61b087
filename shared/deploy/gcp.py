"""`./deploy.sh gcp`: deploy the control plane to Google Cloud (docs/DEPLOY.md).

    ./deploy.sh gcp --project CONTROL --env-project dev=P1,staging=P2,production=P3 \
        [--region R] [--firestore-location L] [--config FILE] [--checks FILE] [--app-rules]
        [--dry-run]

Everything is validated before anything runs (bad input: one message, exit 2). `--dry-run`
prints the plan as a bash script and calls nothing, so it needs no credentials. Otherwise the
steps run in order and the first failure stops the deployment (exit 1).
"""

from __future__ import annotations

from pathlib import PurePosixPath

import typer
from rich.console import Console
from rich.markup import escape

from shared.config import REPO_ROOT
from shared.deploy.catalog import MissingSpec
from shared.deploy.executor import (
    MissingTool,
    StepFailed,
    execute,
    require_tools,
    subprocess_runner,
)
from shared.deploy.inputs import (
    DEFAULT_CHECKS,
    DEFAULT_CONFIG,
    DEFAULT_REGION,
    check_against_config,
    make_inputs,
    ordered,
    parse_env_projects,
)
from shared.deploy.plan import build_plan
from shared.deploy.render import script
from shared.deploy.steps import Plan, Step
from shared.errors import ConfigError

err_console = Console(stderr=True, soft_wrap=True)
console = Console(soft_wrap=True)
app = typer.Typer(
    name="deploy.sh gcp",
    add_completion=False,
    pretty_exceptions_enable=False,
    help="Deploy the release control plane to Google Cloud (docs/DEPLOY.md).",
)


def plan_for(
    project: str,
    env_project: str,
    region: str = DEFAULT_REGION,
    firestore_location: str | None = None,
    config: str = DEFAULT_CONFIG,
    app_rules: bool = False,
    checks: str = DEFAULT_CHECKS,
) -> Plan:
    """Validate the arguments (and the config file against them) and build the plan."""
    inputs = make_inputs(
        control_project=project,
        env_projects=parse_env_projects(env_project),
        region=region,
        firestore_location=firestore_location,
        config_file=PurePosixPath(config),
        checks_file=PurePosixPath(checks),
        app_rules=app_rules,
    )
    plane = check_against_config(inputs, REPO_ROOT)
    return build_plan(ordered(inputs, plane))


def _error(exc: Exception) -> None:
    err_console.print(f"[red]error:[/red] {escape(str(exc))}", highlight=False)


class _Progress:
    """A spinner on the running step (function deploys take minutes), a line per done step."""

    def __init__(self) -> None:
        self.status = console.status("")

    def __call__(self, n: int, total: int, step: Step, outcome: str) -> None:
        if outcome == "start":
            self.status.update(f"[{n}/{total}] {step.description}")
            self.status.start()
            return
        self.status.stop()
        mark = {"exists": "[dim](exists)[/dim]", "updated": "[cyan](updated)[/cyan]"}
        line = f"[green]✓[/green] [{n}/{total}] {step.description} {mark.get(outcome, '')}"
        console.print(line.rstrip(), highlight=False)


@app.command()
def gcp(
    project: str = typer.Option(..., "--project", help="The control project's id."),
    env_project: str = typer.Option(
        ..., "--env-project", help="ENV=PROJECT pairs, e.g. dev=P1,staging=P2,production=P3."
    ),
    region: str = typer.Option(DEFAULT_REGION, "--region", help="Region of the functions."),
    firestore_location: str | None = typer.Option(
        None,
        "--firestore-location",
        help="Firestore location (database and flag triggers); default: --region.",
    ),
    config: str = typer.Option(
        DEFAULT_CONFIG,
        "--config",
        help="Config file the functions read, inside the repository; it must name the same "
        "projects as --project and --env-project.",
    ),
    checks: str = typer.Option(
        DEFAULT_CHECKS,
        "--checks",
        help="Gate and smoke-test settings the functions read, inside the repository; its "
        "base_url for each environment must be where that environment's app answers (loopback "
        "and private addresses are refused).",
    ),
    app_rules: bool = typer.Option(
        False,
        "--app-rules",
        help="Also deploy config/app-firestore.rules as each env project's whole rule set.",
    ),
    dry_run: bool = typer.Option(
        False, "--dry-run", help="Print every command as a bash script; run nothing."
    ),
) -> None:
    """Deploy (or update in place) the control plane in the control and environment projects."""
    try:
        plan = plan_for(project, env_project, region, firestore_location, config, app_rules, checks)
        if dry_run:
            print(script(plan), end="")
            return
        require_tools(plan)
    except (ConfigError, MissingTool) as exc:
        _error(exc)
        raise typer.Exit(2) from None
    except MissingSpec as exc:
        _error(exc)
        raise typer.Exit(1) from None
    console.print(f"Deploying the release control plane: {plan.title}", highlight=False)
    progress = _Progress()
    try:
        execute(plan, subprocess_runner(REPO_ROOT), progress)
    except StepFailed as exc:
        progress.status.stop()
        _error(exc)
        raise typer.Exit(1) from None
    console.print(f"[green]Done[/green]: {len(plan.steps)} steps.")


def main() -> None:
    app(prog_name="deploy.sh gcp")


if __name__ == "__main__":
    main()
