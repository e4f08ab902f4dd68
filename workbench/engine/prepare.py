"""Get a sweep's inputs ready before its first trial, so no trial pays for (or measures) it.

* Model files are checked without TensorFlow (safe mode: Lambda layers need an opt-in), and so
  are data files (a .npy header, a folder holding images).
* The demo dataset cache and the demo model are built when missing or corrupt. Training
  imports TensorFlow, so it runs in its own process: ``python -m workbench.engine.prepare demo``.

:func:`prepare` is what :func:`workbench.run_sweep` (and a search) calls first; the parent never
imports TensorFlow through it.
"""

from __future__ import annotations

import subprocess
import sys
import tempfile
import threading
import time
from typing import Any

from workbench import demo_assets
from workbench.config import DataSpec, ModelSpec
from workbench.engine.launcher import SpawnedProcess, wait_or_kill, worker_env
from workbench.engine.preflight import check_data_spec, check_model_spec
from workbench.errors import WorkbenchError

PREPARE_TIMEOUT_S = 900.0


def _needs(model: ModelSpec, data: DataSpec) -> tuple[bool, bool]:
    """(demo data needed, demo model needed)."""
    demo_model = model.kind == "builtin" and model.name.strip().lower() == "demo"
    return data.kind == "demo" or demo_model, demo_model


def prepare(model: ModelSpec, data: DataSpec, *, python: str = sys.executable,
            cancel: threading.Event | None = None) -> dict[str, Any] | None:
    """Check the model file and make sure the demo caches the sweep needs exist.

    Returns the demo model's training record when the sweep uses it (held-out accuracy,
    training seconds), else None. Raises :class:`ConfigError` for a file safe mode would
    refuse and :class:`WorkbenchError` when preparation fails. Setting ``cancel`` stops the
    preparation process (the caches are written atomically, so a stopped run leaves none half-made).
    """
    check_model_spec(model)
    check_data_spec(data)
    need_data, need_model = _needs(model, data)
    if not need_data:
        return None
    if demo_assets.data_ready() and (not need_model or demo_assets.model_ready()):
        return demo_assets.model_record() if need_model else None
    what = "demo" if need_model else "demo-data"
    with tempfile.TemporaryFile() as log:
        proc = SpawnedProcess(subprocess.Popen(
            [python, "-m", "workbench.trial.prepare", what], stdout=log, stderr=log,
            env=worker_env(), stdin=subprocess.DEVNULL, start_new_session=True,
        ))
        deadline = time.monotonic() + PREPARE_TIMEOUT_S

        def stop() -> str | None:
            if cancel is not None and cancel.is_set():
                return "cancel"
            return "timeout" if time.monotonic() > deadline else None

        code, why = wait_or_kill(proc, 0.2, stop)
        if why == "cancel":
            return None
        if why == "timeout":
            raise WorkbenchError(f"preparing the demo {what} took over {PREPARE_TIMEOUT_S:g} s")
        if code != 0:
            log.seek(0)
            tail = log.read().decode("utf-8", "replace").strip()[-2000:]
            raise WorkbenchError(f"preparing the {what} failed (exit code {code}):\n{tail}")
    return demo_assets.model_record() if need_model else None
