"""Run the memory anatomy probe (:mod:`workbench.trial.probes.anatomy`): one fresh process per
part, so that a part is measured alone and what one part freed cannot hide another's rise.

The parent side never imports TensorFlow: each part is a probe started like a trial, in a fresh
interpreter (:func:`workbench.engine.probe.run_probe` with a spawn launcher), bounded by a
timeout, and read back as JSON. :func:`measure_parts` runs the set the anatomy needs: the model at the batch size and at
a quarter of it (the difference is the activations, the rest the traced function), the data
held and the outputs kept, each ``repeat`` times for their spread.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from typing import Any

from workbench.config import ModelSpec
from workbench.engine.launcher import SpawnLauncher
from workbench.engine.probe import run_probe
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
    # A fresh interpreter (not a fork of a warm server): the runtime part is what a new process
    # pays, and the trials the parts are checked against start the same way.
    result = run_probe("anatomy", spec, timeout_s=timeout_s, launcher=SpawnLauncher(python))
    result = {k: v for k, v in result.items() if k not in ("probe", "status")}
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
