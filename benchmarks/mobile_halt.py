"""Mobile halt latency (issue 14): a breaching app-metrics batch handled → the Android release
halted and the iOS phased release paused, as seen from the store simulators. Median of N runs,
split into

  detection  the batch handed to `on_app_metrics`'s handler → the crash watch reports the
             breach (batch stored, the build's windows read and judged, its train found)
  decision   → the first store call starts (the bus's transaction: both trains staged with
             their halt pending, history, outbox)
  stores     → both simulators show the halt (Play: an edit committed with `status: halted`;
             App Store Connect: the phased release `PAUSED`), read back over HTTP

Baseline, measured in the same run: the same handler storing a batch that does not breach.

What it is not: Pub/Sub delivery (≈0.2 s a hop on the emulator) and the function server are
left out; the handler runs in this process on the Firestore emulator, the store adapters talk
HTTP to in-process simulators. The issue's goal (≤ 5 s with a 1 s tick) adds one push hop.

    .venv/bin/python benchmarks/mobile_halt.py [--runs 5]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import httpx

from benchmarks._emulator import firestore_emulator
from shared import bootstrap
from shared.approvals.tokens import EMULATOR_ENV, LOCAL_AUTH_EMULATOR
from shared.config import Settings
from shared.dead_letters import INTERNAL
from shared.entrypoints import consume, decode_command, deliver
from shared.local import emulators
from shared.local.store_keys import service_account_info
from shared.secrets.local_store import LocalSecretStore
from tests.integration.core_stack import command
from tests.integration.store_sims import APP_ID, GROUP, PACKAGE, running_stores
from tests.pubsub_envelope import envelope

CONFIG = f"""
[environments.dev]
project = "demo-avalo-dev"
[environments.staging]
project = "demo-avalo-staging"
[environments.production]
project = "demo-avalo-production"
approval_required = true
[mobile]
env = "staging"
testing_env = "staging"
[mobile.android]
package_name = "{PACKAGE}"
[mobile.ios]
app_id = "{APP_ID}"
internal_group = "{GROUP}"
issuer_id = "bench-issuer"
key_id = "BENCH1"
[mobile.crash]
consecutive_windows = 1
"""


def batch(version: str, minute: datetime, crashed: int, n: str, build: int) -> Any:
    body = {
        "batchId": f"{version}-{n}",
        "env": "staging",
        "windowStart": minute.isoformat(),
        "windowSeconds": 60,
        "platform": "android",
        "build": build,
        "counters": {
            "sessions": 5000,
            "crashedSessions": crashed,
            "users": 4000,
            "crashedUsers": crashed,
        },
    }
    return envelope(json.dumps(body).encode())


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="bench-mobile-"))
    (tmp / "environments.toml").write_text(CONFIG)
    pubsub = emulators.start_pubsub(tmp)
    os.environ["PUBSUB_EMULATOR_HOST"] = pubsub.host_port
    try:
        with firestore_emulator(), running_stores() as stores:
            _bench(args.runs, tmp, stores)
    finally:
        pubsub.stop()


def _bench(runs_wanted: int, tmp: Path, stores: Any) -> None:
    from google.cloud import pubsub_v1  # type: ignore[attr-defined]

    from shared.local.pubsub_admin import ensure_topic

    ensure_topic(pubsub_v1.PublisherClient(), "demo-release-control", "release-events")
    stores.asc_sim.issuer_id, stores.asc_sim.key_id = "bench-issuer", "BENCH1"
    secrets = LocalSecretStore(tmp / "secrets", "demo-avalo-staging")
    info = service_account_info(stores.rsa, f"{stores.play_sim.url}token", "demo-avalo-staging")
    secrets.add_version("play-service-account", json.dumps(info).encode())
    secrets.add_version("app-store-connect-key", stores.ec.private_pem.encode())
    os.environ.update(
        {
            "GOOGLE_CLOUD_PROJECT": "demo-release-control",
            "RELEASECTL_CONFIG_FILE": str(tmp / "environments.toml"),
            "RELEASECTL_SECRETS_DIR": str(tmp / "secrets"),
            "RELEASECTL_SECRETS_BACKEND": "local",  # pragma: allowlist secret
            "RELEASECTL_PLAY_URL": stores.play_sim.url,
            "RELEASECTL_PLAY_REPORTING_URL": stores.play_sim.url,
            "RELEASECTL_APP_STORE_CONNECT_URL": stores.asc_sim.url,
            "RELEASECTL_BUILD_BACKEND": "none",
            "RELEASECTL_DEPLOY_TARGET": "none",
            EMULATOR_ENV: LOCAL_AUTH_EMULATOR,  # commands are signed (Auth emulator tokens)
        }
    )
    settings = Settings()
    bus = bootstrap.bus(settings)
    handler = bootstrap.metrics_handler(settings)
    marks: dict[str, float] = {}
    store_calls = bus.ports.stores.carry_out

    def carry_out(effect: Any) -> Any:
        marks.setdefault("decision", time.perf_counter())
        return store_calls(effect)

    bus.ports.stores.carry_out = carry_out  # type: ignore[method-assign]

    def report(breach: Any, key: str) -> Any:
        marks["detection"] = time.perf_counter()
        return bus.handle(breach, event_id=key, topic=INTERNAL)

    handler.observe = lambda b: _observe(settings, b, report)
    runs: list[dict[str, float]] = []
    baseline: list[float] = []
    for run in range(runs_wanted):
        version = f"9.{run}.{uuid.uuid4().int % 10000}"
        build = 4300 + run  # a new build each run: a breach is judged once per build window
        stores.play_sim.uploads[PACKAGE].add(build)
        stores.asc_sim._add_build(build)
        _release(bus, stores, version, build)
        minute = datetime.now(UTC).replace(second=0, microsecond=0) - timedelta(minutes=1)
        t = time.perf_counter()
        consume(
            handler,
            f"{version}-ok",
            batch(version, minute - timedelta(minutes=2), 1, "ok", build),
            topic="app-metrics",
        )
        baseline.append(time.perf_counter() - t)
        marks.clear()
        start = time.perf_counter()
        consume(
            handler,
            f"{version}-bad",
            batch(version, minute, 400, "bad", build),
            topic="app-metrics",
        )
        _until_halted(stores, version)
        end = time.perf_counter()
        runs.append(
            {
                "detection": marks["detection"] - start,
                "decision": marks["decision"] - marks["detection"],
                "stores": end - marks["decision"],
                "total": end - start,
            }
        )
    _print(runs, baseline)


def _observe(settings: Settings, b: Any, report: Any) -> Any:
    from shared.mobile.crash import CrashWatch
    from shared.mobile.store import FirestoreCrashSamples, FirestoreTrainFinder

    db = bootstrap.control_db(settings)
    cfg = settings.plane.mobile
    assert cfg is not None
    watch = CrashWatch(
        cfg=cfg, samples=FirestoreCrashSamples(db), trains=FirestoreTrainFinder(db), report=report
    )
    return watch.observe(b)


def _release(bus: Any, stores: Any, version: str, build: int) -> None:
    def send(**body: Any) -> None:
        record = deliver(
            bus,
            uuid.uuid4().hex,
            envelope(command(**body)),  # signed by its sender, as releasectl signs
            topic="release-commands",
            decode=decode_command,
        )
        if record.outcome == "refused":
            raise SystemExit(f"{body['type']} refused: {record.note}")

    send(
        type="release.create",
        version=version,
        commit="ab" * 20,
        branch="main",
        author="b",
        artifacts={"android": f"versionCode:{build}", "ios": f"build:{build}"},
    )
    for track in ("internal", "closed", "production"):
        send(type="mobile.promote", release=version, platform="android", track=track, actor="b")
    send(type="mobile.promote", release=version, platform="ios", track="testflight", actor="b")
    send(type="mobile.submit", release=version, actor="b")
    httpx.post(f"{stores.asc_sim.url}_sim/review", json={"build": build}).raise_for_status()
    send(type="mobile.release", release=version, actor="b")


def _until_halted(stores: Any, version: str) -> None:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        play = httpx.get(f"{stores.play_sim.url}_sim/state").json()["apps"][PACKAGE]
        asc = httpx.get(f"{stores.asc_sim.url}_sim/state").json()
        halted = play["production"]["releases"][0]["status"] == "halted"
        phased = list(asc["phasedReleases"].values())
        if halted and phased and phased[-1]["phasedReleaseState"] == "PAUSED":
            return
        time.sleep(0.01)
    raise SystemExit(f"{version}: not halted within 30 s")


def _print(runs: list[dict[str, float]], baseline: list[float]) -> None:
    def med(key: str) -> float:
        return statistics.median(r[key] for r in runs)

    base = statistics.median(baseline)
    print(
        f"mobile halt, median of {len(runs)} runs (in-process handler, Firestore emulator, "
        "store simulators over HTTP)"
    )
    for key in ("detection", "decision", "stores", "total"):
        print(f"  {key:<10} {med(key) * 1000:8.1f} ms")
    print(f"  baseline   {base * 1000:8.1f} ms  (a batch that does not breach, stored and judged)")
    print(f"  ratio      {med('total') / base:8.1f} x baseline")


if __name__ == "__main__":
    main()
