"""The plan's vocabulary: a step is one idempotent command, optionally guarded by a check.

A step runs like this (and prints like this in `--dry-run`):

- captures first: each `Capture` runs a read-only command and keeps its stdout as a variable
  that later arguments use as `{NAME}` (e.g. the subscription a trigger created);
- then, with a `check`: if the check succeeds, `update` runs (or nothing, when there is no
  update: "describe || create"); if it fails, `run` runs;
- without a check, `run` runs; such commands are idempotent by themselves
  (`services enable`, `add-iam-policy-binding`, `functions deploy`).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

Argv = tuple[str, ...]
_PLACEHOLDER = re.compile(r"\{([A-Z][A-Z0-9_]*)\}")


def placeholders(arg: str) -> list[str]:
    """The `{NAME}` variables an argument refers to."""
    return _PLACEHOLDER.findall(arg)


def substitute(arg: str, values: dict[str, str]) -> str:
    return _PLACEHOLDER.sub(lambda m: values[m.group(1)], arg)


@dataclass(frozen=True)
class Capture:
    """Run `argv` (read-only) and keep its trimmed stdout as `{name}`."""

    name: str
    argv: Argv


@dataclass(frozen=True)
class Step:
    description: str
    run: Argv
    check: Argv | None = None
    update: Argv | None = None
    captures: tuple[Capture, ...] = field(default=())

    def commands(self) -> list[Argv]:
        """Every argv of the step, in the order they may run."""
        out = [c.argv for c in self.captures]
        out += [a for a in (self.check, self.update) if a is not None]
        return [*out, self.run]


@dataclass(frozen=True)
class Plan:
    title: str
    steps: tuple[Step, ...]

    def tools(self) -> set[str]:
        """The programs the plan calls (argv[0] of every command)."""
        return {argv[0] for step in self.steps for argv in step.commands()}

    def undefined(self) -> list[str]:
        """Variables used before a capture defines them (a plan bug; empty when sound)."""
        known: set[str] = set()
        missing: list[str] = []
        for step in self.steps:
            for capture in step.captures:
                missing += [n for a in capture.argv for n in placeholders(a) if n not in known]
                known.add(capture.name)
            for argv in (step.check, step.update, step.run):
                for arg in argv or ():
                    missing += [n for n in placeholders(arg) if n not in known]
        return missing
