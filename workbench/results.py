"""Trial results: the value object, the append-only store, and loading into pandas.

File format (``OUT/results.jsonl``), one JSON object a line:

* a header line ``{"record": "header", "schema_version": N, "environment": {...}, ...}``,
  written when the file is created (and again if a later sweep runs on another machine);
* one ``{"record": "trial", ...}`` line per finished trial, flushed and fsynced at once.

A sweep resumes only into a folder written on the same machine (hostname, CPU, GPU, TensorFlow,
Keras); with ``allow_other_machine`` it adds a header of its own and its trials carry its
``machine`` id, so trials measured elsewhere are never reused or mixed up. Lines that cannot be
read are skipped with a warning (:mod:`workbench.records`).

Schema history: 1 (first version); trials gained ``machine`` (older ones take their header's),
then the throughput's spread (``throughput_per_pass_ips``, ``throughput_iqr_ips``,
``throughput_cv``, ``unstable``) and ``repeat`` (older trials: NaN, None and 0).
Then ``backend`` (the Keras backend; older trials ran on ``tensorflow``) and its GPU fields.
"""

from __future__ import annotations

import enum
import json
import math
import os
import platform
import socket
import sys
from dataclasses import asdict, dataclass, field, fields
from datetime import datetime, timezone
from importlib import metadata
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from workbench.errors import WorkbenchError
from workbench.records import (
    RecordError,
    checked_fields,
    machine_differences,
    machine_id,
    read_lines,
    warn_skipped,
)

if TYPE_CHECKING:
    import pandas as pd

    from workbench.config import TrialConfig

SCHEMA_VERSION = 1
RESULTS_FILE = "results.jsonl"


class Status(str, enum.Enum):
    """How a trial ended."""

    OK = "ok"
    OOM = "oom"  # the OS killed it (SIGKILL) or TF raised ResourceExhaustedError
    OVER_BUDGET = "over_budget"  # passed the host budget (or the simulated GPU budget)
    TIMEOUT = "timeout"
    ERROR = "error"

    def __str__(self) -> str:
        return self.value


# The columns users and the rest of the project rely on, in this order.
COLUMNS = [
    "model", "dataset", "backend", "pipeline", "precision", "batch_size", "status",
    "throughput_ips", "throughput_cv", "unstable", "latency_p50_s", "latency_p90_s", "latency_p99_s", "first_batch_s",
    "host_baseline_bytes", "host_peak_bytes", "gpu_peak_bytes", "gpu_device_peak_bytes",
    "drift_max_abs", "top1_agreement", "accuracy", "error",
]

NAN = float("nan")


