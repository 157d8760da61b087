"""The local `BuildPort`: runs a Cloud Build config's steps as host commands.

Builder images are not pulled: each step runs `entrypoint args…` (or `args…`) on this machine,
in a per-build copy of the checkout standing in for `/workspace`, with the checkout's
virtualenv instead of the config's `install` step (skip list: substitution `_LOCAL_SKIP`).
The runner publishes the Build resource in Cloud Build's own JSON format to the emulator's
`cloud-builds` topic: QUEUED → WORKING → SUCCESS | FAILURE | TIMEOUT, as Cloud Build does.

    python -m shared.local.build_runner BUILD_ID --local-dir .local   (started by `start`)
"""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import subprocess
import sys
import threading
import time
import uuid
from pathlib import Path
from typing import Any

from shared.adapters.cloudbuild import build_body, key_tag
from shared.clock import utcnow
from shared.config import REPO_ROOT
from shared.domain.effects import StartBuild
from shared.local.emulators import spawn
from shared.topics import CLOUD_BUILDS

_SUBSTITUTION = re.compile(r"\$\{([A-Z_][A-Z0-9_]*)\}|\$([A-Z_][A-Z0-9_]*)")
_COPY_IGNORE = shutil.ignore_patterns(
    ".git",
    ".venv",
    ".local",
    "__pycache__",
    ".mypy_cache",
    ".pytest_cache",
    ".ruff_cache",
    ".hypothesis",
    "node_modules",
    "*.egg-info",
)
DEFAULT_LOCAL_SKIP = "install"
DEFAULT_TIMEOUT_S = 600.0


def builds_dir(local_dir: Path) -> Path:
    return local_dir / "builds"


def status_file(directory: Path, build_id: str) -> Path:
    """The last status the runner published for a build (what `local push --wait` reads)."""
    return directory / f"{build_id}.status"


class LocalBuildRunner:
    """Starts each build as its own detached process, once per step key."""

    def __init__(self, local_dir: Path, project: str, env: dict[str, str]) -> None:
        self.local_dir, self.project, self.env = local_dir, project, env

    def start(self, request: StartBuild) -> str:
        keys = builds_dir(self.local_dir) / "keys"
        keys.mkdir(parents=True, exist_ok=True)
        key_file = keys / key_tag(request)
        build_id = str(uuid.uuid4())
        try:  # O_EXCL: two deliveries of the same effect start one build
            with key_file.open("x", encoding="utf-8") as handle:
                handle.write(build_id)
        except FileExistsError:
            return key_file.read_text(encoding="utf-8").strip()
        return self.launch(build_id, build_body(request, self.project))

    def launch(self, build_id: str, body: dict[str, Any]) -> str:
        directory = builds_dir(self.local_dir)
        directory.mkdir(parents=True, exist_ok=True)
        (directory / f"{build_id}.json").write_text(json.dumps(body), encoding="utf-8")
        cmd = [
            sys.executable,
            "-m",
            "shared.local.build_runner",
            build_id,
            "--local-dir",
            str(self.local_dir),
            "--project",
            self.project,
        ]
        proc = spawn(cmd, directory / f"{build_id}.log", self.env)
        # `local down` stops builds still running: they are process groups of their own
        (directory / f"{build_id}.pid").write_text(str(proc.pid), encoding="utf-8")
        # reap it when it ends, so a long-lived function server collects no zombies
        threading.Thread(target=proc.wait, daemon=True).start()
        return build_id


# -- the runner process ------------------------------------------------------------------------


def substitute(text: str, values: dict[str, str]) -> str:
    """Cloud Build's `$NAME` / `${NAME}` substitution; unknown names are left to the shell."""

    def replace(match: re.Match[str]) -> str:
        name = match.group(1) or match.group(2)
        return values.get(name, match.group(0))

    return _SUBSTITUTION.sub(replace, text)


def seconds(duration: str | None) -> float:
    if not duration:
        return DEFAULT_TIMEOUT_S
    return float(duration.removesuffix("s"))


def _timestamp() -> str:
    """Now as Cloud Build writes times: RFC 3339 with `Z`."""
    return utcnow().isoformat().replace("+00:00", "Z")


