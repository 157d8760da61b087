"""Secret scan of the source: detect-secrets against the audited baseline in `config/`.

A finding already in the baseline (audited as a false positive) passes; any other fails the
build. Only file, line and detector type are reported, never the matched text.
"""

from __future__ import annotations

import json
import shutil
import subprocess  # nosec B404 -- subprocess runs fixed argv lists, never a shell
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from shared.config import REPO_ROOT
from shared.errors import ControlPlaneError

DEFAULT_BASELINE = REPO_ROOT / "config" / "secrets.baseline"
# Tool caches, virtualenvs and the baseline itself (it holds hashes that look like secrets).
EXCLUDE = (
    r"(^|/)(\.venv|\.git|\.local|node_modules|\.mypy_cache|\.ruff_cache|\.pytest_cache|"
    r"\.hypothesis|build|dist|reports|[^/]*\.egg-info)/|^config/secrets\.baseline$"
)
SCAN_TIMEOUT_S = 300


class ScanError(ControlPlaneError):
    """The scanner could not run (not installed, or it failed)."""


@dataclass(frozen=True, order=True)
class Finding:
    file: str
    line: int
    type: str

    def __str__(self) -> str:
        return f"{self.file}:{self.line}: {self.type}"


def new_findings(scan: dict[str, Any]) -> list[Finding]:
    """Findings of a `scan --baseline` result that nobody audited: the new ones."""
    return sorted(
        Finding(file, int(item["line_number"]), str(item["type"]))
        for file, items in scan.get("results", {}).items()
        for item in items
        if "is_secret" not in item
    )


def run_scan(root: Path = REPO_ROOT, baseline: Path = DEFAULT_BASELINE) -> list[Finding]:
    """Scan every file under `root` (git or not) against a copy of the baseline.

    Without a baseline every finding is new."""
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp) / "baseline.json"
        command = [sys.executable, "-m", "detect_secrets", "scan", "--all-files"]
        command += ["--exclude-files", EXCLUDE]
        if baseline.exists():
            shutil.copyfile(baseline, work)  # the scan rewrites it: never touch the original
            command += ["--baseline", str(work)]
        try:
            done = subprocess.run(  # nosec B603 -- argv list built from trusted values, no shell
                command, cwd=root, capture_output=True, text=True, timeout=SCAN_TIMEOUT_S
            )
        except subprocess.TimeoutExpired:
            raise ScanError(f"detect-secrets did not finish in {SCAN_TIMEOUT_S}s") from None
        if done.returncode != 0:
            last = (done.stderr.strip().splitlines() or ["no output"])[-1]
            raise ScanError(f"detect-secrets failed ({done.returncode}): {last}")
        result = json.loads(work.read_text() if baseline.exists() else done.stdout)
        return new_findings(result)
