"""Errors of the migrations engine.

`BadMigrationInput` is input that can never work (exit 2, nothing written); the others are a
run that was asked for properly and failed (exit 1).
"""

from __future__ import annotations

from shared.errors import ControlPlaneError


class MigrationError(ControlPlaneError):
    """Base of every error the migrations engine raises on purpose."""


class BadMigrationInput(MigrationError):
    """A malformed migration file, a bad version, or a request that is refused as asked."""


class ValidationFailed(MigrationError):
    """Applied migrations and the files on disk disagree (edited or missing files)."""


class LockHeld(MigrationError):
    """Another run holds the environment's migration lock."""


class LockLost(MigrationError):
    """This run's lease ran out and another run took the lock: stop before writing more."""


class ProtectedWrite(MigrationError):
    """A migration tried to write a protected collection it did not declare (or without --force)."""


class MigrationFailed(MigrationError):
    """A migration's `up` or `down` raised; the history entry records the failure."""
