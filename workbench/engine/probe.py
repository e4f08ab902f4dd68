"""Run a probe of the trial side in a process of its own, through the engine's launcher.

A trial measures a whole ``predict`` job; a probe measures something narrower that the trial
does not (``calls``: ``predict`` against ``predict_on_batch`` against a compiled
``model(x, training=False)``; ``anatomy``: one part of predict's memory; ``policies``: what a
dtype policy does to weights and activations, and what ``load_model`` does to the policy; the
fixed table :data:`workbench.trial.probes.PROBES`). It starts exactly as a trial
does (a fork of the warm server, or a fresh interpreter), so its memory figures are a fresh
process's and its failure costs only itself. The parent never imports TensorFlow.
"""

from __future__ import annotations

import json
import shutil
import tempfile
import threading
import time
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from workbench.config import DEFAULT_BACKEND
from workbench.engine.launcher import (
    ForkServer,
    ForkServers,
    SpawnLauncher,
    default_launcher,
    wait_or_kill,
)
from workbench.engine.runner import stderr_tail
from workbench.errors import WorkbenchError

POLL_S = 0.1  # the blocking wait between timeout checks


def run_probe(name: str, spec: dict[str, Any], *, timeout_s: float = 600.0,
              launcher: ForkServer | ForkServers | SpawnLauncher | None = None,
              backend: str = DEFAULT_BACKEND, cancel: threading.Event | None = None) -> dict[str, Any]:
    """The figures of probe ``name`` run on ``spec`` (JSON-ready values) in a new process.

    ``launcher``: how the process starts (default: the warm fork server); a probe whose figures
    must be a fresh interpreter's (its memory from a clean heap, the runtime's own cost) passes
    ``SpawnLauncher()``. Raises :class:`WorkbenchError`, one line with the probe's own error or the
    tail of its stderr, when it fails, is killed, is cancelled, or runs past ``timeout_s``.
    """
    workdir = Path(tempfile.mkdtemp(prefix=f"workbench-probe-{name}-"))
    config, result, stderr = workdir / "config.json", workdir / "result.json", workdir / "stderr.txt"
    try:
        config.write_text(json.dumps({**spec, "probe": name}))
        t0 = time.monotonic()
        proc = (launcher or default_launcher()).launch(config, result, stderr, cancel=cancel, backend=backend)
        if proc is None:
            raise WorkbenchError(f"the {name} probe was cancelled before it started")

        def stop() -> str | None:
            if cancel is not None and cancel.is_set():
                return "cancelled"
            return "timeout" if time.monotonic() - t0 > timeout_s else None

        code, why = wait_or_kill(proc, POLL_S, stop)
        if why == "cancelled":
            raise WorkbenchError(f"the {name} probe was cancelled and killed")
        if why is not None:
            raise WorkbenchError(f"the {name} probe gave no result within {timeout_s:g} s and was killed")
        data = json.loads(result.read_text()) if result.exists() else {}
        if data.get("status") != "ok":
            why_failed = data.get("error") or (stderr_tail(stderr, lines=3).replace("\n", " | ") or "no output")
            raise WorkbenchError(f"the {name} probe failed (exit code {code}): {why_failed}")
        return data
    finally:
        shutil.rmtree(workdir, ignore_errors=True)


def run_probes(name: str, specs: Sequence[dict[str, Any]], *, parallel: int = 2,
               **options: Any) -> list[dict[str, Any]]:
    """Run probe ``name`` once per spec, at most ``parallel`` at a time (memory figures are per
    process, so side by side they do not disturb one another; timings would: time nothing in
    probes run in parallel); the figures in spec order. ``options`` go to :func:`run_probe`."""
    with ThreadPoolExecutor(max_workers=max(1, parallel)) as pool:
        return list(pool.map(lambda spec: run_probe(name, spec, **options), specs))
