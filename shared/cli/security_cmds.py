"""`releasectl security sast|deps|sbom`: the CI build's scan steps (docs/SECURITY.md).

Each writes its tool's full report under `reports/` (the build uploads it as an artifact), the
step's summary to `$BUILDER_OUTPUT/output` (Cloud Build keeps it in the Build resource, where
the production gate reads it), and prints one line. Exit 0 passed, 1 findings at or above
`--fail-on` or the scan could not run (`not_run`, with the reason), 2 bad usage or input.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from shared.cli import output
from shared.cli.output import console, exit_codes
from shared.clock import utcnow
from shared.errors import ConfigError
from shared.security import steps
from shared.security.ignores import DEFAULT_IGNORES_FILE, load_ignores
from shared.security.model import ScanSummary, Threshold

app = typer.Typer(help="The CI build's security scans.", no_args_is_help=True)
FailOn = Annotated[
    str, typer.Option("--fail-on", help="Lowest severity that fails the step (low…critical).")
]
JsonOpt = Annotated[bool, typer.Option("--json", help="Print the step's summary as JSON.")]
Workspace = Annotated[
    Path, typer.Option("--workspace", help="The checkout to scan (reports go in its reports/).")
]
_THRESHOLDS: tuple[Threshold, ...] = ("low", "medium", "high", "critical")


def _threshold(value: str) -> Threshold:
    for t in _THRESHOLDS:
        if t == value:
            return t
    raise typer.BadParameter(
        f"{value!r}: use one of {', '.join(_THRESHOLDS)}", param_hint="--fail-on"
    )


def _finish(summary: ScanSummary, as_json: bool) -> None:
    steps.publish(summary)
    if as_json:
        output.print_json(summary.model_dump(mode="json", exclude_none=True))
    else:
        style = {"passed": "green", "failed": "red", "not_run": "yellow"}[summary.status]
        console.print(f"[{style}]{summary.headline()}[/] ({summary.tool})", soft_wrap=True)
        if summary.report:
            console.print(f"report: {summary.report}")
    if summary.status != "passed":
        raise typer.Exit(1)


@app.command()
def sast(
    fail_on: FailOn = "medium", workspace: Workspace = Path("."), as_json: JsonOpt = False
) -> None:
    """Static analysis of the shipped Python with bandit (config: pyproject.toml)."""
    threshold = _threshold(fail_on)
    summary = steps.sast(workspace, threshold)
    _finish(summary, as_json)


@app.command()
def deps(
    fail_on: FailOn = "low",
    workspace: Workspace = Path("."),
    ignores: Annotated[
        Path, typer.Option("--ignores", help="The reviewed advisory ignore file.")
    ] = DEFAULT_IGNORES_FILE,
    service: Annotated[
        str, typer.Option("--service", help="pip-audit's vulnerability service: pypi or osv.")
    ] = "pypi",
    osv_url: Annotated[
        str | None, typer.Option("--osv-url", envvar="RELEASECTL_OSV_URL", help="OSV API URL.")
    ] = None,
    recorded: Annotated[
        Path | None,
        typer.Option("--recorded", help="Read this pip-audit JSON report instead of the service."),
    ] = None,
    as_json: JsonOpt = False,
) -> None:
    """Known vulnerabilities in the functions' pinned runtime dependencies (pip-audit)."""
    threshold = _threshold(fail_on)
    if service not in ("pypi", "osv"):
        raise typer.BadParameter(f"{service!r}: use pypi or osv", param_hint="--service")
    with exit_codes(ConfigError):
        accepted = load_ignores(ignores)
    summary = steps.dependencies(
        workspace,
        threshold,
        accepted,
        utcnow(),
        service="osv" if service == "osv" else "pypi",
        osv_url=osv_url,
        recorded=recorded,
    )
    _finish(summary, as_json)


@app.command()
def sbom(workspace: Workspace = Path("."), as_json: JsonOpt = False) -> None:
    """A CycloneDX bill of materials of the functions' runtime environment."""
    summary = steps.sbom(workspace)
    _finish(summary, as_json)
