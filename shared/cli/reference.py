"""`docs/CLI.md`, generated from the typer apps themselves: every command of `releasectl` and
`./deploy.sh gcp`, each argument and option with its default and environment variable, and
every environment variable the code reads. A test compares the file with `render()`, so the
reference cannot drift from the code.

    .venv/bin/python -m shared.cli.reference           # rewrite docs/CLI.md
    .venv/bin/python -m shared.cli.reference --check   # exit 1 if docs/CLI.md is out of date
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from enum import Enum
from pathlib import Path
from typing import Any

import typer.main

from shared.config import REPO_ROOT

CLI_DOC = REPO_ROOT / "docs" / "CLI.md"
REGENERATE = ".venv/bin/python -m shared.cli.reference"

# Every environment variable the code reads that is not an option's (those are listed with
# their option): name -> what it does. tests/unit/test_cli_reference.py scans the source and
# fails when one is missing here, so a new variable cannot go undocumented.
ENVIRONMENT: dict[str, str] = {
    "FIRESTORE_EMULATOR_HOST": "Use the Firestore emulator at HOST:PORT (the local project ids; "
    "set by the local stack for its processes).",
    "PUBSUB_EMULATOR_HOST": "Use the Pub/Sub emulator at HOST:PORT.",
    "FIREBASE_AUTH_EMULATOR_HOST": "Approvals carry Firebase Auth emulator tokens, accepted for "
    '`demo-` projects only (docs/GATES.md, "Signing approvals").',
    "GOOGLE_CLOUD_PROJECT": "The control project (release state, topics). Default: `[control] "
    "project` of the environments file.",
    "RELEASECTL_CONTROL_PROJECT": "The control project; wins over GOOGLE_CLOUD_PROJECT (the "
    "flag guard runs in an env project and publishes to the control project).",
    "RELEASECTL_CONFIG_FILE": "The environments file. Default: `config/environments.toml`.",
    "RELEASECTL_CHECKS_FILE": "Gate, smoke-test and monitoring settings. Default: "
    "`config/checks.toml` (docs/GATES.md).",
    "RELEASECTL_NOTIFY_FILE": "Notification routing. Default: `config/notifications.toml`.",
    # pragma: allowlist nextline secret
    "RELEASECTL_SECRETS_FILE": "The secret declarations. Default: `config/secrets.toml`.",
    "RELEASECTL_SECRETS_BACKEND": "`auto` (local files on the emulators, Secret Manager "
    "otherwise), `gsm` or `local`.",
    # pragma: allowlist nextline secret
    "RELEASECTL_SECRETS_DIR": "Root of the local secret store. Default: `.local/secrets`.",
    "RELEASECTL_RELEASE_EVENTS_TOPIC": "Topic of state changes. Default: `release-events`.",
    "RELEASECTL_RELEASE_COMMANDS_TOPIC": "Topic of commands. Default: `release-commands`.",
    "RELEASECTL_BUILD_BACKEND": "Who runs migrate and deploy builds: `auto` (the local stack's "
    "runner when RELEASECTL_LOCAL_DIR names a running stack, none on bare emulators, Cloud "
    "Build otherwise), `cloudbuild`, `local`, `none`.",
    "RELEASECTL_DEPLOY_TARGET": "What a deploy or rollback changes: `auto` (as above), `gcp`, "
    "`local` (the sample apps), `none`.",
    "RELEASECTL_LOCAL_DIR": "The local stack's directory (state, logs, builds, secrets). "
    "Default: `.local/` in the checkout.",
    "RELEASECTL_FIREBASE_API_KEY": "The control project's Firebase Web API key, for `auth login`.",
    "RELEASECTL_EMAIL": "`auth login`: the approver's email (instead of the prompt).",
    "RELEASECTL_PASSWORD": "`auth login`'s password, not prompted.",  # nosec B105 -- a doc line
    "RELEASECTL_ID_TOKEN": "An ID token from elsewhere, sent as is.",  # nosec B105 -- a doc line
    "XDG_CONFIG_HOME": "Where `auth login` keeps its session (`releasectl/login-<project>.json`)."
    " Default: `~/.config`.",
    "RELEASECTL_BACKUP_DIR": "Where backups of the emulator's env databases go. Default: "
    "`.local/backups` (docs/BACKUPS.md).",
    "RELEASECTL_USERS_FILE": "The local people and their roles, whose emulator tokens sign "
    "commands. Default: `$RELEASECTL_LOCAL_DIR/auth/users.json` (docs/GATES.md).",
    "RELEASECTL_REMOTE_CONFIG_URL": "Where Remote Config's REST API is (flags are delivered "
    "there). Default: the local stack's simulator, else Google's (docs/FLAGS.md).",
    "RELEASECTL_PLAY_URL": "The Google Play Developer API's base URL (the local stack points it at "
    "its Play simulator; docs/MOBILE.md).",
    "RELEASECTL_PLAY_REPORTING_URL": "The Play Developer Reporting API's base URL (crash-rate "
    "vitals).",
    "RELEASECTL_APP_STORE_CONNECT_URL": "The App Store Connect API's base URL.",
    "RELEASECTL_STORE_TIMEOUT_S": "Seconds one store call may take. Default: 20.",
    "RELEASECTL_MIGRATE_LEASE_S": "The migration lock's lease in seconds. Default: 600.",
    "RELEASECTL_SNAPSHOT_DIR": "Where production migration snapshots of the emulator go. "
    "Default: `.local/snapshots`.",
    "RELEASECTL_SNAPSHOT_BUCKET": "Where production migration snapshots go on Google Cloud. "
    "Default: `gs://<project>-firestore-snapshots`.",
    "RELEASECTL_TARGET": "Where `releasectl` talks to: `auto`, `local`, `emulators`, `gcp` "
    "(above).",
    "RELEASECTL_ENV": "The environment a command acts on, instead of `--env`.",
    "RELEASECTL_ACTOR": "Who asks, recorded in the audit trail. Default: your login name.",
    "RELEASECTL_TIMEOUT": "Seconds `--wait` waits for the result.",
    "RELEASECTL_RELEASE": "The release a migration run belongs to (the migrate build sets it).",
    "BUILD_ID": "Set by Cloud Build (and the local build runner) in every build step.",
    "_RELEASE": "The deploy build's release (a substitution the control plane sets).",
    "_ENV": "The deploy build's environment (a substitution the control plane sets).",
    "RELEASECTL_FLAGS_PROJECT": "The project the app-side flag runtime "
    "(`shared.flags.is_feature_enabled_for_user`) reads flags from.",
}

INTRO = f"""\
# CLI reference

