"""What the trial runtime holds before any prediction, so that a host budget below it is refused
before the first trial instead of killing every trial at start-up.

A trial process imports TensorFlow, Keras and the worker before it builds anything; on this
machine (TF 2.21, Keras 3.15, CPU) that alone is about 620 MiB resident. A budget under it
ends every trial as ``over_budget`` with no hint why. The figure is measured once per machine
and runtime (host, interpreter, TensorFlow, Keras, backend) in a bare process that imports what
a trial imports and nothing more, and cached next to the demo assets in the user cache folder:
the first check costs one TensorFlow import (seconds), later ones a small file read.
"""

from __future__ import annotations

import hashlib
import json
import os
import socket
import subprocess
import sys
from collections.abc import Iterable
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from workbench.atomic import atomic_write_text
from workbench.config import DEFAULT_BACKEND
from workbench.demo_assets import cache_dir
from workbench.engine.launcher import worker_env
from workbench.errors import ConfigError

MIB = 2**20
MEASURE_TIMEOUT_S = 300.0
CACHE_FILE = "runtime-baseline.json"
# What a trial process has loaded before its model: the same imports, then its resident size.
PROBE = ("import keras, tensorflow, psutil\n"
         "import workbench.trial.worker\n"
         "print(psutil.Process().memory_info().rss)\n")


def probe_code(backend: str = DEFAULT_BACKEND) -> str:
    """The probe for ``backend``: Keras on it, TensorFlow only for the tensorflow backend."""
    return PROBE if backend == "tensorflow" else PROBE.replace("import keras, tensorflow, psutil", "import keras, psutil")


def cache_path() -> Path:
    """The cache file, beside the demo assets' folder in the user cache."""
    return cache_dir().parent / CACHE_FILE


def runtime_key(python: str = sys.executable, backend: str | None = None) -> dict[str, Any]:
    """What the baseline depends on; a change in any of these measures it again."""
    from workbench.results import _version

    return {"hostname": socket.gethostname(), "python": python, "python_version": sys.version.split()[0],
            "tensorflow": _version("tensorflow", "tensorflow-cpu", "tf-nightly"), "keras": _version("keras"),
            "backend": backend or os.environ.get("KERAS_BACKEND", "tensorflow"),
            **({backend: _version(backend)} if backend in ("jax", "torch") else {})}


def _key_id(key: dict[str, Any]) -> str:
    return hashlib.sha256(json.dumps(key, sort_keys=True).encode()).hexdigest()[:16]


def _read_cache() -> dict[str, Any]:
    try:
        data = json.loads(cache_path().read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}  # missing or damaged: measured again
    return data if isinstance(data, dict) else {}


def cached_baseline(key: dict[str, Any] | None = None) -> int | None:
    """The cached baseline in bytes for this runtime, or None when none was measured."""
    entry = _read_cache().get(_key_id(key or runtime_key()))
    value = entry.get("rss_bytes") if isinstance(entry, dict) else None
    return value if isinstance(value, int) and not isinstance(value, bool) and value > 0 else None


def store_baseline(rss_bytes: int, key: dict[str, Any] | None = None) -> None:
    """Record a measured baseline (written atomically: readers never see half a file)."""
    key = key or runtime_key()
    data = _read_cache()
    data[_key_id(key)] = {"rss_bytes": int(rss_bytes), "runtime": key,
                          "measured_at": datetime.now(timezone.utc).isoformat(timespec="seconds")}
    atomic_write_text(cache_path(), json.dumps(data, indent=1) + "\n")


def measure_baseline(python: str = sys.executable, backend: str = DEFAULT_BACKEND) -> int | None:
    """Resident bytes of a bare trial process (imports done, no model), or None when it could
    not be measured (then nothing is refused: the trials will say what is wrong)."""
    try:
        proc = subprocess.run([python, "-c", probe_code(backend)], capture_output=True, text=True,
                              env=worker_env(backend),
                              stdin=subprocess.DEVNULL, timeout=MEASURE_TIMEOUT_S, check=False)
        value = int(proc.stdout.strip().splitlines()[-1]) if proc.returncode == 0 else None
    except (OSError, subprocess.SubprocessError, ValueError, IndexError):
        return None
    return value if value and value > 0 else None


def runtime_baseline_bytes(python: str = sys.executable, backend: str = DEFAULT_BACKEND) -> int | None:
    """The runtime's own resident memory before any prediction: cached, else measured once."""
    key = runtime_key(python, backend)
    cached = cached_baseline(key)
    if cached is not None:
        return cached
    measured = measure_baseline(python, backend)
    if measured is not None:
        try:
            store_baseline(measured, key)
        except OSError:
            pass  # a read-only cache costs a measurement next time, nothing more
    return measured


def check_host_budget(host_bytes: int | None, python: str = sys.executable,
                      backends: Iterable[str] = (DEFAULT_BACKEND,)) -> None:
    """Refuse a host budget the runtime of any of ``backends`` exceeds before it predicts anything."""
    if not host_bytes:
        return
    for backend in backends:
        need = runtime_baseline_bytes(python, backend)
        if need is not None and host_bytes < need:
            loaded = "TensorFlow and Keras" if backend == "tensorflow" else f"Keras on {backend}"
            raise ConfigError(
                f"host budget {host_bytes / MIB:.0f} MiB is below the {need / MIB:.0f} MiB the runtime needs before "
                f"predicting ({loaded} loaded, no model yet); raise it: the model and its batches need more on top"
            )
