"""The CI build's scan steps: run bandit, pip-audit and cyclonedx-py, write their reports and
the step's `ScanSummary` (`releasectl security sast|deps|sbom`, `cloudbuild/ci.yaml`).

Each tool runs as `python -m <tool>` of this interpreter (the build's virtualenv), so no `PATH`
lookup decides which program runs. The functions are deployed with the project's runtime
dependencies (`pyproject.toml`, no extras); `locked_runtime` pins that set exactly as installed,
and both the audit and the bill of materials are made from it, not from the CI's dev tools.
"""

from __future__ import annotations

import json
import os
import subprocess  # nosec B404 -- runs the scanners as argv lists of this interpreter, no shell
import sys
from collections.abc import Callable
from datetime import datetime
from importlib import metadata
from pathlib import Path
from typing import Any, Literal

from shared.domain.builds import SBOM_REPORT
from shared.security import reports
from shared.security.ignores import AdvisoryIgnore, canonical
from shared.security.model import ScanKind as Kind
from shared.security.model import ScanSummary, Threshold

PROJECT = "release-control-plane"
SAST_TARGETS = ("shared", "functions", "migrations")  # what ships; tests are not deployed
REPORTS = Path(SBOM_REPORT).parent  # reports/: uploaded by the CI build (artifacts.objects)
BANDIT_REPORT, AUDIT_REPORT = "bandit.json", "pip-audit.json"
LOCK_FILE = "requirements.lock.txt"
TOOL_TIMEOUT_S = 600
Service = Literal["pypi", "osv"]


def _version(dist: str) -> str:
    try:
        return f"{dist} {metadata.version(dist)}"
    except metadata.PackageNotFoundError:
        return f"{dist} (not installed)"