<!-- Generated from the code by `{REGENERATE}`: do not edit by hand. -->

Every command of `releasectl` and `./deploy.sh gcp`, with each argument and option, its default
and the environment variable it reads (if any). `releasectl COMMAND --help` prints the same.
Generated by `shared/cli/reference.py`; `tests/unit/test_cli_reference.py` fails when this file
is out of date: regenerate it with `{REGENERATE}`.

## Exit codes

0 ok; 1 the thing asked for failed (a rollout blocked, a refused command, a
failed migration); 2 bad usage or input (unknown option or environment, invalid config, no
local stack and no Google Cloud to talk to): one line naming the problem, nothing published or
written.

## Where releasectl talks to

`--target`, or `RELEASECTL_TARGET`:

- `auto` (default): the emulators named by `FIRESTORE_EMULATOR_HOST` / `PUBSUB_EMULATOR_HOST`
  if set; else the local stack running in `RELEASECTL_LOCAL_DIR` (default `.local/`), with its
  own config and control project whatever `GOOGLE_CLOUD_PROJECT`, `RELEASECTL_CONTROL_PROJECT`
  or `RELEASECTL_CONFIG_FILE` say (a note on stderr names a real project it ignores); else
  Google Cloud.
- `local`: the running local stack; none running is an error (exit 2).
- `emulators`: the emulators of `FIRESTORE_EMULATOR_HOST` and `PUBSUB_EMULATOR_HOST` (both
  required).
