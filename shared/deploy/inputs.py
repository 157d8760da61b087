"""What the operator asked for, validated before anything runs (one clear error, exit 2)."""

from __future__ import annotations

from pathlib import Path, PurePosixPath
from typing import Annotated, Self

from pydantic import (
    BaseModel,
    ConfigDict,
    StringConstraints,
    ValidationError,
    field_validator,
    model_validator,
)

from shared.config import DEMO_PREFIX, REPO_ROOT, EnvName, PlaneConfig, ProjectId, load_config
from shared.errors import ConfigError
from shared.gates.checks_file import load_checks, local_endpoints

Region = Annotated[str, StringConstraints(pattern=r"^[a-z]+(-[a-z]+)+[0-9]+$")]
# A Firestore location: a region (europe-west1) or a multi-region (eur3, nam5).
FirestoreLocation = Annotated[str, StringConstraints(pattern=r"^[a-z]+(-[a-z]+)*[0-9]+$")]
DEFAULT_REGION = "europe-west1"
DEFAULT_CONFIG = "config/environments.toml"
DEFAULT_CHECKS = "config/checks.toml"
# Where Google Cloud's buildpacks put the uploaded source (`--source=.`) in the function image.
SOURCE_ROOT = PurePosixPath("/workspace")


class DeployError(ConfigError):
    """Bad input for the deployment: reported as one message, exit 2, nothing started."""


