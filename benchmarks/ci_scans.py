"""What each security scan adds to the CI build: wall and CPU seconds of `releasectl security
sast|deps|sbom` on a clean export of HEAD, against the existing `secrets scan` step measured
alternately in the same run (the ratio is the figure that survives a loaded machine).

    .venv/bin/python benchmarks/ci_scans.py [--runs 3]

`deps` asks the real vulnerability service; where it cannot be reached the step ends
`not_run` after pip-audit has tried every dependency, which is what it costs there.
"""

from __future__ import annotations

import argparse
import resource
import statistics
import subprocess
import tarfile
import tempfile
import time
from io import BytesIO
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
RELEASECTL = str(ROOT / ".venv" / "bin" / "releasectl")
STEPS = {
    "baseline: secret-scan": ["secrets", "scan", "--baseline", "config/secrets.baseline"],
    "sast (bandit)": ["security", "sast"],
    "dependencies (pip-audit)": ["security", "deps"],
    "sbom (cyclonedx-py)": ["security", "sbom"],
}


def workspace() -> Path:
    """HEAD as `git archive` exports it (what the CI build checks out), with the venv."""
    tmp = Path(tempfile.mkdtemp(prefix="ci-scans-"))
    archive = subprocess.run(["git", "archive", "HEAD"], cwd=ROOT, capture_output=True, check=True)
    with tarfile.open(fileobj=BytesIO(archive.stdout)) as tar:
        tar.extractall(tmp, filter="data")
    (tmp / ".venv").symlink_to(ROOT / ".venv")
    return tmp


def timed(args: list[str], cwd: Path) -> tuple[float, float, str]:
    """(wall s, CPU s of the child, last line) of one run."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    done = subprocess.run([RELEASECTL, *args], cwd=cwd, capture_output=True, text=True)
    wall = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    last = (done.stdout.strip().splitlines() or ["?"])[0][:70]
    return wall, cpu, last


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3)
    runs = parser.parse_args().runs
    cwd = workspace()
    samples: dict[str, list[tuple[float, float, str]]] = {name: [] for name in STEPS}
    for _ in range(runs):
        for name, args in STEPS.items():
            samples[name].append(timed(args, cwd))
    base = statistics.median(w for w, _, _ in samples["baseline: secret-scan"])
    print(f"{runs} runs each, alternating, medians; workspace {cwd}\n")
    print(f"{'step':28} {'wall s':>7} {'CPU s':>6} {'x secret-scan':>14}  result")
    for name, got in samples.items():
        wall = statistics.median(w for w, _, _ in got)
        cpu = statistics.median(c for _, c, _ in got)
        print(f"{name:28} {wall:7.1f} {cpu:6.1f} {wall / base:14.2f}  {got[-1][2]}")
    added = sum(
        statistics.median(w for w, _, _ in got)
        for name, got in samples.items()
        if not name.startswith("baseline")
    )
    print(f"\nrun one after another, the three scans add {added:.1f} s; Cloud Build runs them")
    print("in parallel with the other steps after `install` (waitFor), so the build grows by")
    print("the slowest step that outlasts the unit tests, not by the sum")


if __name__ == "__main__":
    main()
