"""A free port can be taken between picking it and binding it: starting retries elsewhere."""

from __future__ import annotations

import socket
from collections.abc import Iterator
from pathlib import Path

import pytest

from shared.local import emulators


def test_an_emulator_whose_port_was_taken_starts_on_another(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    with socket.socket() as squatter:
        squatter.bind((emulators.HOST, 0))
        squatter.listen()
        taken = squatter.getsockname()[1]
        real_free_port = emulators.free_port
        ports: Iterator[int] = iter([taken])
        monkeypatch.setattr(emulators, "free_port", lambda: next(ports, None) or real_free_port())

        emulator = emulators.start_firestore(tmp_path)
        try:
            assert emulator.port != taken
            assert "already in use" in (tmp_path / "firestore.log").read_text().lower()
        finally:
            emulator.stop()
