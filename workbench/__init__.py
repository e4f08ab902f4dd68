"""The memory trade-off workbench for Keras/TensorFlow inference.

Measure what batch size, precision and input pipeline cost and save on your own model and
machine: every trial runs in its own process (TensorFlow is never imported here).

``from workbench import Workbench; Workbench()`` shows the notebook panel; it is loaded on
first use, so ``import workbench`` does not import ipywidgets.
"""

from importlib import metadata
from typing import TYPE_CHECKING

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

if TYPE_CHECKING:  # the lazily loaded names below, declared for type checkers and editors
    from workbench.analysis import (
        Recommendation,
        aggregate_repeats,
        budget_peak,
        describe_terms,
        fit_memory_model,
        max_batch_at,
        max_batch_for_budget,
        memory_residuals,
        pareto_frontier,
        predict_peak,
        recommend,
        speed_verdict,
    )
    from workbench.engine.prepare import prepare
    from workbench.engine.scriptgen import write_script
    from workbench.engine.search import SearchResult, search_batch
    from workbench.render.report import build_report, write_report
    from workbench.ui import Workbench

try:
    __version__ = metadata.version("tf-memory-workbench")
except metadata.PackageNotFoundError:  # running from a source tree that was never installed
    __version__ = "0+unknown"

__all__ = [
    "COLUMNS",
    "Budget",
    "ConfigError",
    "DataSpec",
    "ModelSpec",
    "Recommendation",
    "ResultStore",
    "SearchResult",
    "Status",
    "SweepConfig",
    "TimingSpec",
    "TrialConfig",
    "TrialEvent",
    "TrialResult",
    "Workbench",
    "WorkbenchError",
    "aggregate_repeats",
    "budget_peak",
    "build_report",
    "describe_terms",
    "environment",
    "expand",
    "fit_memory_model",
    "format_bytes",
    "load_results",
    "max_batch_at",
    "max_batch_for_budget",
    "memory_residuals",
    "pareto_frontier",
    "parse_bytes",
    "predict_peak",
    "prepare",
    "recommend",
    "run_sweep",
    "run_trial",
    "search_batch",
    "speed_verdict",
    "write_report",
    "write_script",
]


# Loaded on first use: the panel needs ipywidgets (the "notebook" extra), the decision and
# report functions matplotlib/Jinja2; ``import workbench`` stays light.
_LAZY = {
    "Workbench": ("ui", "Workbench"),
    "Recommendation": ("analysis", "Recommendation"),
    "SearchResult": ("engine.search", "SearchResult"),
    "pareto_frontier": ("analysis", "pareto_frontier"),
    "recommend": ("analysis", "recommend"),
    "fit_memory_model": ("analysis", "fit_memory_model"),
    "max_batch_for_budget": ("analysis", "max_batch_for_budget"),
    "max_batch_at": ("analysis", "max_batch_at"),
    "predict_peak": ("analysis", "predict_peak"),
    "budget_peak": ("analysis", "budget_peak"),
    "speed_verdict": ("analysis", "speed_verdict"),
    "aggregate_repeats": ("analysis", "aggregate_repeats"),
    "describe_terms": ("analysis", "describe_terms"),
    "memory_residuals": ("analysis", "memory_residuals"),
    "search_batch": ("engine.search", "search_batch"),
    "build_report": ("render.report", "build_report"),
    "write_report": ("render.report", "write_report"),
    "prepare": ("engine.prepare", "prepare"),
    "write_script": ("engine.scriptgen", "write_script"),
}


def __getattr__(name: str) -> object:
    if name in _LAZY:
        import importlib

        module, attr = _LAZY[name]
        return getattr(importlib.import_module(f".{module}", __name__), attr)
    raise AttributeError(f"module 'workbench' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted({*globals(), *_LAZY})
