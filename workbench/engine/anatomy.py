"""Run the memory anatomy probe (:mod:`workbench.trial.probes.anatomy`): one fresh process per
part, so that a part is measured alone and what one part freed cannot hide another's rise.

The parent side never imports TensorFlow: each probe is ``python -m
workbench.trial.probes.anatomy SPEC.json RESULT.json`` started with the trial workers'
environment (:func:`workbench.engine.launcher.worker_env`), bounded by a timeout, and read back
as JSON. :func:`measure_parts` runs the set the anatomy needs: the model at the batch size and at
a quarter of it (the difference is the activations, the rest the traced function), the data
held and the outputs kept, each ``repeat`` times for their spread.
"""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

from workbench.config import ModelSpec
from workbench.engine.launcher import worker_env
from workbench.errors import WorkbenchError

PROBE_TIMEOUT_S = 300.0
PARTS = ("model", "data", "outputs")


def measure_part(part: str, model: ModelSpec, *, images: int, batch_size: int, outputs: int = 1000,
                 image_size: tuple[int, int] | None = None, python: str = sys.executable,
                 timeout_s: float = PROBE_TIMEOUT_S) -> dict[str, Any]:
    """Measure one part (``model``, ``data`` or ``outputs``) in a fresh process; its figures as a
    dict (bytes). ``image_size`` defaults to the model spec's. A probe that fails or times out is
    a :class:`WorkbenchError` naming the part and the last line it wrote."""
    if part not in PARTS:
        raise WorkbenchError(f"unknown anatomy part {part!r}: choose from {', '.join(PARTS)}")
    if images < 1 or batch_size < 1:
        raise WorkbenchError(f"the anatomy needs at least one image and a batch of one (got {images}, {batch_size})")
    size = image_size or model.image_size
    spec = {"part": part, "model": model.name, "image_size": list(size) if size else None,
            "images": int(images), "batch_size": int(batch_size), "outputs": int(outputs)}
    if part == "data" and not size:
        raise WorkbenchError("the data part needs an image size: give ModelSpec(..., image_size=...)")
    with tempfile.TemporaryDirectory(prefix="workbench-anatomy-") as folder:
        spec_path, result_path = Path(folder, "spec.json"), Path(folder, "result.json")
        spec_path.write_text(json.dumps(spec), encoding="utf-8")
        try:
            proc = subprocess.run([python, "-m", "workbench.trial.probes.anatomy", str(spec_path), str(result_path)],
                                  capture_output=True, text=True, env=worker_env("tensorflow"),
                                  stdin=subprocess.DEVNULL, timeout=timeout_s, check=False)
        except subprocess.TimeoutExpired:
            raise WorkbenchError(f"the anatomy probe ({part}) ran past {timeout_s:.0f} s: use fewer images") from None
        if proc.returncode != 0 or not result_path.exists():
            last = (proc.stderr.strip().splitlines() or ["no output"])[-1][:300]
            raise WorkbenchError(f"the anatomy probe ({part}) failed with exit code {proc.returncode}: {last}")
        result: dict[str, Any] = json.loads(result_path.read_text(encoding="utf-8"))
    return {**spec, **result}


def measure_parts(model: ModelSpec, *, images: int, batch_size: int, outputs: int = 1000, repeat: int = 2,
                  progress: Callable[[str], None] | None = None) -> list[dict[str, Any]]:
    """Every probe the anatomy needs, ``repeat`` times each (one process each): the model at
    ``batch_size`` and at a quarter of it, the data held, the outputs kept. Each dict gains
    ``run`` (1, 2, ...)."""
    small = max(batch_size // 4, 1)
    if small == batch_size:
        raise WorkbenchError(f"the activations are measured between batch {batch_size} and a quarter of it: "
                             "use a batch size of at least 4")
    plan = [("model", batch_size), ("model", small), ("data", batch_size), ("outputs", batch_size)]
    runs = []
    for run in range(1, repeat + 1):
        for part, batch in plan:
            figures = measure_part(part, model, images=images, batch_size=batch, outputs=outputs)
            runs.append({**figures, "run": run})
            if progress is not None:
                progress(f"run {run}: {part} at batch {batch} measured")
    return runs
