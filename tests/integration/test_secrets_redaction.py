"""A secret value the process has read never reaches the core's dead letters or log lines."""

from __future__ import annotations

import base64
import io
import json
import logging
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from shared.config import PlaneConfig
from shared.entrypoints import decode_command, deliver
from shared.log import JsonFormatter
from shared.secrets.handler import read_value
from shared.secrets.local_store import LocalSecretStore
from tests.integration.test_secrets_gate import make_bus

PLANTED = "planted-kyc-value-8d1e0c"


def test_a_read_secret_is_scrubbed_from_dead_letters_and_logs(
    firestore_db: Any, plane: PlaneConfig, tmp_path: Path
) -> None:
    store = LocalSecretStore(tmp_path, plane.env("staging").project)
    store.add_version("KYC_API_KEY", PLANTED.encode())
    assert read_value(store, "KYC_API_KEY") == PLANTED  # registers it with the redactor
    bus = make_bus(firestore_db, plane, tmp_path, datetime.now(UTC))
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(JsonFormatter())
    logger = logging.getLogger("shared")
    logger.addHandler(handler)
    try:
        bad = json.dumps({"type": "release.create", "version": PLANTED, "note": PLANTED})
        envelope = {"message": {"data": base64.b64encode(bad.encode()).decode()}}
        outcome = deliver(bus, "dl-1", envelope, topic="release-commands", decode=decode_command)
    finally:
        logger.removeHandler(handler)
    assert outcome.outcome == "refused"
    letter = (
        firestore_db.collection("deadLetters").document("release-commands:dl-1").get().to_dict()
    )
    assert PLANTED not in json.dumps(letter, default=str)
    assert "[REDACTED]" in letter["payload"]
    assert PLANTED not in stream.getvalue()
