"""Factories for the composition root (`shared.bootstrap`): gates and smoke tests."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from shared.config import Settings
from shared.gates.checks_file import ChecksConfig, load_for
from shared.gates.ci_builds import CloudBuildCiBuilds, FirestoreCiBuilds, LocalDirCiBuilds
from shared.gates.ports import CiBuildSource
from shared.gates.runner import ComplianceGates
from shared.gates.sources import FirestoreCompliance, HttpProber
from shared.smoke.runner import HttpSmokeRunner


def stack_base_urls(settings: Settings) -> dict[str, str] | None:
    """With a local stack running: each env's sample app URL (overrides checks.toml)."""
    if settings.local_dir is None:
        return None
    from shared.local.state import load

    stack = load(settings.local_dir)
    return {name: app.url for name, app in stack.apps.items()} if stack else None


def gate_runner(
    settings: Settings,
    checks: ChecksConfig | None = None,
    control_db: Any = None,
    base_urls: Mapping[str, str] | None = None,
) -> ComplianceGates:
    """Compliance + CI gates, with the secrets gate for production.

    Evidence: each env project's Firestore (`compliance/*`), HTTP against `base_url`, the CI
    build (Cloud Build API on Google Cloud; the local build runner's files with a local stack;
    `ciBuilds/` in the control project on bare emulators).
    """
    from shared.secrets.service import SecretsGate, SecretsSettings

    plane = settings.plane
    checks = checks or load_for(plane)
    ci: CiBuildSource
    if settings.local_dir is not None:
        from shared.local.build_runner import builds_dir

        ci = LocalDirCiBuilds(builds_dir(settings.local_dir))
    elif settings.local:
        if control_db is None:
            from google.cloud import firestore

            control_db = firestore.Client(project=settings.project)
        ci = FirestoreCiBuilds(control_db)
    else:  # pragma: no cover - Google Cloud only
        ci = CloudBuildCiBuilds(settings.project)
    secrets = SecretsGate(
        SecretsSettings().config(set(plane.environments)), envs=frozenset({"production"})
    )
    urls = base_urls if base_urls is not None else stack_base_urls(settings)
    return ComplianceGates(
        checks, FirestoreCompliance(), HttpProber(), ci, secrets=secrets, base_urls=urls
    )


def smoke_runner(
    settings: Settings,
    checks: ChecksConfig | None = None,
    base_urls: Mapping[str, str] | None = None,
) -> HttpSmokeRunner:
    """Smoke checks of `checks.toml`; `base_urls` (env → URL, default: the local stack's
    sample apps when one runs) overrides the file's base_url."""
    urls = base_urls if base_urls is not None else stack_base_urls(settings)
    return HttpSmokeRunner(checks or load_for(settings.plane), base_urls=urls)
