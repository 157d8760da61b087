"""Feature flags: model, Remote Config-compatible bucketing, cached evaluation, console guard.

The app-facing call is `is_feature_enabled_for_user(flag, user_id)`; it reads an in-memory
snapshot kept fresh by a Firestore listener, so an evaluation never does I/O.

The names below are loaded on first use: the control plane's functions import submodules
(`shared.flags.releases`, …) and must not pay for the evaluator and its Firestore types at
cold start.
"""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from shared.flags.evaluation import FlagEvaluator, FlagSnapshot
    from shared.flags.model import Flag, FlagInvalid, parse_flag
    from shared.flags.runtime import install, is_feature_enabled_for_user

_WHERE = {
    "Flag": "model",
    "FlagInvalid": "model",
    "parse_flag": "model",
    "FlagEvaluator": "evaluation",
    "FlagSnapshot": "evaluation",
    "install": "runtime",
    "is_feature_enabled_for_user": "runtime",
}
__all__ = [
    "Flag",
    "FlagEvaluator",
    "FlagInvalid",
    "FlagSnapshot",
    "install",
    "is_feature_enabled_for_user",
    "parse_flag",
]


def __getattr__(name: str) -> Any:
    module = _WHERE.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(import_module(f"{__name__}.{module}"), name)
