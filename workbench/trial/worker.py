"""The trial worker: one fresh process per trial. JSON config in, JSON result out.

Usage (by the runner, or by :func:`workbench.engine.probe.run_probe` with ``{"probe": NAME, ...}``
in CONFIG.json; not by hand)::

    python -m workbench.trial.worker CONFIG.json RESULT.json

This is the only place Keras and its backend are imported (TensorFlow only for the tensorflow
backend: :mod:`workbench.trial.runtime`). The order of the phases matters:

1. environment and GPU options are set before the backend initialises;
2. load: model, data, pipeline (``load_s``; ``host_baseline_bytes`` at its end);
3. warm-up: a few batches, tracing included (``first_batch_s``);
4. timed phase: whole passes until the minimum passes, batches and duration, outputs forced
   to host; each pass is timed on its own and the throughput is the median of the passes, with
   their spread (a noisy trial is re-measured with more passes, then marked unstable); only
   whole passes count, each once. The host and GPU high-water marks are reset before warm-up
   and read after this phase, so ``host_peak_bytes`` / ``gpu_peak_bytes`` cover all prediction,
   with no sampler running; the resident size is read after every pass, for the creep across
   passes (when a pass takes no longer than ``min_duration_s``, at least five run, so small
   data gets a verdict);
5. drift: the same inputs through a float32 copy of the model (only when asked).
"""

from __future__ import annotations

import json
import os
import signal
import sys
import time
import traceback
from pathlib import Path
from typing import Any

import numpy as np

from workbench.atomic import atomic_write_text
from workbench.config import TrialConfig, parse_bytes
from workbench.nvml import NvmlProcessMemory
from workbench.results import Status, TrialResult
from workbench.spread import is_unstable, throughput_stats
from workbench.trial.probes.creep import MIN_PASSES_FOR_FLAG, creep_bytes_per_pass, is_creeping
from workbench.trial.probes.gpu import gpu_oom_status
from workbench.trial.probes.gpu_backends import injected_oom
from workbench.trial.probes.host import HostPeak, current_rss_bytes
from workbench.trial.probes.timing import keep_measuring, latency_stats
from workbench.types import FAULTS, FaultKind


class Faults:
    """Injected failures, for the tests and for teaching what a failure looks like."""

    def __init__(self, fault: str | None, backend: str = "tensorflow") -> None:
        self.backend = backend
        name, _, arg = (fault or "").partition(":")  # TrialConfig checked it: a FAULTS name
        self.kind: FaultKind | None = name if name in FAULTS else None
        self.alloc_bytes = parse_bytes(arg) if self.kind == "alloc" else 0
        self.fired = False

    def in_prediction(self, tf: Any) -> None:
        """Called after a timed batch: fire once."""
        if self.fired or not self.kind:
            return
        self.fired = True
        if self.kind == "hang":
            time.sleep(10**6)
        elif self.kind == "sigkill":
            os.kill(os.getpid(), signal.SIGKILL)
        elif self.kind == "sigsegv":
            os.kill(os.getpid(), signal.SIGSEGV)
        elif self.kind == "exit":
            print("workbench worker: injected exit", file=sys.stderr, flush=True)
            os._exit(3)
        elif self.kind == "raise":
            raise RuntimeError("injected failure")
        elif self.kind == "raise_oom":
            raise injected_oom(self.backend, tf)  # the backend's own out-of-memory error
        elif self.kind == "alloc":
            block = np.ones(self.alloc_bytes, dtype=np.uint8)  # touched, so resident
            del block


def enough_passes(cfg: TrialConfig, batches: int, passes: int, elapsed: float) -> bool:
    """The minimum of the timed phase: ``min_passes``, ``min_batches`` and ``min_duration_s``;
    when a pass takes no longer than ``min_duration_s`` (small data), also not before the creep
    verdict's five passes. (Then :func:`keep_measuring` may add passes to a noisy trial.)"""
    timing = cfg.timing
    if batches < timing.min_batches or elapsed < timing.min_duration_s or passes < timing.min_passes:
        return False
    return passes >= MIN_PASSES_FOR_FLAG or elapsed / passes > timing.min_duration_s


