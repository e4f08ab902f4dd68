"""Shared fixtures: tiny, fast trial settings and an isolated cache for the demo assets."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from workbench.config import DataSpec, ModelSpec, TimingSpec, TrialConfig  # noqa: E402

CHROMIUM = os.environ.get("CHROMIUM", "/usr/bin/chromium")
# Flags that work offline as root (see shared TESTING notes): no sandbox, no background traffic.
CHROMIUM_FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                  "--disable-component-update", "--disable-sync", "--no-first-run",
                  "--disable-dev-shm-usage", "--disable-quic"]

# Fast timing for tests: one warm-up batch, a couple of timed batches, no minimum duration.
FAST = TimingSpec(warmup_batches=1, min_batches=2, min_duration_s=0.0, drift_samples=0)


@pytest.fixture(scope="session", autouse=True)
def _isolated_cache(tmp_path_factory: pytest.TempPathFactory) -> None:
    """Demo assets (trained model, cached arrays) go to one cache per test session, unless the
    caller points WORKBENCH_CACHE somewhere already (CI may keep one between steps)."""
    if "WORKBENCH_CACHE" not in os.environ:
        os.environ["WORKBENCH_CACHE"] = str(tmp_path_factory.mktemp("workbench-cache"))


@pytest.fixture
def tiny_trial():
    """Factory for a tiny-CNN trial on synthetic images (a real model, real TF, in a process)."""

    def make(batch_size: int = 8, count: int = 32, image_size: int = 32, **kw) -> TrialConfig:
        kw.setdefault("timing", FAST)
        return TrialConfig(
            model=ModelSpec("tiny", image_size=image_size),
            data=DataSpec("synthetic", count=count),
            batch_size=batch_size,
            **kw,
        )

    return make


def trial_processes(root_pid: int | None = None) -> list:
    """Live trial processes under ``root_pid`` (default: this process): spawned workers, or
    children forked by the fork server (they keep its command line; the server is no trial)."""
    import psutil

    found = []
    for p in psutil.Process(root_pid).children(recursive=True):
        try:
            if p.status() == psutil.STATUS_ZOMBIE:
                continue
            parent = p.parent()
            forked = parent is not None and "workbench.trial.forkserver" in " ".join(parent.cmdline())
            if forked or "workbench.trial.worker" in " ".join(p.cmdline()):
                found.append(p)
        except psutil.Error:  # it ended while we looked
            pass
    return found


@pytest.fixture(scope="session")
def browser():
    """One headless Debian Chromium for the whole session, driven by Playwright's sync API
    (a second sync_playwright() in the same process would fail). In CI a missing browser is a
    failure, not a skip: `make test` installs it (make browser-deps)."""
    import shutil

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
