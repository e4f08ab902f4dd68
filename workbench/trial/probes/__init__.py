"""Measurement probes: host memory (kernel high-water mark), GPU memory (TF allocator, NVML),
timing, creep; and probes that run in a process of their own, like a trial (:data:`PROBES`).

A probe of its own is started through the engine's launcher (:func:`workbench.engine.probe.run_probe`):
the worker sees ``{"probe": NAME, ...}`` instead of a trial's config and hands it to
:func:`run_probe`, which writes the probe's figures (and ``status``) as JSON.
"""

from __future__ import annotations

import json
import traceback
from collections.abc import Callable
from pathlib import Path
from typing import Any

from workbench.atomic import atomic_write_text


def _calls(spec: dict[str, Any]) -> dict[str, Any]:
    from workbench.trial.probes import calls

    return calls.measure(spec)


def _anatomy(spec: dict[str, Any]) -> dict[str, Any]:
    from workbench.trial.probes import anatomy

    return anatomy.measure(spec)


def _policies(spec: dict[str, Any]) -> dict[str, Any]:
    from workbench.trial.probes import policies

    return policies.measure(spec)


# The probes a launcher may start, by name: a fixed table, nothing imported from a name on disk.
PROBES: dict[str, Callable[[dict[str, Any]], dict[str, Any]]] = {"calls": _calls, "anatomy": _anatomy, "policies": _policies}


def run_probe(spec: dict[str, Any], result_path: Path) -> int:
    """Run the probe ``spec["probe"]`` on ``spec`` and write its figures to ``result_path`` with
    ``status`` ``ok``, or ``error`` and the one-line ``error``; the exit code (0 when ok)."""
    name = spec.get("probe")
    probe = PROBES.get(str(name))
    code = 0
    try:
        if probe is None:
            raise ValueError(f"unknown probe {name!r}: choose from {', '.join(PROBES)}")
        result = {**probe(spec), "probe": name, "status": "ok"}
    except Exception as exc:  # a failed probe is reported, like a failed trial
        traceback.print_exc()
        result, code = {"probe": name, "status": "error", "error": f"{type(exc).__name__}: {exc}"}, 1
    atomic_write_text(result_path, json.dumps(result, default=str))
    return code