def measure(cfg: TrialConfig, result: TrialResult, scratch: Path | None = None) -> None:
    """Run the phases, filling ``result`` as figures become known (``scratch``: a folder for
    the trial's own files, such as stream_to_disk's outputs)."""
    host = HostPeak()
    result.host_peak_method = host.method
    nvml = NvmlProcessMemory()
    nvml.start()
    t_load = time.perf_counter()

    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    from workbench.trial import runtime

    backend = runtime.start(cfg)  # KERAS_BACKEND before Keras; TensorFlow only for its backend
    keras, tf = backend.keras, backend.tf

    from workbench.trial import drift, models, pipelines, precision
    from workbench.trial.sources import build_source

    result.tf_version = tf.__version__ if tf is not None else None
    result.keras_version, result.backend_version = keras.__version__, backend.version
    gpu = backend.gpu.info()
    result.gpu_name = gpu["gpu_name"]
    result.gpu_budget_enforced = gpu["gpu_budget_enforced"]
    if gpu["gpu_present"]:
        result.gpu_preallocated, result.gpu_peak_method = backend.gpu.preallocated, backend.gpu.method

    precision.apply_policy(keras, cfg.precision)
    model = models.build_model(keras, cfg.model)
    image_size, channels = models.input_size(model)
    result.image_height, result.image_width = image_size
    result.output_bytes_per_image = models.output_bytes_per_image(keras, model)
    source = build_source(cfg.data, image_size, channels)
    result.input_bytes_per_image = float(source.decoded_bytes_per_image)  # the float32 array loaded
    result.images = source.n
    result.skipped_files = list(source.skipped_files)
    result.skipped_images = len(source.skipped_files)
    options: dict[str, Any] = {}
    if cfg.pipeline == "stream_to_disk" and cfg.keep_outputs is not None:
        options = {"outputs_path": Path(cfg.keep_outputs).expanduser(), "keep": True}
    elif cfg.pipeline == "stream_to_disk":
        options = {"outputs_path": scratch / "outputs.npy" if scratch else None, "keep": False}
    pipe = pipelines.build_pipeline(cfg.pipeline, keras, model, source, cfg.batch_size, **options)
    result.load_s = time.perf_counter() - t_load
    result.host_baseline_bytes = current_rss_bytes()
    result.host_load_peak_bytes = host.peak()
    try:
        allocator = backend.gpu  # the backend's own allocator figures (None without a GPU)
        faults = Faults(cfg.fault, cfg.backend)
        host.reset()
        allocator.reset()
        result.first_batch_s = pipe.warmup(cfg.timing.warmup_batches)

        latencies: list[float] = []
        rss_per_pass: list[float] = []
        per_pass_ips: list[float] = []
        images, passes_at_minimum, minimum_s = 0, 0, 0.0
        t0 = time.perf_counter()
        while True:
            t_pass = time.perf_counter()
            lat, n = pipe.run(hook=lambda: faults.in_prediction(tf))
            pass_s = time.perf_counter() - t_pass  # this pass alone: no probe read inside it
            rss_per_pass.append(float(current_rss_bytes()))
            if pass_s > 0:
                per_pass_ips.append(n / pass_s)
            if not images:
                # Fixed work (warm-up + one pass over the data), so peaks compare across timing
                # settings: repeated predict calls creep up (allocator fragmentation), see *_all_*.
                result.host_peak_bytes = host.peak()
                first_gpu = allocator.peak()
                result.gpu_peak_bytes = float(first_gpu) if first_gpu is not None else float("nan")
            latencies.extend(lat)
            images += n
            elapsed = time.perf_counter() - t0
            if not passes_at_minimum:
                if not enough_passes(cfg, len(latencies), len(rss_per_pass), elapsed):
                    continue
                passes_at_minimum, minimum_s = len(rss_per_pass), elapsed
            if not keep_measuring(cfg.timing, per_pass_ips, elapsed, minimum_s):
                break
        result.timed_s = elapsed
        result.timed_batches = len(latencies)
        result.timed_images = images
        result.timed_passes = len(rss_per_pass)
        result.remeasured = len(rss_per_pass) > passes_at_minimum
        result.throughput_per_pass_ips = per_pass_ips
        for name, value in throughput_stats(per_pass_ips).items():
            setattr(result, name, value)
        result.unstable = is_unstable(per_pass_ips, cfg.timing.max_cv)
        for name, value in latency_stats(latencies).items():
            setattr(result, name, value)
        result.host_peak_all_bytes = host.peak()
        result.host_rss_per_pass_bytes = rss_per_pass
        result.host_creep_bytes_per_pass = creep_bytes_per_pass(rss_per_pass)
        result.host_creeping = is_creeping(rss_per_pass, result.host_peak_all_bytes)
        gpu_peak = allocator.peak()
        result.gpu_peak_all_bytes = float(gpu_peak) if gpu_peak is not None else float("nan")
        reserved = allocator.reserved_peak()  # PyTorch's caching allocator: what it held from the device
        result.gpu_reserved_peak_bytes = float(reserved) if reserved is not None else float("nan")
        device_peak = nvml.used_bytes() if gpu["gpu_present"] else None
        result.gpu_device_peak_bytes = float(device_peak) if device_peak is not None else float("nan")
        host.close()

        if cfg.budget.host_bytes and result.host_peak_all_bytes > cfg.budget.host_bytes:
            # The kernel's high-water mark confirms what the parent's sampler may have missed.
            result.status = Status.OVER_BUDGET
            result.error = (
                f"host peak {result.host_peak_all_bytes / 2**20:.0f} MiB passed the budget of "
                f"{cfg.budget.host_bytes / 2**20:.0f} MiB"
            )
            return

        if cfg.timing.drift_samples > 0:
            drift.measure_drift(keras, tf, cfg, model, pipe, source, result)
    finally:
        pipe.close()  # stream_to_disk's output file goes, unless it was asked to be kept


