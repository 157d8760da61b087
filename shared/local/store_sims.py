"""The store simulators of the local stack: one process each (`python -m
shared.local.store_sims --kind play|app-store-connect --port N --config FILE`), made with fresh
keys whose private halves go into the stack's secret store, where the production adapters read
them (`play-service-account`, `app-store-connect-key`), exactly as on Google Cloud.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from shared.config import PlaneConfig
from shared.errors import ConfigError
from shared.local.asc_sim import AppStoreConnectSimulator
from shared.local.emulators import HOST, on_free_port, spawn, wait_ready
from shared.local.http_sim import Simulator
from shared.local.phased_release import DAY_S
from shared.local.play_sim import PlaySimulator
from shared.local.store_keys import (
    PLAY_CLIENT,
    ec_pair,
    rsa_pair,
    service_account_info,
)
from shared.secrets.local_store import LocalSecretStore

MODULE = "shared.local.store_sims"
# Builds the simulated stores know (uploaded to Play, processed by App Store Connect): the
# demo's and a range for releases made by hand.
DEMO_BUILDS = list(range(4000, 4300))
# what each simulator answers at, for the production adapters (StoreUrls)
URL_VARIABLES = {
    "play": ("RELEASECTL_PLAY_URL", "RELEASECTL_PLAY_REPORTING_URL"),
    "app-store-connect": ("RELEASECTL_APP_STORE_CONNECT_URL",),
}


def configs(
    plane: PlaneConfig, secrets_dir: Path, day_s: float = DAY_S
) -> dict[str, dict[str, Any]]:
    """Each simulator's config (public keys, the app, how long a phased release's day lasts),
    the private keys stored as secrets."""
    mobile = plane.mobile
    if mobile is None:
        return {}
    store = LocalSecretStore(secrets_dir, plane.env(mobile.env).project)
    out: dict[str, dict[str, Any]] = {}
    if mobile.android is not None:
        rsa = rsa_pair()
        out["play"] = {
            "client_email": PLAY_CLIENT,
            "public_key_pem": rsa.public_pem,
            "apps": {mobile.android.package_name: DEMO_BUILDS},
            "private_key_pem": rsa.private_pem,
        }
    if mobile.ios is not None:
        ec = ec_pair()
        store.add_version(mobile.ios.signing_key_name, ec.private_pem.encode())
        out["app-store-connect"] = {
            "issuer_id": mobile.ios.issuer_id,
            "key_id": mobile.ios.key_id,
            "public_key_pem": ec.public_pem,
            "app_id": mobile.ios.app_id,
            "builds": DEMO_BUILDS,
            "groups": [mobile.ios.internal_group],
            "day_s": day_s,
        }
    return out


def store_play_key(plane: PlaneConfig, secrets_dir: Path, private_pem: str, url: str) -> None:
    """The Play service account key names the simulator's token endpoint (its `token_uri`)."""
    from shared.local.store_keys import KeyPair

    mobile = plane.mobile
    if not (mobile is not None and mobile.android is not None):
        raise ConfigError("[mobile] has no android app")
    info = service_account_info(
        KeyPair(private_pem, ""), f"{url}token", plane.env(mobile.env).project
    )
    store = LocalSecretStore(secrets_dir, plane.env(mobile.env).project)
    store.add_version(mobile.android.service_account_name, json.dumps(info).encode())


def start(name: str, config: Path, log: Path, port: int | None = None) -> tuple[int, int]:
    """Start one simulator process (on `port`, or a free one); its (pid, port) once it answers."""

    def run(at: int) -> tuple[int, int]:
        cmd = [
            sys.executable,
            "-m",
            MODULE,
            "--kind",
            name,
            "--port",
            str(at),
            "--config",
            str(config),
        ]
        proc = spawn(cmd, log, {})
        wait_ready(f"http://{HOST}:{at}/_sim/state", f"{name} simulator", proc, log)
        return proc.pid, at

    return on_free_port(run, port)


def build(kind: str, config: dict[str, Any], port: int) -> Simulator:
    if kind == "play":
        fields = {k: config[k] for k in ("client_email", "public_key_pem", "apps")}
        return PlaySimulator(**fields, port=port)
    return AppStoreConnectSimulator(**config, port=port)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--kind", choices=sorted(URL_VARIABLES), required=True)
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--config", type=Path, required=True)
    args = parser.parse_args(argv)
    config = json.loads(args.config.read_text(encoding="utf-8"))[args.kind]
    build(args.kind, config, args.port).serve_forever()


if __name__ == "__main__":
    main()
