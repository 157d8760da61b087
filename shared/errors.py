"""One exception hierarchy for the control plane.

`Refused` means the input can never be valid (dead-letter it and acknowledge);
anything else that escapes a handler is treated as transient (Pub/Sub redelivers).
"""


class ControlPlaneError(Exception):
    """Base of every error the control plane raises on purpose."""


class ConfigError(ControlPlaneError):
    """A configuration file or setting is missing or invalid."""


class Refused(ControlPlaneError):
    """An input that can never succeed: bad message, unknown release, illegal move."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class IllegalTransition(Refused):
    """A rollout was asked to move between two states the state machine does not connect."""


class NotFound(Refused):
    """A release, rollout or environment named by an input does not exist."""