def _die_with_parent() -> None:
    """Ask Linux to kill this process when the sweep that started it dies, so a killed sweep
    leaves no orphaned trial holding memory (no-op elsewhere)."""
    if sys.platform.startswith("linux"):
        try:
            import ctypes

            libc = ctypes.CDLL(None, use_errno=True)
            pr_set_pdeathsig = 1
            libc.prctl(pr_set_pdeathsig, signal.SIGKILL)
        except (OSError, AttributeError):
            pass


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    _die_with_parent()
    if len(argv) != 2:
        print("usage: python -m workbench.trial.worker CONFIG.json RESULT.json", file=sys.stderr)
        return 2
    config_path, result_path = Path(argv[0]), Path(argv[1])
    raw = json.loads(config_path.read_text())
    if isinstance(raw, dict) and "probe" in raw:  # a probe of its own, started like a trial
        from workbench.trial.probes import run_probe

        return run_probe(raw, result_path)
    cfg = TrialConfig.from_dict(raw)
    result = TrialResult.for_trial(cfg)
    code = 0
    try:
        measure(cfg, result, scratch=result_path.parent)
    except MemoryError as exc:
        result.status, result.error = Status.OOM, f"MemoryError: {exc}"
        code = 1
    except Exception as exc:  # a failed trial is data: record it and exit non-zero
        traceback.print_exc()
        out_of_memory = gpu_oom_status(exc, cfg.budget.gpu_bytes, result.gpu_budget_enforced)
        if out_of_memory is not None:  # over_budget under a simulated budget, else oom
            result.status, result.error = Status(out_of_memory[0]), out_of_memory[1]
        else:
            result.status = Status.ERROR
            result.error = f"{type(exc).__name__}: {exc}"
        code = 1
    # the parent sees a whole file or none
    atomic_write_text(result_path, json.dumps(result.to_dict(), allow_nan=False, default=str))
    return code


if __name__ == "__main__":
    sys.exit(main())
