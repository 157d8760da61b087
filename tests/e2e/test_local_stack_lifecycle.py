"""`local up` twice starts one stack; `local down` stops every process it started."""

from __future__ import annotations

from pathlib import Path

from shared.local.emulators import port_open
from shared.local.stack import Options, down, up
from tests.e2e.conftest import pids_alive


def test_up_twice_is_one_stack_and_down_leaves_nothing_behind(tmp_path: Path) -> None:
    options = Options(local_dir=tmp_path, seed=False)
    first = up(options, say=print)
    try:
        again = up(options, say=print)
        assert again.pids() == first.pids()
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
