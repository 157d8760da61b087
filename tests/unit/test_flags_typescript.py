"""The app's TypeScript reference (`examples/feature-flags.ts`) agrees with the vectors.

Needs `node`; the TypeScript compiler comes from the npm registry into a per-user cache the
first time (skipped, with the reason, if neither is available).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
EXAMPLE = REPO / "examples" / "feature-flags.ts"
RUNNER = Path(__file__).resolve().parent / "flags_ts_runner.mjs"
VECTORS = REPO / "tests" / "vectors" / "flag_buckets.json"
TS_VERSION = "5.9"  # the JavaScript compiler API; 7.x is the native port
CACHE = Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "releasectl-typescript"


def _tsc() -> Path:
    if shutil.which("node") is None:
        pytest.skip("node is not installed")
    tsc = CACHE / "node_modules" / "typescript" / "bin" / "tsc"
    if not tsc.exists():
        if shutil.which("npm") is None:
            pytest.skip("npm is not installed")
        CACHE.mkdir(parents=True, exist_ok=True)
        result = subprocess.run(
            ["npm", "install", "--prefix", str(CACHE), f"typescript@{TS_VERSION}",
             "--no-audit", "--no-fund", "--silent"],
            capture_output=True, text=True, timeout=300, check=False,
        )  # fmt: skip
        if result.returncode != 0 or not tsc.exists():
            pytest.skip(f"could not install typescript: {result.stderr[-300:]}")
    return tsc


def test_typescript_reference_matches_the_vectors(tmp_path: Path) -> None:
    tsc = _tsc()
    compiled = subprocess.run(
        ["node", str(tsc), "--strict", "--target", "es2022", "--module", "es2022",
         "--lib", "es2022,dom", "--outDir", str(tmp_path), str(EXAMPLE)],
        capture_output=True, text=True, timeout=300, check=False,
    )  # fmt: skip
    assert compiled.returncode == 0, compiled.stdout + compiled.stderr  # strict type check
    (tmp_path / "package.json").write_text(json.dumps({"type": "module"}))
    run = subprocess.run(
        ["node", str(RUNNER), str(tmp_path / "feature-flags.js"), str(VECTORS)],
        capture_output=True, text=True, timeout=300, check=False,
    )  # fmt: skip
    assert run.returncode == 0, run.stdout + run.stderr
    passed, failed = (int(w) for w in run.stdout.split()[::2][:2])
    assert failed == 0
    assert passed > 2000  # every vector and percent check ran
