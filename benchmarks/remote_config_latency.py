"""Remote Config delivery latency (issue 15), median of N runs, on the real trigger path:
Firestore emulator → `on_flag_written` (functions-framework) → the Remote Config simulator, and
simulator update event → `on_remote_config_updated` → revert publish.

  published  a flag change written to Firestore (`FlagStore.change`, as the CLI does) → the
             server template delivers the new rollout (polled on the simulator)
  audited    baseline, same writes: → the guard's audit entry exists (what the guard did before
             it published anything)
  reverted   a console edit turning the safety flag panicTracking off → a newer template
             version delivers it on again (polled)
  round trip baseline: one publish done in this process (GET, validateOnly PUT, PUT)

    .venv/bin/python benchmarks/remote_config_latency.py [--runs 10]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import os

from google.cloud import firestore

from shared.config import DEFAULT_CONFIG_FILE, DEFAULT_CONTROL_PROJECT, load_config
from shared.flags import templates
from shared.flags.model import parse_flag
from shared.flags.publishing import TemplatePublisher
from shared.flags.remote_config import RemoteConfigRest, local_token
from shared.flags.store import FirestoreFlagStore
from shared.flags.templates import SERVER
from shared.local import emulators, pubsub_admin
from shared.local.functions_server import start_function
from shared.local.remote_config_sim import console_edit, serve
from shared.local.stack import register_flag_trigger

PROD = "demo-avalo-production"
POLL_S = 0.01
WAIT_S = 60.0


def until(probe: Callable[[], Any]) -> float:
    deadline = time.monotonic() + WAIT_S
    while not probe():
        if time.monotonic() > deadline:
            raise TimeoutError("no result in time")
        time.sleep(POLL_S)
    return time.perf_counter()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=10)
    args = parser.parse_args()
    logs = Path(tempfile.mkdtemp(prefix="bench-rc-"))
    pubsub = emulators.start_pubsub(logs)
    fs_port, rc_port = emulators.free_port(), emulators.free_port()
    fs_host = f"{emulators.HOST}:{fs_port}"
    env = {
        "FIRESTORE_EMULATOR_HOST": fs_host,
        "PUBSUB_EMULATOR_HOST": pubsub.host_port,
        "GOOGLE_CLOUD_PROJECT": DEFAULT_CONTROL_PROJECT,
        "RELEASECTL_REMOTE_CONFIG_URL": f"http://{emulators.HOST}:{rc_port}",
    }
    os.environ.update(env)
    from google.cloud import pubsub_v1  # type: ignore[attr-defined]

    pubsub_admin.ensure_topic(
        pubsub_v1.PublisherClient(), DEFAULT_CONTROL_PROJECT, "release-events"
    )
    stops: list[Any] = [pubsub]
    try:
        guard = start_function("on_flag_written", env, logs)
        governor = start_function("on_remote_config_updated", env, logs)
        stops += [guard, governor]
        sim = serve(rc_port, deliver_to=[governor.url + "/"])
        stops.append(sim)
        fs = emulators.start_firestore(logs, port=fs_port, functions_emulator=guard.url[7:])
        stops.append(fs)
        register_flag_trigger(fs_host, PROD, "on_flag_written")
        run(args.runs, sim.url)
    finally:
        for part in reversed(stops):
            part.stop()


def run(runs: int, sim_url: str) -> None:
    db = firestore.Client(project=PROD)
    store = FirestoreFlagStore(db)
    api = RemoteConfigRest(sim_url, local_token("bench@local"))
    flags = db.collection("featureFlags")
    flags.document("panicTracking").set({"enabled": True, "rolloutPercent": 100, "alwaysOn": True})
    flags.document("videoCalls").set({"enabled": True, "rolloutPercent": 1})
    until(lambda: templates.read(SERVER, api.get(PROD, SERVER).template, "videoCalls"))
    published, audited, reverted, direct = [], [], [], []
    for i in range(runs):
        percent = 2 + i
        micro = percent * 1_000_000
        start = time.perf_counter()
        store.change(
            "videoCalls",
            lambda cur, p=percent: parse_flag("videoCalls", {**cur.to_doc(), "rolloutPercent": p}),  # type: ignore[union-attr]
            f"bench-{i}",
            datetime.now(UTC),
        )
        audit = flags.document("videoCalls").collection("audit")
        audited.append(
            until(lambda a=audit, i=i: list(a.where("actor", "==", f"bench-{i}").limit(1).stream()))
            - start
        )
        published.append(
            until(
                lambda m=micro: (
                    (d := templates.read(SERVER, api.get(PROD, SERVER).template, "videoCalls"))
                    and d.micro == m
                )
            )
            - start
        )
    for i in range(runs):
        start = time.perf_counter()
        edit = console_edit(
            sim_url,
            PROD,
            SERVER,
            f"mallory{i}@avalo.app",
            lambda t: t["parameters"]["panicTracking"].update(defaultValue={"value": "false"}),
        )
        number = int(edit["versionNumber"])

        def back(n: int = number) -> bool:
            got = api.get(PROD, SERVER)
            on = templates.read(SERVER, got.template, "panicTracking") == templates.ON
            return got.version.version_number > n and on

        reverted.append(until(back) - start)
    plane = load_config(DEFAULT_CONFIG_FILE)
    publisher = TemplatePublisher(plane=plane, stores=lambda _p: store, api=api)
    for i in range(runs):
        flags.document("videoCalls").set({"enabled": True, "rolloutPercent": 50 + i})
        start = time.perf_counter()
        publisher.publish_namespace("production", SERVER, "bench direct")
        direct.append(time.perf_counter() - start)
    report(runs, published, audited, reverted, direct)


def report(
    runs: int,
    published: list[float],
    audited: list[float],
    reverted: list[float],
    direct: list[float],
) -> None:
    def ms(values: list[float]) -> str:
        low, high = min(values) * 1000, max(values) * 1000
        return f"{statistics.median(values) * 1000:.0f} ms (min {low:.0f}, max {high:.0f})"

    def ratio(a: list[float], b: list[float]) -> str:
        return f"{statistics.median(a) / statistics.median(b):.2f}"

    print(f"runs: {runs}")
    print(f"flag change → template published (median): {ms(published)}")
    print(f"  baseline, same writes → guard's audit entry: {ms(audited)}")
    print(f"  ratio published / audited: {ratio(published, audited)}")
    print(f"console edit → reverted (median): {ms(reverted)}")
    print(f"  baseline, one in-process publish round trip: {ms(direct)}")
    print(f"  ratio reverted / round trip: {ratio(reverted, direct)}")


if __name__ == "__main__":
    main()
