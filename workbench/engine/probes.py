"""Run a trial-side probe (``python -m workbench.trial.probes.NAME SPEC.json RESULT.json``) in a
process of its own, from a side that never imports TensorFlow (a notebook kernel, a test).

A probe measures one thing a sweep's trials do not (what ``load_model`` does to a dtype policy,
the memory a model's weights take under each policy) in a fresh process, so its memory figures
start from a clean heap and a crash ends the probe only. The spec goes in as a JSON file, the
figures come back as one (never pickle); a failure is a :class:`WorkbenchError` with the end of
the probe's output. Several probes can run side by side: memory figures are per process, so
they do not disturb one another (timings would: time nothing in probes run in parallel).
"""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from workbench.config import DEFAULT_BACKEND
from workbench.engine.launcher import SpawnedProcess, wait_or_kill, worker_env
from workbench.errors import WorkbenchError

PROBE_TIMEOUT_S = 300.0
PROBE_PACKAGE = "workbench.trial.probes."


def run_probe(name: str, spec: dict[str, Any], *, python: str = sys.executable, timeout_s: float = PROBE_TIMEOUT_S,
              cancel: threading.Event | None = None, backend: str = DEFAULT_BACKEND) -> dict[str, Any]:
    """Run probe ``name`` (a module under ``workbench.trial.probes``) on ``spec``; its figures.

    Raises :class:`WorkbenchError` when it fails, runs past ``timeout_s`` or is cancelled.
    """
    if not name.isidentifier():
        raise WorkbenchError(f"probe name {name!r} is not a module name")
    with tempfile.TemporaryDirectory(prefix="workbench-probe-") as tmp:
        folder = Path(tmp)
        spec_path, result_path, log_path = folder / "spec.json", folder / "result.json", folder / "log.txt"
        spec_path.write_text(json.dumps(spec), encoding="utf-8")
        with log_path.open("wb") as log:
            proc = SpawnedProcess(subprocess.Popen(
                [python, "-m", PROBE_PACKAGE + name, str(spec_path), str(result_path)],
                stdin=subprocess.DEVNULL, stdout=log, stderr=log, env=worker_env(backend), start_new_session=True,
            ))
        deadline = time.monotonic() + timeout_s

        def stop() -> str | None:
            if cancel is not None and cancel.is_set():
                return "cancelled"
            return f"ran past {timeout_s:g} s" if time.monotonic() > deadline else None

        code, why = wait_or_kill(proc, 0.2, stop)
        if why is None and code == 0 and result_path.exists():
            figures = json.loads(result_path.read_text(encoding="utf-8"))
            if isinstance(figures, dict):
                return figures
        tail = log_path.read_text(encoding="utf-8", errors="replace").strip()[-2000:]
        raise WorkbenchError(f"probe {name} ({spec.get('part', '')}) {why or f'failed (exit code {code})'}:\n{tail}")


def run_probes(name: str, specs: Sequence[dict[str, Any]], *, parallel: int = 2,
               **options: Any) -> list[dict[str, Any]]:
    """Run probe ``name`` once per spec, at most ``parallel`` at a time; the figures in spec order."""
    with ThreadPoolExecutor(max_workers=max(1, parallel)) as pool:
        return list(pool.map(lambda spec: run_probe(name, spec, **options), specs))
