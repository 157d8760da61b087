"""A Firestore emulator for one benchmark run (started and stopped by the benchmark)."""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from shared.local import emulators


@contextmanager
def firestore_emulator() -> Iterator[str]:
    logs = Path(tempfile.mkdtemp(prefix="bench-"))
    emulator = emulators.start_firestore(logs)
    os.environ["FIRESTORE_EMULATOR_HOST"] = emulator.host_port
    try:
        yield emulator.host_port
    finally:
        emulator.stop()