class DeployInputs(BaseModel):
    """Everything the plan is built from. Environments keep the config file's order."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    control_project: ProjectId
    env_projects: dict[EnvName, ProjectId]
    region: Region = DEFAULT_REGION
    # Firestore location of the control project's database (created if missing) and of the
    # env projects' databases (the Firestore trigger must be in the database's location).
    firestore_location: FirestoreLocation | None = None  # None: the same as `region`
    # The config file the functions read, relative to the repository root (it is uploaded).
    config_file: PurePosixPath = PurePosixPath(DEFAULT_CONFIG)
    # The gates' and smoke tests' settings the functions read (each env's base_url): uploaded too.
    checks_file: PurePosixPath = PurePosixPath(DEFAULT_CHECKS)
    # Deploy config/app-firestore.rules as each env project's whole rule set (opt-in: the
    # app usually owns its project's rules and merges our `match` blocks into them).
    app_rules: bool = False

    @field_validator("config_file", "checks_file")
    @classmethod
    def _inside_repo(cls, value: PurePosixPath) -> PurePosixPath:
        if value.is_absolute() or ".." in value.parts or not value.parts:
            raise ValueError("must be a path inside the repository (it is uploaded with it)")
        return value

    @model_validator(mode="after")
    def _check(self) -> Self:
        if not self.env_projects:
            raise ValueError("--env-project: at least one environment is required")
        demo = [
            p
            for p in (self.control_project, *self.env_projects.values())
            if p.startswith(DEMO_PREFIX)
        ]
        if demo:
            raise ValueError(
                f"{demo[0]} is a demo- project id, which only the emulators use "
                "(./deploy.sh local); give your Google Cloud project ids"
            )
        if self.control_project in self.env_projects.values():
            raise ValueError(
                f"--project {self.control_project} is also an environment project: "
                "the control plane needs its own project"
            )
        return self

    @property
    def location(self) -> str:
        """The Firestore location: the database's, and so the flag triggers'."""
        return self.firestore_location or self.region

    def runtime_config_path(self) -> str:
        """RELEASECTL_CONFIG_FILE as the deployed function sees it."""
        return str(SOURCE_ROOT / self.config_file)

    def runtime_checks_path(self) -> str:
        """RELEASECTL_CHECKS_FILE as the deployed function sees it."""
        return str(SOURCE_ROOT / self.checks_file)


def parse_env_projects(value: str) -> dict[str, str]:
    """`dev=P1,staging=P2` → {"dev": "P1", ...}; malformed pairs and duplicates are refused."""
    pairs: dict[str, str] = {}
    for raw in value.split(","):
        item = raw.strip()
        if not item:
            continue
        env, sep, project = item.partition("=")
        if not sep or not env.strip() or not project.strip():
            raise DeployError(f"--env-project: {item!r} is not ENV=PROJECT")
        env, project = env.strip(), project.strip()
        if env in pairs:
            raise DeployError(f"--env-project: environment {env!r} is given twice")
        pairs[env] = project
    if not pairs:
        raise DeployError("--env-project: give ENV=PROJECT pairs, e.g. dev=P1,staging=P2")
    return pairs


def _format(err: ValidationError) -> str:
    names = {"control_project": "--project", "env_projects": "--env-project"}
    parts = []
    for e in err.errors():
        loc = [str(p) for p in e["loc"] if p != "[key]"]
        head = names.get(loc[0], "--" + loc[0].replace("_", "-")) if loc else ""
        where = " ".join([head, *loc[1:]]).strip()
        msg = e["msg"].removeprefix("Value error, ")
        if e["type"] == "string_pattern_mismatch":
            msg = f"{e['input']!r} is not valid ({_HINTS.get(loc[0], msg)})"
        parts.append(f"{where}: {msg}" if where and not msg.startswith("--") else msg)
    return "; ".join(parts)


_HINTS = {
    "control_project": "a project id: 6-30 lowercase letters, digits, hyphens",
    "env_projects": "ENV=PROJECT, ENV lowercase, PROJECT a project id of 6-30 characters",
    "region": "a Google Cloud region such as europe-west1",
    "firestore_location": "a Firestore location such as europe-west1, eur3 or nam5",
}


def make_inputs(**values: object) -> DeployInputs:
    try:
        return DeployInputs.model_validate(values)
    except ValidationError as exc:
        raise DeployError(_format(exc)) from None


def check_against_config(inputs: DeployInputs, root: Path = REPO_ROOT) -> PlaneConfig:
    """The functions read the config file: it must name the same projects as the flags."""
    path = root / inputs.config_file
    plane = load_config(path)
    where = f"{inputs.config_file}"
    if plane.control.project != inputs.control_project:
        raise DeployError(
            f"{where}: control.project is {plane.control.project!r} but --project is "
            f"{inputs.control_project!r}; point --config at a file with your projects "
            "(docs/DEPLOY.md)"
        )
    missing = [e for e in plane.environments if e not in inputs.env_projects]
    extra = [e for e in inputs.env_projects if e not in plane.environments]
    if missing:
        raise DeployError(f"--env-project: missing environment(s) {', '.join(missing)}")
    if extra:
        known = ", ".join(plane.environments)
        raise DeployError(f"--env-project: unknown environment(s) {', '.join(extra)} ({known})")
    for name, env in plane.environments.items():
        if env.project != inputs.env_projects[name]:
            raise DeployError(
                f"{where}: environments.{name}.project is {env.project!r} but --env-project "
                f"says {name}={inputs.env_projects[name]}"
            )
    check_checks(inputs, plane, root)
    return plane


def check_checks(inputs: DeployInputs, plane: PlaneConfig, root: Path = REPO_ROOT) -> None:
    """The checks file must be valid for these environments and must not send the deployed
    gates and smoke tests to loopback or private addresses (the shipped file points at the
    local stack's sample apps)."""
    checks = load_checks(root / inputs.checks_file, set(plane.environments))
    found = local_endpoints(checks, plane)
    if found:
        key, url, why = found[0]
        more = f" (and {len(found) - 1} more)" if len(found) > 1 else ""
        raise DeployError(
            f"{inputs.checks_file}: {key} is {url!r}, a {why} address{more}: on Google Cloud "
            "the gates and smoke tests would probe the function's own machine. Copy it to e.g. "
            "config/checks.gcp.toml, set each environment's base_url to where its app answers, "
            'and pass --checks (docs/DEPLOY.md, "Point the checks at your app")'
        )


def ordered(inputs: DeployInputs, plane: PlaneConfig) -> DeployInputs:
    """The same inputs with environments in the config file's order (a stable plan)."""
    envs = {name: inputs.env_projects[name] for name in plane.environments}
    return inputs.model_copy(update={"env_projects": envs})
