"""Declared secrets (`config/secrets.toml`), their stores and the checks over them.

Pure parts: `model` (declarations, version metadata), `checks` (inventory, rotation, Stripe
mode). I/O: `port` (the store Protocol), `local_store` (files under `.local/secrets/`),
`gsm` (Google Secret Manager), `service` (what the CLI and the gates call).
"""
