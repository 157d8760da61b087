"""Added latency of verifying a command's Firebase ID token, per command.

Measures, in the same run:
- `FirebaseTokenVerifier.verify` alone, for an RS256 token signed like Google's (firebase-admin's
  production path: signature, audience, issuer, expiry; Google's public certificates served
  from memory, as a warm instance holds them in its HTTP cache) and for an Auth emulator token
  (the local stack's path);
- one `release.create` through the message bus on the Firestore emulator, signed (verified,
  role checked) against the same command unsigned (`signed_commands = false`): the baseline.

    .venv/bin/python benchmarks/signed_commands.py [--commands 200]
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

PROJECT = "demo-bench-control"
SHA = "ab" * 20


def signing_key() -> tuple[Any, str, str]:
    """An RSA key and a self-signed certificate, as Google publishes for Firebase ID tokens."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import rsa
    from cryptography.x509.oid import NameOID

    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "securetoken")])
    now = datetime.now(UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(1)
        .not_valid_before(now - timedelta(days=1))
        .not_valid_after(now + timedelta(days=1))
        .sign(key, hashes.SHA256())
    )
    pem = cert.public_bytes(serialization.Encoding.PEM).decode()
    return key, "bench-kid", pem


def rs256_token(key: Any, kid: str, who: str, roles: list[str]) -> str:
    from google.auth import crypt, jwt

    now = int(time.time())
    claims = {
        "iss": f"https://securetoken.google.com/{PROJECT}",
        "aud": PROJECT,
        "sub": who,
        "iat": now,
        "exp": now + 3600,
        "auth_time": now,
        "email": f"{who}@avalo.app",
        "email_verified": True,
        "roles": roles,
    }
    from cryptography.hazmat.primitives import serialization

    pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    signer = crypt.RSASigner.from_string(pem, key_id=kid)
    return jwt.encode(signer, claims).decode()


def anonymous_app() -> None:
    """The verifier's firebase-admin app with no Google credentials (none are needed to check
    a signature against known certificates; the machine has none)."""
    import firebase_admin
    from firebase_admin import credentials
    from google.auth.credentials import AnonymousCredentials

    class Anonymous(credentials.Base):
        def get_credential(self) -> Any:
            return AnonymousCredentials()

    firebase_admin.initialize_app(
        Anonymous(), options={"projectId": PROJECT}, name=f"approvals-{PROJECT}"
    )


def median_us(run: Callable[[], object], n: int) -> float:
    times = []
    for _ in range(n):
        start = time.perf_counter()
        run()
        times.append(time.perf_counter() - start)
    return statistics.median(times) * 1e6


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--commands", type=int, default=200)
    args = parser.parse_args()
    import os

    import google.oauth2.id_token as id_token

    from shared.approvals.credentials import emulator_token
    from shared.approvals.tokens import EMULATOR_ENV, FirebaseTokenVerifier

    key, kid, pem = signing_key()
    id_token._fetch_certs = lambda request, url: {kid: pem}  # a warm instance's cached certs
    os.environ.pop(EMULATOR_ENV, None)
    anonymous_app()
    real = FirebaseTokenVerifier(PROJECT, check_revoked=False)
    signed = rs256_token(key, kid, "ann", ["releaser"])
    assert real.verify(signed).roles == {"releaser"}
    rs = median_us(lambda: real.verify(signed), args.commands)

    os.environ[EMULATOR_ENV] = "127.0.0.1:9099"
    emulated = FirebaseTokenVerifier(PROJECT)
    local = emulator_token(PROJECT, "ann", datetime.now(UTC), roles=["releaser"])
    em = median_us(lambda: emulated.verify(local), args.commands)
    os.environ.pop(EMULATOR_ENV, None)

    print(f"verify alone, median: RS256 {rs:.0f} µs, emulator token {em:.0f} µs")
    on_bus(args.commands, real, signed)


def on_bus(n: int, verifier: Any, token: str) -> None:
    from google.cloud import firestore

    from benchmarks._emulator import firestore_emulator
    from shared.adapters.firestore_store import FirestoreUnitOfWork
    from shared.approvals.handler import SignedCommands
    from shared.config import ControlConfig, EnvConfig, PlaneConfig
    from shared.service.messagebus import MessageBus
    from tests.unit.fakes import FakeClock, fake_ports

    with firestore_emulator():
        client = firestore.Client(project=PROJECT)
        senders = {}
        for signing in (False, True):
            plane = PlaneConfig(
                control=ControlConfig(project=PROJECT, signed_commands=signing),
                environments={"dev": EnvConfig(name="dev", project="demo-bench-dev")},
            )
            ports = fake_ports(plane)
            ports.approvals = SignedCommands(lambda: verifier, plane=plane)
            bus = MessageBus(
                uow=FirestoreUnitOfWork(client), plane=plane, clock=FakeClock(), ports=ports
            )
            senders[signing] = sender(bus, signing, token)
        for _ in range(10):  # warm up: clients, channels, caches
            senders[False]()
            senders[True]()
        times: dict[bool, list[float]] = {False: [], True: []}
        for i in range(n):  # interleaved, alternating who goes first: drift hits both alike
            for signing in (i % 2 == 0, i % 2 == 1):
                start = time.perf_counter()
                senders[signing]()
                times[signing].append(time.perf_counter() - start)
        base = statistics.median(times[False]) * 1000
        with_sig = statistics.median(times[True]) * 1000
        print(
            f"release.create through the bus on the emulator, median of {n}: unsigned "
            f"{base:.2f} ms, signed {with_sig:.2f} ms; added {with_sig - base:.2f} ms "
            f"({with_sig / base:.2f}x)"
        )


def sender(bus: Any, signing: bool, token: str) -> Callable[[], None]:
    from shared.domain.commands import parse_command

    count = iter(range(10**6))

    def send() -> None:
        i = next(count)
        body: dict[str, Any] = {
            "type": "release.create",
            "version": f"{int(signing)}.{i}.0",
            "commit": SHA,
            "branch": "main",
            "author": "dev",
        }
        if signing:
            body["id_token"] = token
        cmd = parse_command(json.dumps(body).encode())
        done = bus.handle(cmd, event_id=f"{signing}-{i}", topic="release-commands")
        assert done.outcome == "applied", done.note

    return send


if __name__ == "__main__":
    main()
