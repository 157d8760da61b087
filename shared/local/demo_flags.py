"""The demo's Remote Config act: edits "in the Firebase console" of production's templates,
made on the local stack's Remote Config simulator, and what the control plane does with them
with no command: a safety flag turned off is rolled back; a rollout change is adopted."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any, TypeVar

from shared.config import load_config
from shared.errors import ControlPlaneError
from shared.flags import templates
from shared.flags.remote_config import RemoteConfigRest, local_token
from shared.flags.templates import CLIENT, SERVER
from shared.local.remote_config_sim import console_edit
from shared.local.state import StackState

CONSOLE_USER = "dana@avalo.app"
ENV = "production"
WAIT_S = 120.0
T = TypeVar("T")


class DemoFailed(ControlPlaneError):
    pass


def _until(probe: Callable[[], T], what: str) -> T:
    deadline = time.monotonic() + WAIT_S
    while True:
        value = probe()
        if value:
            return value
        if time.monotonic() > deadline:
            raise DemoFailed(f"timed out waiting for {what}")
        time.sleep(0.2)


class ConsoleAct:
    def __init__(self, stack: StackState) -> None:
        if stack.remote_config is None:
            raise DemoFailed("this local stack has no Remote Config simulator: restart it")
        self.url = f"http://127.0.0.1:{stack.remote_config.port}"
        self.project = load_config(stack.config_file).env(ENV).project
        self.api = RemoteConfigRest(self.url, local_token("demo@local"))

    def _delivers(self, namespace: str, flag: str) -> templates.Delivery | None:
        return templates.read(namespace, self.api.get(self.project, namespace).template, flag)

    def panic_tracking_off(self) -> str:
        _until(lambda: self._delivers(SERVER, "panicTracking"), "panicTracking published")

        def off(template: dict[str, Any]) -> None:
            template["parameters"]["panicTracking"]["defaultValue"] = {"value": "false"}

        edit = console_edit(self.url, self.project, SERVER, CONSOLE_USER, off)
        number = int(edit["versionNumber"])

        def restored() -> int:
            got = self.api.get(self.project, SERVER)
            on = templates.read(SERVER, got.template, "panicTracking") == templates.ON
            return got.version.version_number if got.version.ours and on else 0

        back = _until(restored, "the console edit rolled back")
        return f"v{number} by {CONSOLE_USER} rolled back: v{back} has panicTracking on again"

    def video_calls_to_25(self) -> str:
        from google.cloud import firestore

        _until(lambda: self._delivers(CLIENT, "videoCalls"), "videoCalls published")

        def to_25(template: dict[str, Any]) -> None:
            for cond in template["conditions"]:
                if cond["name"] == templates.condition_name("videoCalls", "rollout"):
                    cond["expression"] = "percent('videoCalls') between 0 and 25"
                    return
            raise DemoFailed("videoCalls has no rollout condition in production (is it on?)")

        edit = console_edit(self.url, self.project, CLIENT, CONSOLE_USER, to_25)
        doc = (
            firestore.Client(project=self.project).collection("featureFlags").document("videoCalls")
        )
        _until(lambda: (doc.get().to_dict() or {}).get("rolloutPercent") == 25, "25% adopted")
        return (
            f"v{edit['versionNumber']} by {CONSOLE_USER} adopted: featureFlags/videoCalls is "
            "at 25% (`releasectl flags list --env production`)"
        )


def acts(stack: StackState) -> list[tuple[str, Callable[[], str]]]:
    act = ConsoleAct(stack)
    return [
        (
            "console: panicTracking off in production's Remote Config → rolled back, no command",
            act.panic_tracking_off,
        ),
        (
            "console: videoCalls → 25% in Remote Config → adopted into Firestore",
            act.video_calls_to_25,
        ),
    ]