def _run(args: list[str], cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(  # nosec B603 -- fixed argv of `python -m <scanner>`, no shell
        [sys.executable, "-m", *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=TOOL_TIMEOUT_S,
        check=False,
    )


def _last_line(done: subprocess.CompletedProcess[str]) -> str:
    lines = (done.stderr.strip() or done.stdout.strip() or "no output").splitlines()
    return lines[-1][:300]


def _fresh(workspace: Path, report: Path) -> Path:
    """The report's path, with any earlier run's report gone: only this run's output counts."""
    (workspace / report).parent.mkdir(parents=True, exist_ok=True)
    (workspace / report).unlink(missing_ok=True)
    return report


def _load(path: Path) -> dict[str, Any]:
    data = json.loads(path.read_text(encoding="utf-8"))
    if not isinstance(data, dict):
        raise reports.ReportError(f"{path.name}: expected a JSON object")
    return data


def not_run(kind: Kind, tool: str, why: str) -> ScanSummary:
    return ScanSummary(kind=kind, tool=tool, status="not_run", reason=why[:300])


def _parsed(kind: Kind, tool: str, parse: Callable[[], ScanSummary]) -> ScanSummary:
    """The report's summary; a report the tool should never write is a scan that did not run."""
    try:
        return parse()
    except (reports.ReportError, ValueError, KeyError, TypeError) as exc:
        return not_run(kind, tool, f"unreadable report: {type(exc).__name__}: {exc}")


# -- the runtime set the functions deploy with ---------------------------------------------


def runtime_closure(project: str = PROJECT) -> dict[str, str]:
    """canonical name -> installed version of every runtime dependency of `project`."""
    from packaging.requirements import Requirement

    found: dict[str, str] = {}
    todo = [project]
    while todo:
        dist = metadata.distribution(todo.pop())
        for spec in dist.requires or []:
            req = Requirement(spec)
            if req.marker is not None and not req.marker.evaluate({"extra": ""}):
                continue  # an extra (dev, test…) or another platform: not deployed
            name = canonical(req.name)
            if name not in found:
                found[name] = metadata.version(req.name)
                todo.append(req.name)
    return dict(sorted(found.items()))


def write_lock(workspace: Path) -> Path:
    """`reports/requirements.lock.txt`: the deployed set, pinned (written atomically)."""
    lock = workspace / REPORTS / LOCK_FILE
    lock.parent.mkdir(parents=True, exist_ok=True)
    lines = [f"{name}=={version}" for name, version in runtime_closure().items()]
    tmp = lock.with_suffix(f".{os.getpid()}.tmp")
    tmp.write_text("\n".join(lines) + "\n", encoding="utf-8")
    tmp.replace(lock)
    return lock


# -- the three scans -----------------------------------------------------------------------


def sast(workspace: Path, fail_on: Threshold) -> ScanSummary:
    """bandit over the shipped code, with its config in `pyproject.toml` (`[tool.bandit]`)."""
    tool = _version("bandit")
    out = _fresh(workspace, REPORTS / BANDIT_REPORT)
    args = ["bandit", "-c", "pyproject.toml", "-r", *SAST_TARGETS]
    done = _run([*args, "-f", "json", "-o", str(out), "-q", "--exit-zero"], workspace)
    if done.returncode != 0 or not (workspace / out).exists():
        return not_run("sast", tool, f"bandit failed ({done.returncode}): {_last_line(done)}")
    return _parsed(
        "sast",
        tool,
        lambda: reports.bandit_summary(_load(workspace / out), tool, fail_on, str(out)),
    )


def dependencies(
    workspace: Path,
    fail_on: Threshold,
    ignores: list[AdvisoryIgnore],
    now: datetime,
    service: Service = "pypi",
    osv_url: str | None = None,
    recorded: Path | None = None,
) -> ScanSummary:
    """pip-audit of the pinned runtime set; an unreachable service is `not_run`, never passed.

    `recorded`: a pip-audit JSON report made earlier (e.g. where the service is unreachable);
    it is read instead of asking the service, and the summary names it."""
    tool = _version("pip-audit")
    out = _fresh(workspace, REPORTS / AUDIT_REPORT)
    lock = write_lock(workspace)
    if recorded is not None:
        (workspace / out).write_bytes(recorded.read_bytes())
        tool += f" (recorded report {recorded.name})"
    else:
        args = ["pip_audit", "-r", str(lock.relative_to(workspace)), "--no-deps"]
        args += ["--disable-pip", "-f", "json", "-o", str(out), "--progress-spinner", "off"]
        args += ["--vulnerability-service", service]
        if osv_url:
            args += ["--osv-url", osv_url]
        done = _run(args, workspace)
        # exit 1 = vulnerabilities found (report written); anything else without a report: no run
        if not (workspace / out).exists():
            why = f"pip-audit could not audit ({done.returncode}): {_last_line(done)}"
            return not_run("dependencies", tool, why)
    return _parsed(
        "dependencies",
        tool,
        lambda: reports.pip_audit_summary(
            _load(workspace / out), tool, fail_on, str(out), ignores, now
        ),
    )


def sbom(workspace: Path) -> ScanSummary:
    """A CycloneDX bill of materials of the environment, narrowed to what the functions deploy.

    cyclonedx-py reads the installed environment (licenses, the dependency graph), which in CI
    also holds the dev tools; the document keeps the project as its root component and only
    the runtime set (`runtime_closure`)."""
    tool = _version("cyclonedx-bom")
    out = _fresh(workspace, Path(SBOM_REPORT))
    full = _fresh(workspace, REPORTS / "environment.cdx.json")
    args = ["cyclonedx_py", "environment", sys.executable, "--pyproject", "pyproject.toml"]
    # --no-validate: its schema check of the license data costs ~13 s of CPU and waits on the
    # network where there is none; the summary checks the document's shape instead
    done = _run([*args, "--of", "JSON", "--no-validate", "-o", str(full)], workspace)
    if done.returncode != 0 or not (workspace / full).exists():
        return not_run("sbom", tool, f"cyclonedx-py failed ({done.returncode}): {_last_line(done)}")

    def narrowed() -> ScanSummary:
        bom = reports.deployed_only(_load(workspace / full), set(runtime_closure()))
        (workspace / out).write_text(json.dumps(bom, indent=1), encoding="utf-8")
        (workspace / full).unlink()
        return reports.sbom_summary(bom, tool, str(out))

    return _parsed("sbom", tool, narrowed)


def publish(summary: ScanSummary, environ: dict[str, str] | None = None) -> Path | None:
    """Write the summary where Cloud Build keeps a step's output (`$BUILDER_OUTPUT/output`)."""
    folder = (environ if environ is not None else dict(os.environ)).get("BUILDER_OUTPUT")
    if not folder:
        return None
    path = Path(folder) / "output"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(summary.to_output())
    return path
