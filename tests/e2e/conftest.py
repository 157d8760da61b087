"""The whole local stack, started once by the tests themselves (per module that uses it)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from shared.cli import context
from shared.local.stack import Options, down, up
from shared.local.state import StackState, alive

CI_GATES = '"ciTests", "ciSecurityScan", "secrets", "sast", "sbom",'


def e2e_checks(directory: Path) -> Path:
    """config/checks.toml, except that production does not require the CI build's tests and
    scans: the e2e pushes run the lint step only (the gates themselves have their own tests)."""
    text = (REPO / "config" / "checks.toml").read_text()
    assert CI_GATES in text
    path = directory / "checks.toml"
    path.write_text(text.replace(CI_GATES, '"secrets",'))
    return path


# Module scope: the stack's environment variables must not leak into later test modules.
@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[StackState]:
    local_dir = tmp_path_factory.mktemp("stack")
    with pytest.MonkeyPatch.context() as checks:
        checks.setenv("RELEASECTL_CHECKS_FILE", str(e2e_checks(local_dir)))
        state = up(Options(local_dir=local_dir, bake_minutes=0, tick_seconds=1.0), say=print)
    with pytest.MonkeyPatch.context() as mp:
        for key, value in {
            **state.environment(),
            "GOOGLE_CLOUD_PROJECT": "demo-release-control",
        }.items():
            mp.setenv(key, value)
        for cached in (context.settings, context.db, context.publisher):
            cached.cache_clear()
        try:
            yield state
        finally:
            for cached in (context.settings, context.db, context.publisher):
                cached.cache_clear()
            down(local_dir, say=print)


def pids_alive(pids: list[int]) -> list[int]:
    return [pid for pid in pids if alive(pid)]


FAILING_CI = Path(__file__).parent / "failing-ci.yaml"
REPO = Path(__file__).resolve().parents[2]