- `gcp`: Google Cloud, even with a local stack running or emulator variables set. The control
  project is `RELEASECTL_CONTROL_PROJECT`, else `GOOGLE_CLOUD_PROJECT`, else `[control] project`
  of `RELEASECTL_CONFIG_FILE`; credentials are Application Default Credentials (`gcloud auth
  application-default login`).

With no local stack, no emulator and a `demo-` project (the shipped config), or with no Google
credentials, every command that needs the control plane says so in one line (exit 2) and how to
start the local stack.

## Waiting for the result

`--wait` (commands that change release state) follows what the command did: it exits 1 if
the command was refused or the rollout ends in a failure (`blocked`, `rejected`, `failed`,
`rolled_back`, `rollback_failed`), and stops at `awaiting_approval`. What the command asked for
is not a failure: `release reject --wait` ending `rejected`, `release rollback --wait` ending
`rolled_back`, `release cancel --wait` ending `cancelled` exit 0.
"""


def _value(value: object) -> str:
    if isinstance(value, Enum):
        value = value.value
    if isinstance(value, Path) and value.is_relative_to(REPO_ROOT):
        value = value.relative_to(REPO_ROOT)
    if isinstance(value, list | tuple):
        return ", ".join(f"`{v}`" for v in value) if value else "—"
    return "—" if value is None or value == "" else f"`{value}`"


def _cell(text: str | None) -> str:
    return " ".join((text or "").split()).replace("|", "\\|")


# typer's parameters and commands, read through the attributes its `--help` uses (typer carries
# its own copy of click, so they are not click's classes).
Param = Any
Command = Any
Context = Any


def _is_argument(param: Param) -> bool:
    return bool(param.param_type_name == "argument")


def _names(param: Param) -> str:
    if _is_argument(param):
        return f"`{param.name.upper()}`"
    return ", ".join(f"`{n}`" for n in [*param.opts, *param.secondary_opts])


def _default(param: Param) -> str:
    if param.required:
        return "required"
    if getattr(param, "is_flag", False):
        return "on" if param.default else "off"
    return _value(param.default)


def _kind(param: Param, ctx: Context) -> str:
    if getattr(param, "is_flag", False):
        return "flag"
    kind = str(param.display_type(ctx)).strip("<>").replace("|", " \\| ")
    if param.multiple:
        kind = kind.removeprefix("list[").removesuffix("]") + ", repeatable"
    bounds = [
        f"≥ {param.min}" if param.min is not None else "",
        f"≤ {param.max}" if param.max is not None else "",
    ]
    kind = kind.replace(" range", "")
    return " ".join([kind, *[b for b in bounds if b]])


def _help(param: Param) -> str:
    text = _cell(param.help)
    if param.hidden:
        text = f"{text} (hidden from `--help`)".strip()
    return text


def _envvar(param: Param) -> str:
    names = param.envvar if isinstance(param.envvar, list | tuple) else [param.envvar]
    return ", ".join(f"`{n}`" for n in names if n) or "—"


def _params_table(cmd: Command, ctx: Context) -> list[str]:
    shown = [p for p in cmd.params if p.name != "help"]
    if not shown:
        return []
    rows = [
        "| argument / option | type | default | environment | meaning |",
        "|---|---|---|---|---|",
    ]
    for p in shown:
        cells = [_names(p), _kind(p, ctx), _default(p), _envvar(p), _help(p)]
        rows.append("| " + " | ".join(cells) + " |")
    return ["", *rows]


def _usage(path: list[str], cmd: Command) -> str:
    pieces = [*path]
    if any(not _is_argument(p) for p in cmd.params):
        pieces.append("[OPTIONS]")
    for p in cmd.params:
        if _is_argument(p):
            name = p.name.upper()
            pieces.append(name if p.required else f"[{name}]")
    if hasattr(cmd, "commands"):
        pieces.append("COMMAND [ARGS]...")
    return " ".join(pieces)


def _walk(
    cmd: Command, path: list[str], parent: Context | None
) -> Iterator[tuple[list[str], Command, Context]]:
    ctx = cmd.context_class(cmd, info_name=path[-1], parent=parent)
    yield path, cmd, ctx
    for name, sub in getattr(cmd, "commands", {}).items():
        if not sub.hidden:
            yield from _walk(sub, [*path, name], ctx)


def _section(path: list[str], cmd: Command, ctx: Context) -> list[str]:
    level = "#" * min(len(path) + 1, 4)
    lines = [f"{level} `{' '.join(path)}`", ""]
    if cmd.help:
        lines += [_paragraphs(cmd.help), ""]
    lines.append(f"```\n{_usage(path, cmd)}\n```")
    if hasattr(cmd, "commands"):
        subs = ", ".join(f"`{n}`" for n, c in cmd.commands.items() if not c.hidden)
        lines += ["", f"Commands: {subs}."]
    lines += _params_table(cmd, ctx)
    return [*lines, ""]


def _paragraphs(text: str) -> str:
    paragraphs = [" ".join(p.split()) for p in text.strip().split("\n\n")]
    return "\n\n".join(p for p in paragraphs if p)


def _commands(app: typer.Typer, name: str) -> list[str]:
    lines: list[str] = []
    root = typer.main.get_command(app)
    for path, cmd, ctx in _walk(root, [name], None):
        lines += _section(path, cmd, ctx)
    return lines


def option_envvars(app: typer.Typer) -> dict[str, list[str]]:
    """Environment variable -> the options that read it."""
    found: dict[str, list[str]] = {}
    root = typer.main.get_command(app)
    for path, cmd, _ in _walk(root, ["releasectl"], None):
        for p in cmd.params:
            names = p.envvar if isinstance(p.envvar, list | tuple) else [p.envvar]
            for n in names:
                if n:
                    opts = getattr(p, "opts", [p.name])
                    found.setdefault(n, []).append(f"`{' '.join([*path[1:], opts[0]])}`")
    return found


def _environment(app: typer.Typer) -> list[str]:
    options = option_envvars(app)
    rows = ["## Environment variables", ""]
    rows += [
        "Read by `releasectl`, the functions and the local stack (the same names everywhere).",
        "",
        "| variable | meaning |",
        "|---|---|",
    ]
    for name in sorted(set(ENVIRONMENT) | set(options)):
        meaning = ENVIRONMENT.get(name, "")
        if name in options:
            used = ", ".join(sorted(set(options[name])))
            meaning = f"{meaning} Option: {used}.".strip()
        rows.append(f"| `{name}` | {_cell(meaning)} |")
    return [*rows, ""]


def render() -> str:
    from shared.cli import app
    from shared.deploy.gcp import app as deploy_app

    lines = [INTRO, "## releasectl", ""]
    lines += _commands(app, "releasectl")[2:]  # the root's title is the section's
    lines += ["## ./deploy.sh gcp", ""]
    lines += _commands(deploy_app, "./deploy.sh gcp")[2:]
    lines += _environment(app)
    return "\n".join(lines).rstrip() + "\n"


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    text = render()
    if args == ["--check"]:
        if CLI_DOC.read_text(encoding="utf-8") != text:
            print(f"{CLI_DOC.relative_to(REPO_ROOT)} is out of date: run {REGENERATE}")
            return 1
        return 0
    CLI_DOC.write_text(text, encoding="utf-8")
    print(f"wrote {CLI_DOC.relative_to(REPO_ROOT)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
