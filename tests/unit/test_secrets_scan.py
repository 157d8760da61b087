"""The source secret scan: new findings fail, audited ones pass; and the CI build runs it."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from shared.secrets.scan import Finding, ScanError, new_findings, run_scan

REPO = Path(__file__).resolve().parents[2]
# Assembled at run time so that this file itself holds no finding.
FAKE_AWS_KEY = "AKIA" + "IOSFODNN7" + "EXAMPLE"


def test_new_findings_are_the_unaudited_ones() -> None:
    scan = {
        "results": {
            "a.py": [
                {"type": "Secret Keyword", "line_number": 3, "is_secret": False},
                {"type": "AWS Access Key", "line_number": 9},
            ]
        }
    }
    assert new_findings(scan) == [Finding("a.py", 9, "AWS Access Key")]
    assert str(new_findings(scan)[0]) == "a.py:9: AWS Access Key"


def test_this_repository_has_no_unaudited_finding() -> None:
    """What the CI build's secret-scan step checks on every push, checked here first."""
    found = run_scan(REPO, REPO / "config" / "secrets.baseline")
    assert found == [], "audit or remove: " + ", ".join(map(str, found))


def test_a_planted_key_is_found_then_audited(tmp_path: Path) -> None:
    (tmp_path / "app.py").write_text(f'KEY = "{FAKE_AWS_KEY}"\n')
    (tmp_path / ".venv").mkdir()
    (tmp_path / ".venv" / "lib.py").write_text(f'KEY = "{FAKE_AWS_KEY}"\n')  # excluded
    baseline = tmp_path / "missing.baseline"
    found = run_scan(tmp_path, baseline)
    assert found and {f.file for f in found} == {"app.py"}
    assert all(FAKE_AWS_KEY not in str(f) for f in found)
    # audit them as false positives (as `detect-secrets audit` would): the scan passes
    out = subprocess.run(
        [sys.executable, "-m", "detect_secrets", "scan", "--all-files"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    data = json.loads(out)
    for items in data["results"].values():
        for item in items:
            item["is_secret"] = False
    baseline.write_text(json.dumps(data))
    assert run_scan(tmp_path, baseline) == []


def test_a_broken_baseline_is_a_scan_error(tmp_path: Path) -> None:
    baseline = tmp_path / "b.json"
    baseline.write_text("{not json")
    with pytest.raises(ScanError, match="detect-secrets failed"):
        run_scan(tmp_path, baseline)


def test_ci_build_is_valid_and_scans_for_secrets() -> None:
    build = yaml.safe_load((REPO / "cloudbuild" / "ci.yaml").read_text())
    assert set(build) == {"steps", "substitutions", "options", "tags", "timeout", "artifacts"}
    assert "ci" in build["tags"]
    assert all(name.startswith("_") for name in build["substitutions"])
    ids = [step["id"] for step in build["steps"]]
    assert len(ids) == len(set(ids)) and "secret-scan" in ids
    for step in build["steps"]:
        assert {"id", "name"} <= set(step)
        assert set(step.get("waitFor", [])) <= set(ids)
    scan = next(s for s in build["steps"] if s["id"] == "secret-scan")
    command = scan["args"][-1].split()
    assert command[:3] == [".venv/bin/releasectl", "secrets", "scan"]
    assert (REPO / command[command.index("--baseline") + 1]).exists()


def test_the_scan_command_exits_1_without_printing_the_secret(tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from shared.cli.secrets_cmds import app

    (tmp_path / "leak.py").write_text(f'KEY = "{FAKE_AWS_KEY}"\n')
    args = ["scan", "--root", str(tmp_path), "--baseline", str(tmp_path / "none")]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 1
    assert "leak.py:1: AWS Access Key" in result.output and FAKE_AWS_KEY not in result.output
    (tmp_path / "leak.py").unlink()
    assert CliRunner().invoke(app, args).exit_code == 0
