"""Release notifications: `release-events` → Slack, Discord and e-mail (docs/NOTIFICATIONS.md).

Pure parts: `events` (decode a message into a `Notice`), `config` (channels, routes, retry),
`render` (a `Notice` as Slack blocks, a Discord embed, plain + HTML mail). I/O: `channels`
(HTTP and SMTP, retried), `ledger` (Firestore dedupe records), `handler` (the function's body).
"""
