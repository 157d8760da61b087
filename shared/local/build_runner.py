"""The local `BuildPort`: runs a Cloud Build config's steps as host commands.

Builder images are not pulled: each step runs `entrypoint args…` (or `args…`) on this machine,
in a per-build copy of the checkout standing in for `/workspace`, with the checkout's
virtualenv instead of the config's `install` step (skip list: substitution `_LOCAL_SKIP`).
The runner publishes the Build resource in Cloud Build's own JSON format to the emulator's
`cloud-builds` topic: QUEUED → WORKING → SUCCESS | FAILURE | TIMEOUT, as Cloud Build does.

    python -m shared.local.build_runner BUILD_ID --local-dir .local   (started by `start`)
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import shutil
import signal
import subprocess  # nosec B404 -- runs git, tar and the build's own steps as argv lists
import sys
import threading
import time
import uuid
from pathlib import Path
from typing import Any

from shared.adapters.cloudbuild import build_body, key_tag
from shared.clock import utcnow
from shared.config import REPO_ROOT
from shared.domain.builds import substitute
from shared.domain.effects import StartBuild
from shared.local.emulators import program, spawn
from shared.topics import CLOUD_BUILDS

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
STEP_OUTPUT_MAX = 50 * 1024  # Cloud Build keeps the first 50 KB of `$BUILDER_OUTPUT/output`


def builds_dir(local_dir: Path) -> Path:
    return local_dir / "builds"


def bucket_dir(local_dir: Path) -> Path:
    """Where the runner stores what a build uploads to `gs://BUCKET/PATH` (`gcs/BUCKET/PATH`)."""
    return local_dir / "gcs"


def local_object(local_dir: Path, uri: str) -> Path:
    """The local file standing in for the Cloud Storage object `gs://BUCKET/PATH`."""
    if not uri.startswith("gs://"):
        raise ValueError(f"{uri!r} is not a gs:// URI")
    return bucket_dir(local_dir) / uri.removeprefix("gs://")


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

        self.id, self.project, self.local_dir = build_id, project, local_dir
        self.dir = builds_dir(local_dir)
        self.body: dict[str, Any] = json.loads((self.dir / f"{build_id}.json").read_text())
        self.log_path = self.dir / f"{build_id}.log"
        self.workspace = self.dir / build_id / "workspace"
        self.publisher = Publisher(project)
        subs = self.body.get("substitutions", {})
        builtin = {"BUILD_ID": build_id, "PROJECT_ID": project, "LOCATION": "local"}
        # dynamic substitutions: a user substitution may name a built-in one (once, no chains)
        self.values = {**builtin, **{k: substitute(str(v), builtin) for k, v in subs.items()}}
        self.outputs: list[bytes] = []
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
            and subprocess.run(  # nosec B603 -- argv list built from trusted values, no shell
                [program("git"), "cat-file", "-e", f"{commit}^{{commit}}"],
                cwd=REPO_ROOT,
                check=False,
                capture_output=True,
            ).returncode
            == 0
        )
        if known:
            self.workspace.mkdir(parents=True)
            archive = subprocess.run(  # nosec B603 -- argv list built from trusted values, no shell
                [program("git"), "archive", "--format=tar", commit],
                cwd=REPO_ROOT,
                check=True,
                capture_output=True,
            ).stdout
            subprocess.run(  # nosec B603 -- argv list built from trusted values, no shell
                [program("tar"), "-x", "-C", str(self.workspace)], input=archive, check=True
            )
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
        env["BUILDER_OUTPUT"] = str(self._output_dir(index))
        self._output_dir(index).mkdir(parents=True, exist_ok=True)  # Cloud Build makes it too
        print(
            f"--- step {index} {step.get('id', step.get('name'))}: "
            f"{' '.join(self.command(step))[:300]}",
            flush=True,
        )
        proc = subprocess.Popen(  # nosec B603 -- the build config's own step, run as Cloud Build runs it
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

    def _output_dir(self, index: int) -> Path:
        return self.dir / self.id / "builder-output" / str(index)

    def _collect_output(self, index: int) -> None:
        """`results.buildStepOutputs[index]`: what the step wrote to `$BUILDER_OUTPUT/output`."""
        path = self._output_dir(index) / "output"
        data = path.read_bytes()[:STEP_OUTPUT_MAX] if path.is_file() else b""
        self.outputs += [b""] * (index + 1 - len(self.outputs))
        self.outputs[index] = data

    def _results(self, extra: dict[str, Any] | None = None) -> dict[str, Any]:
        outputs = [base64.b64encode(o).decode() for o in self.outputs]
        return {**self.body.get("results", {}), "buildStepOutputs": outputs, **(extra or {})}

    def upload_artifacts(self) -> dict[str, Any]:
        """`artifacts.objects`: each file matching `paths` goes to `location` + its name, with
        Cloud Build's manifest `artifacts-<BUILD_ID>.json` beside them (one JSON per line)."""
        objects = self.body.get("artifacts", {}).get("objects")
        if not objects:
            return {}
        location = substitute(objects["location"], self.values).rstrip("/") + "/"
        objects["location"] = location
        lines = []
        for pattern in objects.get("paths", []):
            for source in sorted(self.workspace.glob(substitute(pattern, self.values))):
                if not source.is_file():
                    continue
                uri = location + source.name
                target = local_object(self.local_dir, uri)
                target.parent.mkdir(parents=True, exist_ok=True)
                shutil.copyfile(source, target)
                data = source.read_bytes()  # Cloud Build's manifest records MD5
                digest = base64.b64encode(
                    hashlib.md5(data, usedforsecurity=False).digest()
                ).decode()
                lines.append(
                    {
                        "location": uri,
                        "file_hash": [{"file_hash": [{"type": "MD5", "value": digest}]}],
                    }
                )
        manifest = location + f"artifacts-{self.id}.json"
        path = local_object(self.local_dir, manifest)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text("".join(json.dumps(line) + "\n" for line in lines), encoding="utf-8")
        return {"artifactManifest": manifest, "numArtifacts": str(len(lines))}

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
            self._collect_output(index)
            step.update(
                status=outcome.split(":")[0], timing={"startTime": started, "endTime": _timestamp()}
            )
            if outcome == "TIMEOUT":
                self.publish(
                    "TIMEOUT",
                    finishTime=_timestamp(),
                    statusDetail="build timed out",
                    results=self._results(),
                )
                return
            if outcome != "SUCCESS":
                code = int(outcome.split(":")[1])
                step["exitCode"] = code
                if _allowed(step, code):
                    print(f"--- step {index} {step.get('id')}: failed, allowed", flush=True)
                    continue
                detail = (
                    f'Build step failure: build step {index} "{step.get("name")}" '
                    f"failed: exit status {code}"
                )
                self.publish(
                    "FAILURE",
                    finishTime=_timestamp(),
                    failureInfo={"type": "USER_BUILD_STEP", "detail": detail},
                    results=self._results(),
                )
                return
        # like Cloud Build, artifacts are uploaded once every step has run
        self.publish(
            "SUCCESS", finishTime=_timestamp(), results=self._results(self.upload_artifacts())
        )


def _allowed(step: dict[str, Any], code: int) -> bool:
    """Cloud Build's `allowFailure` / `allowExitCodes`: the step fails, the build goes on."""
    return bool(step.get("allowFailure")) or code in step.get("allowExitCodes", [])


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
