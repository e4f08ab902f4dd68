"""Get a sweep's inputs ready before its first trial, so no trial pays for (or measures) it.

* Model files are checked without TensorFlow (safe mode: Lambda layers need an opt-in), and so
  are data files (a .npy header, a folder holding images).
* The demo dataset cache and the demo model are built when missing or corrupt. Training
  imports TensorFlow, so it runs in its own process: ``python -m workbench.prepare demo``.

:func:`prepare` is what :func:`workbench.run_sweep` (and a search) calls first; the parent never
imports TensorFlow through it.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

from . import demo_assets
from .config import DataSpec, ModelSpec
from .errors import ConfigError, WorkbenchError
from .launcher import worker_env
from .model_files import check_model_spec

PREPARE_TIMEOUT_S = 900.0


def _needs(model: ModelSpec, data: DataSpec) -> tuple[bool, bool]:
    """(demo data needed, demo model needed)."""
    demo_model = model.kind == "builtin" and model.name.strip().lower() == "demo"
    return data.kind == "demo" or demo_model, demo_model


def check_data_spec(data: DataSpec) -> None:
    """Cheap checks of data on disk before any trial: a .npy header, a folder with images."""
    if data.kind == "npy":
        from .data import NpySource

        NpySource(data.path or "", (8, 8), 3)  # parses the header only: shape, dtype, length
    elif data.kind == "folder":
        from .images import scan

        files, _ = scan(Path(data.path or "").expanduser())
        if not files:
            raise ConfigError(f"image folder {data.path!r} has no .jpg/.jpeg/.png files")


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
        proc = subprocess.Popen(
            [python, "-m", "workbench.prepare", what], stdout=log, stderr=log,
            env=worker_env(), stdin=subprocess.DEVNULL, start_new_session=True,
        )
        deadline = time.monotonic() + PREPARE_TIMEOUT_S
        while True:
            try:
                proc.wait(timeout=0.2)
                break
            except subprocess.TimeoutExpired:
                pass
            if (cancel is not None and cancel.is_set()) or time.monotonic() > deadline:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()
                if cancel is not None and cancel.is_set():
                    return None
                raise WorkbenchError(f"preparing the demo {what} took over {PREPARE_TIMEOUT_S:g} s")
        if proc.returncode != 0:
            log.seek(0)
            tail = log.read().decode("utf-8", "replace").strip()[-2000:]
            raise WorkbenchError(f"preparing the {what} failed (exit code {proc.returncode}):\n{tail}")
    return demo_assets.model_record() if need_model else None


def prepare_trial_inputs(cfg: Any) -> dict[str, Any] | None:
    """:func:`prepare` for anything with ``model`` and ``data`` specs (a sweep or a trial)."""
    return prepare(cfg.model, cfg.data)


def _run(what: str, force: bool) -> dict[str, Any]:
    with demo_assets.locked():
        if force:
            for key in ("data_meta", "model_meta"):
                demo_assets.paths()[key].unlink(missing_ok=True)
    demo_assets.ensure_data()
    report: dict[str, Any] = {"cache": str(demo_assets.cache_dir()), "data_ready": True}
    if what == "demo":
        with demo_assets.locked():
            if not demo_assets.model_ready():
                os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
                import keras

                demo_assets.train_model(keras)
        report["model"] = demo_assets.model_record()
    return report


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m workbench.prepare",
                                     description="Build the demo dataset cache and train the demo model.")
    parser.add_argument("what", choices=["demo", "demo-data"],
                        help="demo: data and model; demo-data: the dataset cache only")
    parser.add_argument("--force", action="store_true", help="rebuild even when the cache is valid")
    args = parser.parse_args(argv)
    print(json.dumps(_run(args.what, args.force), indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