@dataclass
class TrialResult:
    """What one trial measured. Missing figures are NaN (never 0); units are in the names."""

    key: str
    model: str
    dataset: str
    pipeline: str
    precision: str
    batch_size: int
    status: Status = Status.OK
    backend: str = "tensorflow"  # the Keras backend the trial ran on (KERAS_BACKEND)
    image_height: int | None = None
    image_width: int | None = None
    images: int = 0  # images in the dataset
    throughput_ips: float = NAN  # median of the whole timed passes' throughputs
    throughput_per_pass_ips: list[float] = field(default_factory=list)  # images/s of each whole pass
    throughput_iqr_ips: float = NAN  # interquartile range of the passes (3+ passes)
    throughput_cv: float = NAN  # coefficient of variation of the passes (3+ passes)
    unstable: bool | None = None  # CV above TimingSpec.max_cv after the re-measure (None: < 3 passes)
    remeasured: bool = False  # timed longer than the minimum because the passes were noisy
    timed_passes: int = 0
    repeat: int = 0  # which run of this setting (SweepConfig.repeat, the search's confirmation)
    latency_p50_s: float = NAN
    latency_p90_s: float = NAN
    latency_p99_s: float = NAN
    latency_mean_s: float = NAN
    first_batch_s: float = NAN  # warm-up: time to the first prediction (tracing included)
    load_s: float = NAN  # model and data set-up
    timed_batches: int = 0
    timed_images: int = 0
    timed_s: float = NAN
    host_baseline_bytes: float = NAN  # resident memory after load, before prediction
    host_load_peak_bytes: float = NAN  # high-water mark of the load phase
    host_peak_bytes: float = NAN  # high-water mark over warm-up + the first pass over the data
    host_peak_all_bytes: float = NAN  # ... over warm-up + every timed pass (creeps up with passes)
    host_peak_method: str | None = None  # "vmhwm" (kernel high-water mark) or "sampled"
    host_rss_per_pass_bytes: list[float] = field(default_factory=list)  # VmRSS after each timed pass
    host_creep_bytes_per_pass: float = NAN  # least-squares growth per pass after the first (3+ passes)
    host_creeping: bool | None = None  # grew > 1 % of the peak per pass over 5+ passes (None: fewer)
    # What a pipeline provably keeps for each image of the dataset: the float32 array the
    # in-memory pipelines load, and the model's outputs (the memory model's floor on its N term).
    input_bytes_per_image: float = NAN
    output_bytes_per_image: float = NAN
    gpu_peak_bytes: float = NAN  # TF allocator peak over warm-up + the first pass
    gpu_peak_all_bytes: float = NAN  # ... over warm-up + every timed pass
    gpu_device_peak_bytes: float = NAN  # NVML: memory the device gave this process (incl. CUDA context)
    gpu_reserved_peak_bytes: float = NAN  # PyTorch: peak its caching allocator held (max_memory_reserved)
    gpu_peak_method: str | None = None  # tf_allocator, jax_allocator_since_start (no reset), torch_allocator
    gpu_preallocated: bool | None = None  # the allocator took its pool up front (JAX's default: 75 %)
    gpu_name: str | None = None
    gpu_budget_enforced: bool = False
    host_budget_bytes: float = NAN
    gpu_budget_bytes: float = NAN
    drift_max_abs: float = NAN
    drift_samples: int = 0
    top1_agreement: float = NAN
    accuracy: float = NAN
    skipped_images: int = 0
    skipped_files: list[str] = field(default_factory=list)
    wall_s: float = NAN  # the whole trial process, as the parent saw it
    launcher: str | None = None  # "fork" (from a warm fork server) or "spawn" (a fresh interpreter)
    # Where a trial ran on a Ray cluster (None for this machine): Ray's node id, and that node's
    # host name, CPU model, GPU name and TensorFlow version, so mixed machines are never mixed up.
    node: str | None = None
    node_hostname: str | None = None
    node_cpu: str | None = None
    node_gpu: str | None = None
    node_tf_version: str | None = None
    exit_code: int | None = None
    error: str | None = None
    stderr_tail: str | None = None
    tf_version: str | None = None
    keras_version: str | None = None
    backend_version: str | None = None  # the version of the backend's framework (TF, JAX, PyTorch)
    started_at: str | None = None
    config: dict[str, Any] = field(default_factory=dict)
    machine: str | None = None  # the machine it was measured on (workbench.records.machine_id)

    def __post_init__(self) -> None:
        self.status = Status(self.status)

    @classmethod
    def for_trial(cls, cfg: TrialConfig) -> TrialResult:
        """An empty result naming the trial; the worker fills in what it measures."""
        return cls(
            key=cfg.key(),
            model=cfg.model.label,
            dataset=cfg.data.label,
            pipeline=cfg.pipeline,
            precision=cfg.precision,
            batch_size=cfg.batch_size,
            repeat=cfg.repeat,
            backend=cfg.backend,
            images=cfg.data.count or 0,  # the size asked for; the worker records what it predicted
            host_budget_bytes=float(cfg.budget.host_bytes or NAN),
            gpu_budget_bytes=float(cfg.budget.gpu_bytes or NAN),
            started_at=datetime.now(timezone.utc).isoformat(timespec="seconds"),
            config=cfg.to_dict(),
        )

    @property
    def ok(self) -> bool:
        return self.status is Status.OK

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["status"] = self.status.value
        # JSON has no NaN: missing figures are stored as null and read back as NaN.
        return {k: json_value(v) for k, v in d.items()}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> TrialResult:
        """Read a stored result. A newer writer's extra fields are ignored; a missing field or one
        of the wrong type raises :class:`workbench.records.RecordError` (a ``ValueError``)."""
        try:
            return cls(**checked_fields(cls, data))
        except (TypeError, ValueError) as exc:  # e.g. an unknown status
            raise RecordError(str(exc)) from None


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def _version(*dists: str) -> str | None:
    for dist in dists:
        try:
            return metadata.version(dist)
        except metadata.PackageNotFoundError:
            continue
    return None


