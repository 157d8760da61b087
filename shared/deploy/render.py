"""The plan as a bash script: what `--dry-run` prints (and a readable record of a deploy).

Checks and captures are written the way the executor runs them, so the printed script says
exactly how each step stays idempotent (`describe || create`, `if describe; then update`).
"""

from __future__ import annotations

import re
import shlex

from shared.deploy.steps import Argv, Plan, Step

_PLACEHOLDER = re.compile(r"\{([A-Z][A-Z0-9_]*)\}")


def _arg(arg: str) -> str:
    if not _PLACEHOLDER.search(arg):
        return shlex.quote(arg)
    out, last = [], 0
    for m in _PLACEHOLDER.finditer(arg):
        out.append(_escape(arg[last : m.start()]))
        out.append("${" + m.group(1) + "}")
        last = m.end()
    out.append(_escape(arg[last:]))
    return '"' + "".join(out) + '"'


def _escape(text: str) -> str:
    return re.sub(r'(["\\$`])', r"\\\1", text)


def command(argv: Argv) -> str:
    return " ".join(_arg(a) for a in argv)


def _step(step: Step) -> list[str]:
    lines = [f"{c.name}=$({command(c.argv)})" for c in step.captures]
    if step.check is None:
        lines.append(command(step.run))
    elif step.update is None:
        lines.append(f"{command(step.check)} >/dev/null 2>&1 \\")
        lines.append(f"  || {command(step.run)}")
    else:
        lines.append(f"if {command(step.check)} >/dev/null 2>&1; then")
        lines.append(f"  {command(step.update)}")
        lines.append("else")
        lines.append(f"  {command(step.run)}")
        lines.append("fi")
    return lines


def script(plan: Plan) -> str:
    """The whole plan as a bash script, one numbered comment per step."""
    total = len(plan.steps)
    lines = [
        "#!/usr/bin/env bash",
        "# Release control plane on Google Cloud: the plan of `./deploy.sh gcp` (dry run).",
        f"# {plan.title}",
        f"# {total} steps, run from the repository root; each is safe to run again.",
        "set -euo pipefail",
    ]
    for n, step in enumerate(plan.steps, 1):
        lines += ["", f"# [{n}/{total}] {step.description}", *_step(step)]
    return "\n".join(lines) + "\n"
