"""Debian's Chromium driven by Playwright, and a real JupyterLab on 127.0.0.1.

One headless Chromium serves the whole session (``browser``); the notebook tests also get a
JupyterLab (``lab``) and a fresh page in it (``page``). JupyterLab is started by the test
session itself on a free port, with its settings, workspaces and runtime files in a temporary
folder, serving a temporary copy of ``notebooks/``. Chromium comes from Debian (``make browser-deps``); Playwright's own browser
download does not work offline, so it is pointed at ``/usr/bin/chromium``.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
CHROMIUM = os.environ.get("CHROMIUM", "/usr/bin/chromium")
# Flags that work offline as root (see shared TESTING notes): no sandbox, no background traffic.
CHROMIUM_FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                  "--disable-component-update", "--disable-sync", "--no-first-run",
                  "--disable-dev-shm-usage", "--disable-quic"]
SETTINGS = {
    # Otherwise a news toast covers the page (and it tries the network).
    "@jupyterlab/apputils-extension/notification.jupyterlab-settings": {"fetchNews": "false", "checkForUpdates": False},
    # Otherwise cells scrolled out of view are not in the DOM.
    "@jupyterlab/notebook-extension/tracker.jupyterlab-settings": {"windowingMode": "none"},
}


@pytest.fixture(scope="session")
def browser():
    """One headless Debian Chromium for the whole session, driven by Playwright's sync API
    (a second sync_playwright() in the same process would fail). In CI a missing browser is a
    failure, not a skip: `make test` installs it (make browser-deps)."""
    executable = CHROMIUM if Path(CHROMIUM).exists() else shutil.which("chromium")
    if executable is None:
        if os.environ.get("CI"):
            pytest.fail(f"Chromium is missing at {CHROMIUM}: run `make browser-deps` (CI must run the browser tests)")
        pytest.skip("Chromium is not installed (make browser-deps installs it)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        chromium = pw.chromium.launch(executable_path=executable, headless=True, args=CHROMIUM_FLAGS)
        yield chromium
        chromium.close()


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@dataclass
class Lab:
    """A running JupyterLab: its URL, the folder it serves, its process and log."""

    url: str
    root: Path
    process: subprocess.Popen
    log: Path

    def api(self, method: str, path: str) -> object:
        req = urllib.request.Request(f"{self.url}{path}", method=method)
        with urllib.request.urlopen(req, timeout=10) as resp:
            body = resp.read()
        return json.loads(body) if body else None

    def notebook(self, name: str) -> str:
        """A fresh copy of the quickstart under ``name``: each test gets its own document."""
        shutil.copy(ROOT / "notebooks" / "01_quickstart.ipynb", self.root / name)
        return name

    def log_tail(self, chars: int = 4000) -> str:
        return self.log.read_text(errors="replace")[-chars:] if self.log.exists() else ""


@pytest.fixture(scope="session")
def lab(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Lab]:
    base = tmp_path_factory.mktemp("jupyterlab")
    root, settings = base / "root", base / "settings"
    root.mkdir()
    for name, values in SETTINGS.items():
        path = settings / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(values))
    env = {
        **os.environ,
        "JUPYTER_CONFIG_DIR": str(base / "config"),
        "JUPYTER_RUNTIME_DIR": str(base / "runtime"),
        "JUPYTERLAB_SETTINGS_DIR": str(settings),
        "JUPYTERLAB_WORKSPACES_DIR": str(base / "workspaces"),
        "JUPYTER_PREFER_ENV_PATH": "1",  # this venv's kernel
        "PYTHONPATH": os.pathsep.join(p for p in (str(ROOT), os.environ.get("PYTHONPATH")) if p),
    }
    port = _free_port()
    log = base / "jupyterlab.log"
    cmd = [sys.executable, "-m", "jupyterlab", "--no-browser", "--ip=127.0.0.1", f"--port={port}",
           "--IdentityProvider.token=", "--ServerApp.password=", "--ServerApp.allow_root=True",
           "--ServerApp.disable_check_xsrf=True", "--ServerApp.port_retries=0", f"--ServerApp.root_dir={root}",
           "--LabApp.expose_app_in_browser=True"]
    with log.open("wb") as out:
        proc = subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, env=env,
                                cwd=root, start_new_session=True)
    server = Lab(f"http://127.0.0.1:{port}", root, proc, log)
    deadline = time.monotonic() + 60
    while True:
        try:
            server.api("GET", "/api/status")
            break
        except OSError:
            if proc.poll() is not None or time.monotonic() > deadline:
                proc.kill()
                pytest.fail(f"JupyterLab did not start:\n{server.log_tail()}")
            time.sleep(0.25)
    yield server
    proc.terminate()
    try:
        proc.wait(15)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, 9)
        proc.wait()


@pytest.fixture
def page(browser, lab: Lab, request: pytest.FixtureRequest) -> Iterator[object]:
    """A fresh browser page; afterwards every kernel session is shut so the next test starts clean."""
    context = browser.new_context(viewport={"width": 1400, "height": 1000})
    context.set_default_timeout(60_000)
    pg = context.new_page()
    yield pg
    failed = getattr(request.node, "rep_call", None) is not None and request.node.rep_call.failed
    if failed:
        shot = lab.root / f"{request.node.name}.png"
        try:
            pg.screenshot(path=str(shot), full_page=True)
            print(f"screenshot: {shot}\nJupyterLab log:\n{lab.log_tail()}")
        except Exception as exc:  # a dead page must not hide the test's own failure
            print(f"no screenshot: {exc}")
    context.close()
    for session in lab.api("GET", "/api/sessions") or []:
        lab.api("DELETE", f"/api/sessions/{session['id']}")


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo) -> Iterator[None]:
    outcome = yield
    report = outcome.get_result()
    setattr(item, f"rep_{report.when}", report)
