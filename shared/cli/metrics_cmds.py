"""`releasectl metrics`: DORA's five delivery metrics for one environment over a period."""

from __future__ import annotations

import dataclasses
from typing import Annotated, Any

import typer
from rich.console import RenderableType
from rich.text import Text

from shared.adapters import firestore_views as views
from shared.cli import context, output
from shared.cli.output import console
from shared.cli.status_view import fitted
from shared.clock import utcnow
from shared.dora.model import Figure, Period, Report, parse_since
from shared.errors import ConfigError
from shared.views.steps import duration


def metrics(
    env: Annotated[
        str, typer.Option("--env", "-e", envvar="RELEASECTL_ENV", help="Environment.")
    ] = "production",
    since: Annotated[
        str, typer.Option("--since", help="Period back from now (30d, 12w, 48h) or ISO date.")
    ] = "30d",
    as_json: Annotated[bool, typer.Option("--json", help="Print stable JSON for scripts.")] = False,
) -> None:
    """Deployment frequency, lead time, change fail rate, recovery time and rework rate."""
    context.plane().env(env)  # unknown env: one clear error, exit 2
    now = utcnow()
    try:
        start = parse_since(since, now)
    except ValueError as exc:
        raise ConfigError(str(exc)) from None
    found = views.dora(context.db(), env, start, now)
    if as_json:
        output.print_json(as_dict(found))
        return
    for item in render(found, console.width):
        console.print(item)


def as_dict(found: Report) -> dict[str, Any]:
    return dataclasses.asdict(found)


def figure(f: Figure) -> str:
    """A figure in the unit people read it in."""
    if f.value is None:
        return "-"
    if f.unit == "hours":
        return duration(f.value * 3600)
    if f.unit == "per day":
        return f"{f.value:.2f}/day" if f.value >= 1 else f"{f.value * 7:.2f}/week"
    return f"{f.value:.0f} %"


def rows(p: Period) -> list[list[str | Text]]:
    def band(f: Figure) -> str:
        return f.band or "-"

    return [
        ["deployment frequency", figure(p.frequency), band(p.frequency),
         f"{p.deployments} deployed"],
        ["change lead time", figure(p.lead_time), band(p.lead_time), lead_basis(p)],
        ["change fail rate", figure(p.change_fail_rate), band(p.change_fail_rate),
         f"{p.failed} failed: {p.rollbacks} rollback, {p.fix_forwards} fix-fwd"],
        ["recovery time", figure(p.recovery_time), band(p.recovery_time),
         f"median of {p.recovery_time.count}, {p.open_failures} open"],
        ["rework rate", figure(p.rework_rate), "no band",
         f"{p.rollbacks + p.fix_forwards} unplanned of {p.rework_rate.count}"],
    ]  # fmt: skip


def lead_basis(p: Period) -> str:
    """How many lead times start at the commit (the rest start at the release's creation)."""
    n, k = p.lead_time.count, p.leads_from_commit
    if n == 0:
        return "none went live"
    where = "from commit" if k == n else "from creation" if k == 0 else f"{k} from commit"
    return f"median of {n}, {where}"


def render(found: Report, width: int) -> list[RenderableType]:
    days = (found.now - found.since).total_seconds() / 86400
    title = (
        f"DORA metrics for {found.env}: {found.since:%Y-%m-%d %H:%M} to {found.now:%Y-%m-%d %H:%M}"
        f" UTC ({days:.0f} d)"
    )
    table = fitted(["metric", "value", "band", "based on"], rows(found.total), width=width)
    return [Text(title, style="bold"), table]
