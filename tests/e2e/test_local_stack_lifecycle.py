"""`local up` twice starts one stack; `local down` stops every process it started."""

from __future__ import annotations

from pathlib import Path

from shared.local.build_runner import builds_dir
from shared.local.emulators import port_open
from shared.local.stack import Options, down, up
from tests.e2e.conftest import pids_alive


def test_up_twice_is_one_stack_and_down_leaves_nothing_behind(tmp_path: Path) -> None:
    options = Options(local_dir=tmp_path, seed=False)
    stale = builds_dir(tmp_path) / "keys" / "1.0.0-production-1-migrate"  # a last stack's build
    stale.parent.mkdir(parents=True)
    stale.write_text("old-build-id")
    first = up(options, say=print)
    try:
        assert not stale.exists()  # a new stack starts a build its keys say was started
        stale.parent.mkdir(parents=True)
        stale.write_text("this-stack's-build")
        again = up(options, say=print)
        assert again.pids() == first.pids()
        assert stale.read_text() == "this-stack's-build"  # a running stack keeps its records
        assert pids_alive(first.pids()) == first.pids()
    finally:
        assert down(tmp_path, say=print)
    assert pids_alive(first.pids()) == []
    ports = [
        first.firestore.port,
        first.pubsub.port,
        *(p.port for p in first.functions.values()),
        *(a.port for a in first.apps.values()),
    ]
    assert [p for p in ports if p and port_open(p)] == []
    assert not (tmp_path / "stack.json").exists()
    assert down(tmp_path, say=print) is False  # nothing left to stop