class Run:
    def __init__(self, build_id: str, local_dir: Path, project: str) -> None:
        from shared.adapters.pubsub import Publisher

        self.id, self.project = build_id, project
        self.dir = builds_dir(local_dir)
        self.body: dict[str, Any] = json.loads((self.dir / f"{build_id}.json").read_text())
        self.log_path = self.dir / f"{build_id}.log"
        self.workspace = self.dir / build_id / "workspace"
        self.publisher = Publisher(project)
        subs = self.body.get("substitutions", {})
        self.values = {"BUILD_ID": build_id, "PROJECT_ID": project, "LOCATION": "local", **subs}
        self.skip = set(filter(None, subs.get("_LOCAL_SKIP", DEFAULT_LOCAL_SKIP).split(",")))
        self.deadline = time.monotonic() + seconds(self.body.get("timeout"))

    def publish(self, status: str, **fields: Any) -> None:
        from google.cloud.devtools import cloudbuild_v1

        self.body.update(
            fields, id=self.id, projectId=self.project, status=status, logUrl=self.log_path.as_uri()
        )
        build = cloudbuild_v1.Build.from_json(json.dumps(self.body), ignore_unknown_fields=True)
        data = cloudbuild_v1.Build.to_json(
            build, use_integers_for_enums=False, always_print_fields_with_no_presence=False
        )
        self.publisher.publish(CLOUD_BUILDS, data.encode(), buildId=self.id, status=status)
        status_file(self.dir, self.id).write_text(status, encoding="utf-8")
        # the build as published, step results included: what the CI gates read locally
        (self.dir / f"{self.id}.json").write_text(json.dumps(self.body), encoding="utf-8")

    def prepare(self) -> None:
        """The build's source: the commit it names, else (no such commit here) the checkout."""
        commit = self.values.get("COMMIT_SHA") or self.values.get("_COMMIT") or ""
        known = (
            commit
            and subprocess.run(
                ["git", "cat-file", "-e", f"{commit}^{{commit}}"],
                cwd=REPO_ROOT,
                check=False,
                capture_output=True,
            ).returncode
            == 0
        )
        if known:
            self.workspace.mkdir(parents=True)
            archive = subprocess.run(
                ["git", "archive", "--format=tar", commit],
                cwd=REPO_ROOT,
                check=True,
                capture_output=True,
            ).stdout
            subprocess.run(["tar", "-x", "-C", str(self.workspace)], input=archive, check=True)
            print(f"--- workspace: commit {commit}", flush=True)
        else:
            shutil.copytree(REPO_ROOT, self.workspace, ignore=_COPY_IGNORE, symlinks=True)
            print(
                f"--- workspace: working tree ({commit or 'no commit'} is not in git)", flush=True
            )
        (self.workspace / ".venv").symlink_to(REPO_ROOT / ".venv")

    def command(self, step: dict[str, Any]) -> list[str]:
        args = [
            substitute(a, self.values).replace("/workspace", str(self.workspace))
            for a in step.get("args", [])
        ]
        entrypoint = step.get("entrypoint")
        return [entrypoint, *args] if entrypoint else args

    def run_step(self, index: int, step: dict[str, Any]) -> str:
        """Run one step; return SUCCESS, FAILURE or TIMEOUT."""
        env = dict(os.environ)
        for item in step.get("env", []):
            name, _, value = substitute(item, self.values).partition("=")
            env[name] = value
        env["PATH"] = f"{self.workspace / '.venv' / 'bin'}:{env.get('PATH', '')}"
        env["PYTHONPATH"] = str(self.workspace)  # the build's source, not the checkout's
        print(
            f"--- step {index} {step.get('id', step.get('name'))}: "
            f"{' '.join(self.command(step))[:300]}",
            flush=True,
        )
        proc = subprocess.Popen(
            self.command(step),
            cwd=self.workspace / step.get("dir", ""),
            env=env,
            start_new_session=True,
        )
        try:
            code = proc.wait(timeout=max(0.1, self.deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
            return "TIMEOUT"
        return "SUCCESS" if code == 0 else f"FAILURE:{code}"

    def execute(self) -> None:
        self.publish("QUEUED", createTime=_timestamp())
        self.prepare()
        self.publish("WORKING", startTime=_timestamp())
        steps: list[dict[str, Any]] = self.body.get("steps", [])
        for index, step in enumerate(steps):
            if step.get("id") in self.skip:
                step["status"] = "CANCELLED"
                print(f"--- step {index} {step['id']}: skipped locally", flush=True)
                continue
            started = _timestamp()
            outcome = self.run_step(index, step)
            step.update(
                status=outcome.split(":")[0], timing={"startTime": started, "endTime": _timestamp()}
            )
            if outcome == "TIMEOUT":
                self.publish("TIMEOUT", finishTime=_timestamp(), statusDetail="build timed out")
                return
            if outcome != "SUCCESS":
                detail = (
                    f'Build step failure: build step {index} "{step.get("name")}" '
                    f"failed: exit status {outcome.split(':')[1]}"
                )
                self.publish(
                    "FAILURE",
                    finishTime=_timestamp(),
                    failureInfo={"type": "USER_BUILD_STEP", "detail": detail},
                )
                return
        self.publish("SUCCESS", finishTime=_timestamp())


def main() -> None:
    import argparse

    parser = argparse.ArgumentParser(description="run one local build")
    parser.add_argument("build_id")
    parser.add_argument("--local-dir", type=Path, required=True)
    parser.add_argument("--project", required=True)
    args = parser.parse_args()
    run = Run(args.build_id, args.local_dir, args.project)
    try:
        run.execute()
    except Exception as exc:
        print(f"--- build runner error: {exc}", flush=True)
        run.publish("INTERNAL_ERROR", finishTime=_timestamp(), statusDetail=str(exc)[:500])
        raise


if __name__ == "__main__":
    main()
