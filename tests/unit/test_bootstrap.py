"""The factories the composition root calls build the real adapters from the repo's config."""

from __future__ import annotations

from pathlib import Path

import pytest

from shared.bootstrap import bake_analysis, gate_runner, metrics_handler, smoke_runner
from shared.config import Settings
from shared.gates.ci_builds import FirestoreCiBuilds, LocalDirCiBuilds
from shared.gates.handler import ComplianceGates
from shared.monitoring.bake import MetricsBakeAnalysis
from shared.monitoring.handler import MetricsHandler
from shared.smoke.handler import HttpSmokeRunner


@pytest.fixture
def settings(monkeypatch: pytest.MonkeyPatch) -> Settings:
    # Clients are only constructed (nothing is contacted): an emulator host needs no credentials.
    monkeypatch.setenv("FIRESTORE_EMULATOR_HOST", "127.0.0.1:9")
    monkeypatch.delenv("RELEASECTL_LOCAL_DIR", raising=False)
    return Settings(local_dir=None)


def test_every_factory_builds_from_the_repository_files(settings: Settings) -> None:
    gates = gate_runner(settings)
    assert isinstance(gates, ComplianceGates)
    assert isinstance(gates.ci, FirestoreCiBuilds)  # bare emulators: ciBuilds/ in Firestore
    assert gates.secrets is not None
    assert isinstance(smoke_runner(settings), HttpSmokeRunner)
    assert isinstance(bake_analysis(settings), MetricsBakeAnalysis)
    assert isinstance(metrics_handler(settings), MetricsHandler)


def test_with_a_local_stack_dir_the_ci_evidence_is_the_runners_files(
    settings: Settings, tmp_path: Path
) -> None:
    local = settings.model_copy(update={"local_dir": tmp_path})
    gates = gate_runner(local, base_urls={"dev": "http://127.0.0.1:1"})
    assert isinstance(gates.ci, LocalDirCiBuilds)
    assert gates.ci.dir == tmp_path / "builds"
    assert gates.base_urls == {"dev": "http://127.0.0.1:1"}
    assert smoke_runner(local).base_urls == {}  # no stack.json: the file's base_url


def test_the_root_builds_what_every_function_target_needs(settings: Settings) -> None:
    from shared import bootstrap
    from shared.adapters.dead_letters import FirestoreDeadLetters
    from shared.flags.handler import FlagGuard
    from shared.notify.handler import Notifier
    from shared.service.messagebus import MessageBus

    assert isinstance(bootstrap.bus(settings), MessageBus)
    assert isinstance(bootstrap.notifier(settings), Notifier)
    assert isinstance(bootstrap.metrics_handler(settings), MetricsHandler)
    assert isinstance(bootstrap.flag_guard(settings), FlagGuard)
    assert isinstance(bootstrap.dead_letters(settings), FirestoreDeadLetters)
