"""Runs a plan: one step after another, stopping at the first failure with one message.

The runner is injected (tests pass a fake); the real one calls the programs with prompts
disabled, from the repository root (`--source=.` uploads it).
"""

from __future__ import annotations

import os
import shutil
import subprocess  # nosec B404 -- subprocess runs fixed argv lists, never a shell
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from shared.deploy.render import command
from shared.deploy.steps import Argv, Plan, Step, substitute
from shared.errors import ControlPlaneError

INSTALL_HINTS = {
    "gcloud": "install the Google Cloud CLI (https://cloud.google.com/sdk/docs/install), "
    "then `gcloud auth login`",
    "firebase": "install the Firebase CLI (`npm install -g firebase-tools`), then `firebase login`",
}


@dataclass(frozen=True)
class Result:
    code: int
    stdout: str = ""
    stderr: str = ""


Runner = Callable[[Argv], Result]
Reporter = Callable[[int, int, Step, str], None]


class MissingTool(ControlPlaneError):
    """A program the plan needs is not installed (exit 2, nothing started)."""


class StepFailed(ControlPlaneError):
    """A step's command failed; the steps after it did not run (exit 1)."""


def require_tools(plan: Plan) -> None:
    missing = sorted(t for t in plan.tools() if shutil.which(t) is None)
    if missing:
        hints = "; ".join(f"{t} not found: {INSTALL_HINTS.get(t, 'install it')}" for t in missing)
        raise MissingTool(hints)


def subprocess_runner(cwd: Path) -> Runner:
    env = {**os.environ, "CLOUDSDK_CORE_DISABLE_PROMPTS": "1"}

    def run(argv: Argv) -> Result:
        proc = subprocess.run(  # nosec B603 -- the deploy plan's argv, built from validated config, no shell
            list(argv), cwd=cwd, env=env, capture_output=True, text=True, stdin=subprocess.DEVNULL
        )
        return Result(proc.returncode, proc.stdout, proc.stderr)

    return run


def _tail(text: str, lines: int = 8) -> str:
    return "\n".join(text.strip().splitlines()[-lines:])


def execute(plan: Plan, runner: Runner, report: Reporter | None = None) -> None:
    """Run every step in order; raise `StepFailed` (nothing after it runs) on the first failure.

    `report(n, total, step, outcome)` is told `start` before each step, and after it `done`,
    `exists` (the check found it, nothing to create) or `updated` (it existed, was updated).
    """
    values: dict[str, str] = {}
    total = len(plan.steps)

    def resolved(argv: Argv) -> Argv:
        return tuple(substitute(a, values) for a in argv)

    def fail(n: int, step: Step, argv: Argv, why: str) -> StepFailed:
        return StepFailed(
            f"step {n}/{total} failed: {step.description}\n  command: {command(argv)}\n"
            f"  {why}\nThe steps after it did not run. Fix the cause and run the same "
            "command again: every step is safe to repeat."
        )

    def must(n: int, step: Step, argv: Argv) -> Result:
        result = runner(argv)
        if result.code != 0:
            detail = _tail(result.stderr or result.stdout) or "(no output)"
            raise fail(n, step, argv, f"exit code {result.code}:\n{detail}")
        return result

    for n, step in enumerate(plan.steps, 1):
        if report is not None:
            report(n, total, step, "start")
        for capture in step.captures:
            argv = resolved(capture.argv)
            value = must(n, step, argv).stdout.strip()
            if not value:
                raise fail(n, step, argv, f"it printed nothing, so {capture.name} is unknown")
            values[capture.name] = value
        outcome = "done"
        if step.check is not None and runner(resolved(step.check)).code == 0:
            outcome = "exists"
            if step.update is not None:
                must(n, step, resolved(step.update))
                outcome = "updated"
        else:
            must(n, step, resolved(step.run))
        if report is not None:
            report(n, total, step, outcome)
