"""The memory trade-off workbench for Keras/TensorFlow inference.

Measure what batch size, precision and input pipeline cost and save on your own model and
machine: every trial runs in its own process (TensorFlow is never imported here).

``from workbench import Workbench; Workbench()`` shows the notebook panel; it is loaded on
first use, so ``import workbench`` does not import ipywidgets.
"""

from workbench.config import (
    Budget,
    DataSpec,
    ModelSpec,
    SweepConfig,
    TimingSpec,
    TrialConfig,
    format_bytes,
    parse_bytes,
)
from workbench.engine.runner import TrialEvent, run_sweep, run_trial
from workbench.errors import ConfigError, WorkbenchError
from workbench.plan import expand
from workbench.results import COLUMNS, ResultStore, Status, TrialResult, environment, load_results

__version__ = "0.1.0"

__all__ = [
    "COLUMNS",
    "Budget",
    "ConfigError",
    "DataSpec",
    "ModelSpec",
    "ResultStore",
    "Status",
    "SweepConfig",
    "TimingSpec",
    "TrialConfig",
    "TrialEvent",
    "TrialResult",
    "WorkbenchError",
    "environment",
    "expand",
    "format_bytes",
    "load_results",
    "parse_bytes",
    "run_sweep",
    "run_trial",
]


# Loaded on first use: the panel needs ipywidgets (the "notebook" extra), the decision and
# report functions matplotlib/Jinja2; ``import workbench`` stays light.
_LAZY = {
    "Workbench": ("ui", "Workbench"),
    "pareto_frontier": ("analysis", "pareto_frontier"),
    "recommend": ("analysis", "recommend"),
    "fit_memory_model": ("analysis", "fit_memory_model"),
    "max_batch_for_budget": ("analysis", "max_batch_for_budget"),
    "search_batch": ("engine.search", "search_batch"),
    "build_report": ("render.report", "build_report"),
    "write_report": ("render.report", "write_report"),
    "prepare": ("engine.prepare", "prepare"),
    "write_script": ("scriptgen", "write_script"),
}


def __getattr__(name: str) -> object:
    if name in _LAZY:
        import importlib

        module, attr = _LAZY[name]
        return getattr(importlib.import_module(f".{module}", __name__), attr)
    raise AttributeError(f"module 'workbench' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted([*globals(), *_LAZY])
