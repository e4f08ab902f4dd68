"""The memory trade-off workbench for Keras/TensorFlow inference.

Measure what batch size, precision and input pipeline cost and save on your own model and
machine: every trial runs in its own process (TensorFlow is never imported here).

``from workbench import Workbench; Workbench()`` shows the notebook panel; it is loaded on
first use, so ``import workbench`` does not import ipywidgets.
"""

from .config import (
    Budget,
    DataSpec,
    ModelSpec,
    SweepConfig,
    TimingSpec,
    TrialConfig,
    format_bytes,
    parse_bytes,
)
from .errors import ConfigError, WorkbenchError
from .plan import expand
from .results import COLUMNS, ResultStore, Status, TrialResult, environment, load_results
from .runner import TrialEvent, run_sweep, run_trial

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


def __getattr__(name: str) -> object:
    # The panel needs ipywidgets (the "notebook" extra): import it only when asked for.
    if name == "Workbench":
        from .ui import Workbench

        return Workbench
    raise AttributeError(f"module 'workbench' has no attribute {name!r}")