def environment() -> dict[str, Any]:
    """Where the numbers come from. Read without importing TensorFlow."""
    import psutil

    from workbench.nvml import nvml_devices

    gpus = nvml_devices()
    return {
        "hostname": socket.gethostname(),
        "platform": platform.platform(),
        "python": sys.version.split()[0],
        "tensorflow": _version("tensorflow", "tensorflow-cpu", "tf-nightly"),
        "keras": _version("keras"),
        "jax": _version("jax"),  # the other Keras backends, where installed (None: not)
        "torch": _version("torch"),
        "numpy": _version("numpy"),
        "cpu_model": _cpu_model(),
        "cpu_count": os.cpu_count(),
        "ram_total_bytes": psutil.virtual_memory().total,
        "gpus": gpus,  # [] without NVML or a GPU
        "gpu_name": gpus[0]["name"] if gpus else None,
        "gpu_driver": gpus[0]["driver"] if gpus else None,
    }


class ResultStore:
    """Append-only, resumable store of one sweep folder's results."""

    def __init__(self, out_dir: str | os.PathLike[str]) -> None:
        self.out_dir = Path(out_dir)
        self.path = self.out_dir / RESULTS_FILE
        self.machine: str | None = None  # this machine's id, once a header was ensured
        self.skipped: list[tuple[int, str]] = []  # (line, reason) of the last read

    def _read(self) -> tuple[list[dict[str, Any]], list[TrialResult]]:
        """(headers, trials) in file order; each trial's ``machine`` filled from the header above
        it when the line has none. Unreadable lines are skipped, each with one warning."""
        lines = read_lines(self.path)
        skipped = list(lines.skipped)
        headers: list[dict[str, Any]] = []
        trials: list[TrialResult] = []
        for lineno, obj in lines.objects:
            if obj["record"] == "header":
                headers.append(obj)
                continue
            try:
                trial = TrialResult.from_dict(obj)
            except RecordError as exc:
                skipped.append((lineno, f"a trial record that cannot be read ({exc})"))
                continue
            if trial.machine is None and headers:
                trial.machine = machine_id(headers[-1].get("environment"))
            trials.append(trial)
        self.skipped = sorted(skipped)
        for lineno, reason in self.skipped:
            warn_skipped(self.path, lineno, reason)
        return headers, trials

    def headers(self) -> list[dict[str, Any]]:
        return self._read()[0]

    def results(self, machine: str | None = None) -> list[TrialResult]:
        """Every readable trial; with ``machine``, only those measured there (or of unknown origin)."""
        trials = self._read()[1]
        return [t for t in trials if machine is None or t.machine in (None, machine)]

    def done_keys(self) -> set[str]:
        return {r.key for r in self.results()}

    def _append(self, record: dict[str, Any]) -> None:
        self.out_dir.mkdir(parents=True, exist_ok=True)
        line = json.dumps(record, allow_nan=False, default=str) + "\n"
        with self.path.open("a+b") as fh:
            if fh.tell() > 0:  # a last line cut short by a kill would swallow this record: end it first
                fh.seek(-1, os.SEEK_END)
                if fh.read(1) != b"\n":
                    line = "\n" + line
            fh.write(line.encode("utf-8"))
            fh.flush()
            os.fsync(fh.fileno())

    def ensure_header(self, sweep: dict[str, Any] | None = None, env: dict[str, Any] | None = None,
                      *, allow_other_machine: bool = False) -> dict[str, Any]:
        """Write a header unless the newest one already describes this machine and sweep.

        Raises :class:`WorkbenchError` when the folder holds trials from another machine (or
        other TensorFlow/Keras versions), unless ``allow_other_machine``: then this machine's
        trials are added beside them, each stamped with its ``machine``, and none is reused.
        """
        env = env if env is not None else environment()
        self.machine = here = machine_id(env)
        headers = self.headers()
        others = [h for h in headers if machine_id(h.get("environment")) != here]
        if others and not allow_other_machine:
            differ = "; ".join(machine_differences(others[-1].get("environment") or {}, env))
            raise WorkbenchError(
                f"results folder {str(self.out_dir)!r} was written on another machine ({differ}): sweep into a "
                "new folder (--out), or pass --allow-other-machine to keep this machine's trials apart beside them"
            )
        if headers and machine_id(headers[-1].get("environment")) == here and headers[-1].get("sweep") == sweep:
            return headers[-1]
        header = {
            "record": "header",
            "schema_version": SCHEMA_VERSION,
            "created_at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
            "machine": here,
            "environment": env,
            "sweep": sweep,
        }
        self._append(header)
        return header

    def append(self, result: TrialResult) -> None:
        """Append one trial, stamped with this machine (flushed and fsynced at once)."""
        if result.machine is None:
            if getattr(self, "machine", None) is None:
                self.machine = machine_id(environment())
            result.machine = self.machine
        record = {"record": "trial", "schema_version": SCHEMA_VERSION, **result.to_dict()}
        self._append(record)


