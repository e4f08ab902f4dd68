"""The panel's settings and their defaults, named like the CLI's options.

The defaults are the config dataclasses' field defaults, as the CLI's are (``tests/unit/
test_parity.py`` checks both against the fields); the few the CLI asks for (``--model``,
``--out``) get the panel's own starting values here.
"""

from __future__ import annotations

import math
from dataclasses import fields
from typing import Any

from workbench.config import (
    APPLICATIONS,
    BUILTIN_MODELS,
    Budget,
    DataSpec,
    ModelSpec,
    SweepConfig,
    TimingSpec,
)
from workbench.errors import ConfigError

DEFAULT_MODEL = "demo"  # the CLI requires --model; the panel starts on the trained demo model
DEFAULT_OUT = "runs/workbench"  # the CLI requires --out
DEFAULT_DATA = DataSpec("synthetic")  # synthetic images at DataSpec's own default count
MODEL_FILE = "__file__"  # the model picker's "your model file" entry
MODEL_NAMES = (*sorted(BUILTIN_MODELS, key=lambda n: n != "demo"), *sorted(APPLICATIONS))
# Messages are shown next to these groups of controls ("general" sits under the buttons).
GROUPS = ("model", "image_size", "data", "images", "target_images", "pipelines", "precisions", "backends", "batch_sizes",
          "host_budget", "gpu_budget", "timing", "out", "general")
AUTO_SIZES = "also measure ¼ and ½ of one size"  # the box for SweepConfig.auto_sizes (--no-auto-sizes)
AUTO_SIZES_SKIP = f"untick '{AUTO_SIZES}' to skip"  # how the panel says to opt out of the added sizes


def _field_defaults(cls: type) -> dict[str, Any]:
    return {f.name: f.default for f in fields(cls)}


_MODEL, _BUDGET, _TIMING, _SWEEP = (_field_defaults(c) for c in (ModelSpec, Budget, TimingSpec, SweepConfig))

# Every setting of the panel, by the name of the CLI option it matches, with its default.
DEFAULTS: dict[str, Any] = {
    "model": DEFAULT_MODEL, "image_size": _MODEL["image_size"], "allow_unsafe": _MODEL["allow_unsafe"],
    "data": DEFAULT_DATA, "host_budget": _BUDGET["host_bytes"], "gpu_budget": _BUDGET["gpu_bytes"],
    "timeout": _BUDGET["timeout_s"], "warmup_batches": _TIMING["warmup_batches"],
    "min_batches": _TIMING["min_batches"], "min_duration": _TIMING["min_duration_s"],
    "drift_samples": _TIMING["drift_samples"], "out": DEFAULT_OUT, "batch_sizes": _SWEEP["batch_sizes"],
    "precisions": _SWEEP["precisions"], "pipelines": _SWEEP["pipelines"], "images": _SWEEP["images"],
    "target_images": _SWEEP["target_images"], "auto_sizes": _SWEEP["auto_sizes"], "backends": _SWEEP["backends"],
    "retry_failed": False,  # run_sweep's default: failed trials are kept, not run again
    "executor": "local", "ray_address": None,  # where trials run: this machine, or a Ray cluster
}


def powers_of_two(low: int, high: int) -> tuple[int, ...]:
    """Powers of two from ``low`` to ``high`` inclusive (a ConfigError when there are none)."""
    if low < 1 or high < 1:
        raise ConfigError("batch sizes: the range must start at 1 or more")
    if low > high:
        raise ConfigError(f"batch sizes: the range {low} to {high} is empty; put the smaller number first")
    values = tuple(2**k for k in range(math.ceil(math.log2(low)), math.floor(math.log2(high)) + 1))
    if not values:
        raise ConfigError(f"batch sizes: there is no power of two between {low} and {high}")
    return values
