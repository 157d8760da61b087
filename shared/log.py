"""Structured JSON log lines that Cloud Logging understands (one object per line on stdout).

Only ids travel in log records (release, env, event id, topic), never payloads; every message
passes through `redact` on the way out.
"""

from __future__ import annotations

import json
import logging
import sys
from datetime import UTC, datetime

from shared.redaction import redact

# logging level -> Cloud Logging LogSeverity (https://cloud.google.com/logging/docs/reference/v2/rest/v2/LogEntry#logseverity)
_SEVERITY = {
    logging.DEBUG: "DEBUG",
    logging.INFO: "INFO",
    logging.WARNING: "WARNING",
    logging.ERROR: "ERROR",
    logging.CRITICAL: "CRITICAL",
}
_FIELDS = ("release", "env", "event_id", "topic", "build_id", "elapsed_ms")


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, object] = {
            "severity": _SEVERITY.get(record.levelno, "DEFAULT"),
            "message": redact(record.getMessage()),
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(),
            "logger": record.name,
        }
        labels = {k: str(v) for k in _FIELDS if (v := getattr(record, k, None)) is not None}
        if labels:
            entry.update(labels)
            entry["logging.googleapis.com/labels"] = labels
        if record.exc_info:
            entry["stack_trace"] = redact(self.formatException(record.exc_info))
        return json.dumps(entry, default=str)


def configure(level: int = logging.INFO) -> None:
    """Send the control plane's logs to stdout as JSON lines (idempotent)."""
    root = logging.getLogger("shared")
    if any(isinstance(h.formatter, JsonFormatter) for h in root.handlers):
        return
    handler = logging.StreamHandler(sys.stdout)
    handler.setFormatter(JsonFormatter())
    root.addHandler(handler)
    root.setLevel(level)
    root.propagate = False