def load_results(out_dir: str | os.PathLike[str]) -> pd.DataFrame:
    """One row per trial (failed trials included), the :data:`COLUMNS` first.

    ``df.attrs["environment"]`` and ``df.attrs["sweep"]`` hold the newest header's records;
    ``df.attrs["machines"]`` maps each ``machine`` id in the folder to its environment, and
    ``df.attrs["skipped_lines"]`` lists the ``(line, reason)`` of lines that could not be read.
    """
    import pandas as pd

    store = ResultStore(out_dir)
    if not store.path.exists():
        raise WorkbenchError(f"no results in {out_dir}: expected {store.path} (run a sweep into it first)")
    headers, trials = store._read()
    rows = [r.to_dict() for r in trials]
    df = pd.DataFrame(rows)
    if df.empty:
        df = pd.DataFrame(columns=[f.name for f in fields(TrialResult)])
    rest = [c for c in df.columns if c not in COLUMNS]
    df = df[COLUMNS + rest]
    numeric = [f.name for f in fields(TrialResult) if f.type in ("float", "int")]
    for col in numeric:
        if col in df.columns:
            df[col] = pd.to_numeric(df[col], errors="coerce")
    df.attrs["machines"] = {machine_id(h.get("environment")): h.get("environment") or {} for h in headers}
    df.attrs["skipped_lines"] = list(store.skipped)
    if headers:
        df.attrs["environment"] = headers[-1].get("environment", {})
        df.attrs["sweep"] = headers[-1].get("sweep")
        df.attrs["schema_version"] = headers[-1].get("schema_version")
    return df


def is_ok(df: pd.DataFrame) -> pd.Series:
    """Which rows of a results table (:func:`load_results`) are trials that finished ``ok``
    (``status`` held as a :class:`Status` or as its text)."""
    return df["status"].astype(str) == Status.OK.value


def ok_trials(df: pd.DataFrame) -> pd.DataFrame:
    """The rows of a results table that finished ``ok``: the trials whose figures describe a
    whole run (a failed trial's peak is at most a lower bound)."""
    return df[is_ok(df)]


def json_value(value: Any) -> Any:
    """``value`` as JSON can hold it: a numpy scalar as the Python number it is, and NaN or an
    infinity (a figure not measured) as None; anything else unchanged. Read back, None becomes
    NaN again (:func:`load_results`)."""
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value
