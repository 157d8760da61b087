"""docs/CLI.md is generated from the typer apps: it must be what the code says today, and every
environment variable the code reads must be in it."""

from __future__ import annotations

import re
from pathlib import Path

from typer.testing import CliRunner

from shared.cli import app, migrate_cmds, reference
from shared.config import Settings
from shared.gates.checks_file import ChecksSettings
from shared.mobile.settings import StoreUrls
from shared.secrets.handler import SecretsSettings

REPO = Path(__file__).resolve().parents[2]
SOURCES = [*(REPO / "shared").rglob("*.py"), *(REPO / "functions").rglob("*.py")]
# A string literal that names an environment variable of ours or of the Google libraries.
VARIABLE = re.compile(
    r"[\"']((?:RELEASECTL_[A-Z0-9_]*[A-Z0-9])|[A-Z_]+_EMULATOR_HOST|GOOGLE_CLOUD_PROJECT"
    r"|XDG_CONFIG_HOME)[\"']"
)


def test_docs_cli_md_is_up_to_date() -> None:
    on_disk = reference.CLI_DOC.read_text(encoding="utf-8")
    assert on_disk == reference.render(), (
        f"docs/CLI.md is out of date: run {reference.REGENERATE} and commit it"
    )


def test_every_command_and_option_is_in_the_reference() -> None:
    text = reference.render()
    for path, cmd, _ in reference._walk(
        reference.typer.main.get_command(app), ["releasectl"], None
    ):
        assert f"`{' '.join(path)}`" in text
        for param in cmd.params:
            for name in getattr(param, "opts", []):
                if name.startswith("-"):
                    assert f"`{name}`" in text, (path, name)


def test_every_visible_option_says_what_it_does() -> None:
    missing = [
        f"{' '.join(path)} {param.name}"
        for path, cmd, _ in reference._walk(reference.typer.main.get_command(app), ["x"], None)
        for param in cmd.params
        if param.name != "help" and not param.hidden and not (param.help or "").strip()
    ]
    assert missing == []


def _settings_variables() -> set[str]:
    names = set()
    for model in (Settings, ChecksSettings, SecretsSettings, StoreUrls):
        prefix = model.model_config.get("env_prefix", "")
        for name, field in model.model_fields.items():
            alias = field.validation_alias
            choices = getattr(alias, "choices", None)
            names |= {str(c) for c in choices} if choices else {f"{prefix}{name}".upper()}
    return names


def test_every_environment_variable_the_code_reads_is_documented() -> None:
    in_code = {m.group(1) for path in SOURCES for m in VARIABLE.finditer(path.read_text())}
    in_code |= _settings_variables()
    documented = set(reference.ENVIRONMENT) | set(reference.option_envvars(app))
    assert sorted(in_code - documented) == []


def test_process_settings_are_the_known_models() -> None:
    """A new `BaseSettings` model adds variables: list it in _settings_variables above."""
    found = {
        m.group(1)
        for path in SOURCES
        for m in re.finditer(r"^class (\w+)\(BaseSettings\)", path.read_text(), re.M)
    }
    assert found == {"Settings", "ChecksSettings", "SecretsSettings", "StoreUrls"}


def test_migrate_lock_wait_has_its_own_name_and_the_old_one_still_works(
    capsys: object,
) -> None:
    assert migrate_cmds._lock_wait(5, None) == 5
    assert migrate_cmds._lock_wait(0, 30) == 30
    shown = CliRunner().invoke(app, ["migrate", "up", "--help"], env={"COLUMNS": "200"})
    assert "--lock-wait" in shown.output and "--wait" not in shown.output.replace("--lock-wait", "")


# -- the docs name only commands and options that exist -----------------------------------

DOCS = [REPO / "README.md", *sorted((REPO / "docs").glob("*.md"))]
MENTION = re.compile(r"releasectl((?: +[^\s`|;&)<>]+)+)")
FENCE = re.compile(r"^```[a-z]*\n(.*?)^```", re.S | re.M)
SPAN = re.compile(r"`([^`\n]+)`")


def _code(text: str) -> list[str]:
    """What the docs show as code: fenced blocks' lines and inline spans."""
    lines = [line for block in FENCE.findall(text) for line in block.splitlines()]
    return lines + SPAN.findall(FENCE.sub("", text))


def _resolve(words: list[str]) -> tuple[object, list[str]] | None:
    """The deepest command the words name, and the words after it (None: not a command)."""
    cmd: object = reference.typer.main.get_command(app)
    rest = list(words)
    while rest and hasattr(cmd, "commands") and rest[0] in cmd.commands:
        cmd = cmd.commands[rest.pop(0)]
    if hasattr(cmd, "commands") and rest and re.fullmatch(r"[a-z][a-z-]+", rest[0]):
        return None if rest[0] not in ("COMMAND", "…") else (cmd, rest)
    return cmd, rest


def _options(cmd: object) -> set[str]:
    names = {"--help"}
    for param in getattr(cmd, "params", []):
        names |= {*getattr(param, "opts", []), *getattr(param, "secondary_opts", [])}
    return names


def test_every_releasectl_command_and_option_in_the_docs_exists() -> None:
    wrong = []
    for path in DOCS:
        if path.name == "CLI.md":
            continue
        for line in _code(path.read_text(encoding="utf-8")):
            for mention in MENTION.finditer(line):
                words = mention.group(1).split()
                if words and words[0] == "--target":
                    words = words[2:]
                if not words or words[0] in ("…", "...", "COMMAND"):
                    continue  # a placeholder for any command
                resolved = _resolve(words)
                where = f"{path.name}: releasectl {' '.join(words[:3])}"
                if resolved is None:
                    wrong.append(f"{where} (no such command)")
                    continue
                cmd, rest = resolved
                known = _options(cmd)
                for word in rest:
                    option = word.strip("[]()").split("=")[0].rstrip(",.")
                    if re.fullmatch(r"--[a-z][a-z-]*", option) and option not in known:
                        wrong.append(f"{where} (no option {option})")
    assert wrong == []
