"""Made-up store credentials for the local stack and the tests: a Play service account key
(RSA, its `token_uri` on the Play simulator) and an App Store Connect API key (EC P-256).

They are generated per stack, never checked in, and only ever talk to the simulators.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa

PLAY_CLIENT = "release-control@demo-avalo-production.iam.gserviceaccount.com"
ASC_ISSUER = "69a6de7f-0000-0000-0000-000000000000"
ASC_KEY_ID = "DEMOKEY123"


@dataclass(frozen=True)
class KeyPair:
    private_pem: str
    public_pem: str


def _pems(key: Any) -> KeyPair:
    private = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    ).decode()
    public = key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    return KeyPair(private, public.decode())


def rsa_pair() -> KeyPair:
    return _pems(rsa.generate_private_key(public_exponent=65537, key_size=2048))


def ec_pair() -> KeyPair:
    return _pems(ec.generate_private_key(ec.SECP256R1()))


def service_account_info(pair: KeyPair, token_uri: str, project: str) -> dict[str, str]:
    """A service account key file's fields, as the Cloud console hands it out."""
    return {
        "type": "service_account",
        "project_id": project,
        "private_key_id": "local-simulator",
        "private_key": pair.private_pem,
        "client_email": PLAY_CLIENT,
        "client_id": "100000000000000000000",
        "token_uri": token_uri,
    }
