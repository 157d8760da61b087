"""The local stack's store simulators: started as their own processes with fresh keys, the
private halves in the stack's secret store, listed as parts, and reached by the production
adapters through the URLs the stack hands to every process."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest

from shared import bootstrap
from shared.config import DEFAULT_CONFIG_FILE, Settings, load_config
from shared.local import stack
from shared.local.state import Proc, simulator_urls


def test_the_stack_starts_both_simulators_and_the_adapters_reach_them(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    plane = load_config()
    started = stack._Started()
    try:
        sims = stack._start_simulators(tmp_path, plane, tmp_path / "logs", started, 30.0)
        assert set(sims) == {"play", "app-store-connect"}
        asc = httpx.get(f"http://127.0.0.1:{sims['app-store-connect'].port}/_sim/state").json()
        assert asc["daySeconds"] == 30.0  # a phased release day as `local up` was told
        urls = simulator_urls(sims)
        assert set(urls) == {
            "RELEASECTL_PLAY_URL",
            "RELEASECTL_PLAY_REPORTING_URL",
            "RELEASECTL_APP_STORE_CONNECT_URL",
        }
        for key, value in {
            **urls,
            "RELEASECTL_CONFIG_FILE": str(DEFAULT_CONFIG_FILE),
            "RELEASECTL_SECRETS_DIR": str(tmp_path / "secrets"),
            "RELEASECTL_SECRETS_BACKEND": "local",  # pragma: allowlist secret
        }.items():
            monkeypatch.setenv(key, value)
        settings = Settings()
        tracks = bootstrap.play_store(settings).tracks()
        assert tracks["production"] == [] and "internal" in tracks
        assert bootstrap.app_store(settings).status(4100).detail["groups"] == []
    finally:
        started.stop()


def test_simulators_are_parts_of_the_stack() -> None:
    from shared.local.state import StackState

    state = StackState.model_validate(
        {
            "local_dir": "/tmp/x",
            "started_at": "2026-11-28T10:00:00Z",
            "firestore": {"pid": 1, "port": 1},
            "pubsub": {"pid": 2, "port": 2},
            "functions": {},
            "apps": {},
            "config_file": "/tmp/x/environments.toml",
            "simulators": {"play": Proc(pid=3, port=9001).model_dump()},
        }
    )
    (part,) = [p for p in state.parts() if p.kind == "simulator"]
    assert (part.name, part.url) == ("sim-play", "http://127.0.0.1:9001")
    assert state.environment()["RELEASECTL_PLAY_URL"] == "http://127.0.0.1:9001/"
