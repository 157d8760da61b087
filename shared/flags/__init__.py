"""Feature flags: model, Remote Config-compatible bucketing, cached evaluation, console guard.

The app-facing call is `is_feature_enabled_for_user(flag, user_id)`; it reads an in-memory
snapshot kept fresh by a Firestore listener, so an evaluation never does I/O.
"""

from __future__ import annotations

from shared.flags.evaluation import FlagEvaluator, FlagSnapshot
from shared.flags.model import Flag, FlagInvalid, parse_flag
from shared.flags.runtime import install, is_feature_enabled_for_user

__all__ = [
    "Flag",
    "FlagEvaluator",
    "FlagInvalid",
    "FlagSnapshot",
    "install",
    "is_feature_enabled_for_user",
    "parse_flag",
]
