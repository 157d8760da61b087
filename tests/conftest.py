"""Shared fixtures. The emulators start once per test session, only if a test asks for them."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from shared.approvals.tokens import EMULATOR_ENV, LOCAL_AUTH_EMULATOR
from shared.config import DEFAULT_CONTROL_PROJECT, PlaneConfig, load_config
from shared.local import emulators

REPO = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="session")
def plane() -> PlaneConfig:
    return load_config(REPO / "config" / "environments.toml")


@pytest.fixture(scope="session")
def emulator_log_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("emulators")


@pytest.fixture(scope="session")
def emulator_env(emulator_log_dir: Path) -> Iterator[dict[str, str]]:
    """Firestore and Pub/Sub emulators on free ports; their hosts set in os.environ."""
    firestore = emulators.start_firestore(emulator_log_dir)
    try:
        pubsub = emulators.start_pubsub(emulator_log_dir)
    except BaseException:
        firestore.stop()
        raise
    env = {
        "FIRESTORE_EMULATOR_HOST": firestore.host_port,
        "PUBSUB_EMULATOR_HOST": pubsub.host_port,
        "GOOGLE_CLOUD_PROJECT": DEFAULT_CONTROL_PROJECT,
        EMULATOR_ENV: LOCAL_AUTH_EMULATOR,  # approvals carry Auth emulator tokens
    }
    with pytest.MonkeyPatch.context() as mp:
        for key, value in env.items():
            mp.setenv(key, value)
        try:
            yield env
        finally:
            pubsub.stop()
            firestore.stop()


@pytest.fixture
def firestore_db(emulator_env: dict[str, str]) -> Iterator[object]:
    """A Firestore client on the control project, emptied before each test."""
    from google.cloud import firestore

    emulators.reset_firestore(emulator_env["FIRESTORE_EMULATOR_HOST"], DEFAULT_CONTROL_PROJECT)
    client = firestore.Client(project=DEFAULT_CONTROL_PROJECT)
    yield client
    client.close()


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if "emulator_env" in getattr(item, "fixturenames", ()):
            item.add_marker(pytest.mark.emulators)
