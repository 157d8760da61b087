"""Headless Chromium for the dashboard's e2e tests: Debian's `chromium` and `chromium-driver`
through selenium, and axe-core (npm) for the accessibility check. `.ci/run` installs them; a
test skips, saying why, only where they cannot be found or installed."""

from __future__ import annotations

import shutil
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

REPO = Path(__file__).resolve().parents[2]
SCREENSHOTS = REPO / ".local" / "screenshots"
AXE_VERSION = "4.14.1"
AXE_DIR = REPO / ".local" / "node"
AXE_JS = AXE_DIR / "node_modules" / "axe-core" / "axe.min.js"


def axe_source() -> str:
    """axe-core's browser bundle, installed from npm into `.local/node` on first use."""
    if not AXE_JS.exists():
        npm = shutil.which("npm")
        if npm is None:
            pytest.skip("npm is not installed: cannot install axe-core for the accessibility check")
        AXE_DIR.mkdir(parents=True, exist_ok=True)
        done = subprocess.run(
            [npm, "install", "--no-save", "--no-audit", "--no-fund", "--prefix", str(AXE_DIR),
             f"axe-core@{AXE_VERSION}"],
            capture_output=True, text=True, timeout=300, check=False,
        )  # fmt: skip
        if done.returncode != 0 or not AXE_JS.exists():
            pytest.skip(f"axe-core could not be installed from npm: {done.stderr[-300:]}")
    return AXE_JS.read_text(encoding="utf-8")


@contextmanager
def chromium() -> Iterator[Any]:
    """A headless Chromium driven by chromedriver, its console log kept."""
    binary, driver_path = shutil.which("chromium"), shutil.which("chromedriver")
    if binary is None or driver_path is None:
        pytest.skip(
            "Debian's chromium and chromium-driver are not installed "
            "(apt-get install -y chromium chromium-driver; .ci/run does it)"
        )
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = binary
    for arg in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                "--window-size=1280,1400", "--hide-scrollbars"):  # fmt: skip
        options.add_argument(arg)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    driver = webdriver.Chrome(options=options, service=Service(executable_path=driver_path))
    driver.set_page_load_timeout(60)
    try:
        yield driver
    finally:
        driver.quit()


def console_errors(driver: Any) -> list[str]:
    return [e["message"] for e in driver.get_log("browser") if e.get("level") == "SEVERE"]


def axe_violations(driver: Any, axe: str) -> list[str]:
    """Serious and critical axe-core violations of the page shown now."""
    driver.execute_script(axe)
    result = driver.execute_async_script(
        "const done = arguments[arguments.length - 1];"
        "axe.run(document).then(r => done(r.violations)).catch(e => done([{id: 'axe-error', "
        "impact: 'critical', help: String(e), nodes: []}]));"
    )
    return [
        f"{v['id']} ({v['impact']}): {v['help']} ({len(v['nodes'])} nodes)"
        for v in result
        if v.get("impact") in ("serious", "critical")
    ]


def screenshot(driver: Any, name: str) -> Path:
    """The whole page (as tall as its content) under `.local/screenshots/`."""
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    height = driver.execute_script("return document.documentElement.scrollHeight")
    driver.set_window_size(1280, max(800, min(int(height) + 40, 4000)))
    path = SCREENSHOTS / f"{name}.png"
    driver.save_screenshot(str(path))
    driver.set_window_size(1280, 1400)
    return path
